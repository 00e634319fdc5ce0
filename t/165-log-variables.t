# $invites_endpoint, $invites_tenant, $invites_error, $invites_db_time and
# $invites_invite_id in an access log with escape=json: what each request
# did, one JSON object per line.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use JSON::PP ();
use Time::HiRes qw(sleep time);

plan 'no_plan';
default_group('logvars');

my $HTTP = <<'HTTP';
    invites_db "$TEST_NGINX_PG_CONNINFO";
    log_format invites escape=json '{"uri":"$uri","status":"$status",'
        '"endpoint":"$invites_endpoint","tenant":"$invites_tenant",'
        '"error":"$invites_error","db_time":"$invites_db_time",'
        '"invite_id":"$invites_invite_id"}';
HTTP

my $CONFIG = <<'CONF';
    access_log $TEST_NGINX_SERVROOT/logs/invites.log invites;

    location /invites/Invites/ {
        invites_tenant $http_x_tenant;
        invites_api;
    }

    location /keyed/ {
        invites_auth key;
        invites_api;
    }

    location = /ping { return 200 "pong"; }
CONF

my $LOG = servroot() . '/logs/invites.log';
my $seen = 0;

# the log lines written since the last call, decoded; waits for $n of them
sub new_lines {
    my $n = shift // 1;
    my $deadline = time + slow(5);
    my @lines;
    while (1) {
        open my $fh, '<', $LOG or die "$LOG: $!";
        my @all = <$fh>;
        close $fh;
        @lines = @all[$seen .. $#all];
        last if @lines >= $n || time > $deadline;
        sleep 0.05;
    }
    $seen += @lines;
    return map { JSON::PP::decode_json($_) } @lines;
}

sub call {
    my ($uri, $body, @headers) = @_;
    return http('POST', $uri, $body, headers => \@headers);
}

start_nginx($CONFIG, http_config => $HTTP, workers => 1);

my $r = call("$API/Create", '{"group_id":"g","email":"Ann@Example.com"}',
             'X-Tenant: acme');
is($r->{status}, 200, 'Create: 200');
my $id = $r->{json}{invite}{id};
my $code = $r->{json}{invite}{code};
my ($l) = new_lines();
is($l->{endpoint}, 'create', 'Create: $invites_endpoint is create');
is($l->{tenant}, 'acme', '$invites_tenant is the tenant it ran as');
is($l->{error}, '', '$invites_error is empty on success');
like($l->{db_time}, qr/^\d+\.\d{3}$/,
     '$invites_db_time: seconds with milliseconds');
is($l->{invite_id}, $id, '$invites_invite_id: the id created');

$r = call("$API/Read", qq({"code":"$code"}), 'X-Tenant: acme');
is($r->{status}, 200, 'Read by code: 200');
($l) = new_lines();
is($l->{endpoint}, 'read', 'Read: $invites_endpoint is read');
is($l->{invite_id}, $id, 'Read by code: $invites_invite_id is the invite\'s id');

$r = call("$API/List", '{"group_id":"g"}', 'X-Tenant: acme');
is($r->{status}, 200, 'List: 200');
($l) = new_lines();
is($l->{endpoint}, 'list', 'List: $invites_endpoint is list');
is($l->{invite_id}, '', 'List: no $invites_invite_id');
like($l->{db_time}, qr/^\d+\.\d{3}$/, 'List: a $invites_db_time');

$r = call("$API/Delete", qq({"id":"$id"}), 'X-Tenant: acme');
is($r->{status}, 200, 'Delete: 200');
($l) = new_lines();
is($l->{endpoint}, 'delete', 'Delete: $invites_endpoint is delete');
is($l->{invite_id}, $id, 'Delete: $invites_invite_id is the id deleted');

$r = call("$API/Read", qq({"id":"$id"}), 'X-Tenant: acme');
is($r->{status}, 404, 'Read of the deleted invite: 404');
($l) = new_lines();
is($l->{error}, 'NOT_FOUND', '$invites_error: NOT_FOUND');
is($l->{invite_id}, '', 'no $invites_invite_id when nothing was found');

$r = call("$API/Create", '{"group_id":"g"}', 'X-Tenant: acme');
is($r->{status}, 400, 'Create without email: 400');
($l) = new_lines();
is($l->{error}, 'MISSING_EMAIL', '$invites_error: MISSING_EMAIL');
is($l->{db_time}, '', 'no query, no $invites_db_time');
is($l->{tenant}, 'acme', 'the tenant it would have run as');

$r = call("$API/Nope", '{}');
is($r->{status}, 404, 'no such endpoint: 404');
($l) = new_lines();
is($l->{endpoint}, '', 'no $invites_endpoint for no endpoint');
is($l->{error}, 'NOT_FOUND', 'its $invites_error');
is($l->{tenant}, '', 'no $invites_tenant');

$r = call("$API/Create", qq({"group_id":"g","email":"x\\"\\n\@example.com"}),
          'X-Tenant: a"b\\c');
($l) = new_lines();
is($l->{tenant}, 'a"b\\c', 'a tenant with a quote and a backslash survives '
   . 'escape=json intact');

is(http('GET', '/ping')->{status}, 200, 'a location without invites_api');
($l) = new_lines();
is_deeply([@$l{qw(endpoint tenant error db_time invite_id)}], ['', '', '', '', ''],
          'has all five variables empty');

# with a key: the lookup is one of the request's queries

my $key = psql("SELECT invites_key_create('globex', '')");
$r = call('/keyed/Create', '{"group_id":"g","email":"k@example.com"}',
          "Authorization: Bearer $key");
is($r->{status}, 200, 'Create with an API key: 200');
($l) = new_lines();
is($l->{tenant}, 'globex', '$invites_tenant: the key\'s tenant');

$r = call('/keyed/List', '{"group_id":"g"}',
          'Authorization: Bearer no-such-key');
is($r->{status}, 401, 'an unknown key: 401');
($l) = new_lines();
is($l->{error}, 'UNAUTHORIZED', '$invites_error: UNAUTHORIZED');
like($l->{db_time}, qr/^\d+\.\d{3}$/,
     'the key lookup alone gives a $invites_db_time');
is($l->{tenant}, '', 'and no tenant');

stop_nginx();
