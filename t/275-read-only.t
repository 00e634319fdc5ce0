# A database that accepts no writes (default_transaction_read_only, as a
# standby answers with the same SQLSTATE 25006): every write is answered
# 503 DB_READ_ONLY, not 500; reads go on; the error log says it once per
# connection, not once per request; writes work again once it does.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Databases;
use Invites::Metrics;
use Time::HiRes qw(sleep time);

plan skip_all => 'needs the private cluster (its postgres superuser)'
    if $ENV{TEST_INVITES_PG_CONNINFO};
plan 'no_plan';
workers 1;

my $API = '/invites/Invites';
my $READ_ONLY = '{"id":"DB_READ_ONLY","code":503,"detail":"The database accepts no writes now","status":"Service Unavailable"}';

start_nginx(<<'CONF');
    location /invites/Invites/ { invites_api; invites_fields all; }
    location = /metrics { invites_status; }
CONF

sub call { return http('POST', "$API/$_[0]", $_[1]) }

my $kept = call('Create', '{"group_id":"ro","email":"kept@example.com"}')->{json}{invite};
ok($kept->{id}, 'a Create before: 200');

# every session of the cluster, the module's open ones included, from their
# next transaction on
sub read_only {
    my ($on) = @_;
    super_sql($on ? 'ALTER SYSTEM SET default_transaction_read_only = on'
                  : 'ALTER SYSTEM RESET default_transaction_read_only');
    super_sql('SELECT pg_reload_conf()');
    my $deadline = time + slow(5);
    my $want = $on ? 'on' : 'off';
    sleep 0.05 while psql('SHOW default_transaction_read_only') ne $want
                     && time < $deadline;
    sleep 0.2;   # the module's backends read it at their next command
}

read_only(1);

my @writes = (
    [Create => '{"group_id":"ro","email":"new@example.com"}'],
    [Delete => qq({"id":"$kept->{id}"})],
    [Redeem => qq({"code":"$kept->{code}"})],
    [Revoke => qq({"id":"$kept->{id}"})],
);
for my $i (1 .. 3) {
    for my $w (@writes) {
        my $r = call(@$w);
        is($r->{status}, 503, "read-only, round $i: $w->[0] is 503");
        json_is($r->{body}, $READ_ONLY, "read-only, round $i: $w->[0] says DB_READ_ONLY");
    }
    my $r = call('Read', qq({"id":"$kept->{id}"}));
    is($r->{status}, 200, "read-only, round $i: Read goes on, 200");
    is($r->{json}{invite}{status}, 'pending', "read-only, round $i: the invite as it was");
    is(call('List', '{"group_id":"ro"}')->{status}, 200, "read-only, round $i: List goes on");
}

my $log = error_log_text();
my $lines = () = $log =~ /\[warn\].*invites: the database accepts no writes on this connection: ERROR:  cannot execute \w+ in a read-only transaction/g;
my $connects = metric_sum(scrape(), 'nginx_invites_db_connects_total', db => 'db1');
ok($lines >= 1, 'the error log says the database accepts no writes');
cmp_ok($lines, '<=', $connects, "once per connection ($lines lines, $connects connections), not per request (12 writes)");
unlike($log, qr/\[error\].*(?:failed|DB_ERROR)/, 'and nothing at [error] about it');
is(metric_sum(scrape(), 'nginx_invites_db_errors_total', db => 'db1', kind => 'read_only'), 12,
   'the metrics count 12 read-only answers');

read_only(0);
my $r = call('Create', '{"group_id":"ro","email":"after@example.com"}');
is($r->{status}, 200, 'writable again: Create is 200, on the same connections, without a reload');
is(psql(q{SELECT count(*) FROM invites WHERE group_id = 'ro'}), 2,
   'the two Creates that were answered 200 are stored, and only they');

stop_nginx();
