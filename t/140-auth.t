# invites_auth key: Bearer API keys from the invites_api_keys table decide
# the tenant; bad, unknown and revoked keys get the same 401; tenants never
# see each other; micro-namespace must name the key's tenant; no key is
# ever written to the error log.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Time::HiRes qw(sleep);

plan 'no_plan';
log_level('info');

my $API = '/invites/Invites';

my $UNAUTHORIZED = '{"id":"UNAUTHORIZED","code":401,'
    . '"detail":"A valid API key is required: Authorization: Bearer <key>",'
    . '"status":"Unauthorized"}';

sub key_create {
    my ($tenant, $label) = @_;
    return psql("SELECT invites_key_create('$tenant', '" . ($label // '')
                . "')");
}

sub key_id {
    my $tenant = shift;
    return psql("SELECT max(id) FROM invites_keys WHERE tenant = '$tenant'");
}

sub call {
    my ($endpoint, $body, @headers) = @_;
    return http('POST', "$API/$endpoint", $body, headers => \@headers);
}

sub with_key {
    my ($key, $endpoint, $body, @headers) = @_;
    return call($endpoint, $body, "Authorization: Bearer $key", @headers);
}

sub start {
    my ($ttl) = @_;
    start_nginx(<<"CONF");
    location /invites/Invites/ {
        invites_auth key;
        invites_auth_cache_ttl $ttl;
        invites_tenant \$http_x_tenant;
        invites_api;
    }

    location /open/ {
        invites_tenant \$http_x_tenant;
        invites_api;
    }
CONF
}

my $acme = key_create('acme', 'first');
my $acme2 = key_create('acme', 'second');
my $globex = key_create('globex');

like($acme, qr/^inv_[A-Za-z0-9_-]{43}$/, 'a key is inv_ and 43 base64url characters');
isnt($acme, $acme2, 'two keys differ');
is(psql("SELECT count(*) FROM invites_api_keys WHERE key_hash LIKE '%$acme%'"
        . " OR label LIKE '%$acme%'"), '0', 'the plain key is stored nowhere');
is(psql("SELECT count(*) FROM invites_api_keys WHERE key_hash ="
        . " encode(sha256(convert_to('$acme', 'UTF8')), 'hex')"), '1',
   'its SHA-256 is');

start('30s');

# ---- what is not a valid key gets one and the same 401

my @bad = (
    ['no Authorization header', []],
    ['Basic scheme', ['Authorization: Basic dXNlcjpwYXNz']],
    ['Bearer without a token', ['Authorization: Bearer ']],
    ['Bearer with spaces only', ['Authorization: Bearer    ']],
    ['a token with a space inside', ["Authorization: Bearer $acme x"]],
    ['an unknown key', ['Authorization: Bearer inv_' . ('A' x 43)]],
    ['a key of another format', ['Authorization: Bearer hello']],
);

for my $case (@bad) {
    my ($what, $headers) = @$case;
    my $r = call('Create', '{"group_id":"g","email":"a@b.c"}', @$headers);
    is($r->{status}, 401, "$what: 401");
    is($r->{body}, $UNAUTHORIZED, "$what: the UNAUTHORIZED body");
    is($r->{headers}{'www-authenticate'}, 'Bearer',
       "$what: WWW-Authenticate: Bearer");
}

my $r = with_key($acme, 'Create', '{"group_id":"g","email":"A@b.c"}');
is($r->{status}, 200, 'a valid key: 200');
json_is($r->{body}, '{"invite":{"id":"<uuid>","group_id":"g",'
        . '"email":"a@b.c","code":"<code>"}}', 'a valid key: the invite');

$r = http('POST', "$API/Create", '{"group_id":"g","email":"a@b.c"}',
          headers => ["authorization: bearer $acme"]);
is($r->{status}, 200, 'the scheme is case-insensitive');

$r = call('Create', '{', 'Authorization: Basic x');
is($r->{status}, 401, 'a bad body without a key is 401, not 400');

$r = with_key($acme, 'Create', '{');
is($r->{status}, 400, 'a bad body with a key is 400');

# ---- tenants stay apart

psql('TRUNCATE invites');

my $a = with_key($acme, 'Create', '{"group_id":"team","email":"x@y.z"}');
my $g = with_key($globex, 'Create', '{"group_id":"team","email":"x@y.z"}');
is($a->{status}, 200, 'acme creates');
is($g->{status}, 200, 'globex creates the same group and email');
isnt($a->{json}{invite}{id}, $g->{json}{invite}{id},
     'the same group and email in two tenants are two invites');
is(psql("SELECT string_agg(tenant, ',' ORDER BY tenant) FROM invites"),
   'acme,globex', 'stored under each key\'s tenant');

my ($aid, $acode) = @{$a->{json}{invite}}{qw(id code)};

$r = with_key($globex, 'Read', qq({"id":"$aid"}));
is($r->{status}, 404, 'globex cannot read acme\'s invite by id');
$r = with_key($globex, 'Read', qq({"code":"$acode"}));
is($r->{status}, 404, 'nor by code');
$r = with_key($globex, 'List', '{"group_id":"team"}');
is(scalar @{$r->{json}{invites}}, 1, 'globex lists only its own invite');
is($r->{json}{invites}[0]{id}, $g->{json}{invite}{id}, 'which is globex\'s');
$r = with_key($globex, 'List', '{"email":"x@y.z"}');
is(scalar @{$r->{json}{invites}}, 1, 'by email too');
$r = with_key($globex, 'Delete', qq({"id":"$aid"}));
is($r->{status}, 200, 'globex deleting acme\'s id answers {}');
$r = with_key($acme, 'Read', qq({"id":"$aid"}));
is($r->{status}, 200, 'but acme\'s invite is still there');

$r = with_key($acme2, 'Read', qq({"code":"$acode"}));
is($r->{status}, 200, 'a second key of acme sees acme\'s invites');
is($r->{json}{invite}{id}, $aid, 'the same invite');
$r = with_key($acme2, 'Delete', qq({"id":"$aid"}));
$r = with_key($acme, 'Read', qq({"id":"$aid"}));
is($r->{status}, 404, 'and deletes them for the other key too');

$r = with_key($globex, 'Create', '{"group_id":"t2","email":"p@q.r"}',
              'X-Tenant: acme');
is($r->{status}, 200, 'with a key, invites_tenant is ignored');
is(psql("SELECT tenant FROM invites WHERE group_id = 't2'"), 'globex',
   'the row belongs to the key\'s tenant, not to X-Tenant');

# ---- micro-namespace

$r = with_key($acme, 'List', '{"group_id":"team"}', 'Micro-Namespace: acme');
is($r->{status}, 200, 'micro-namespace equal to the key\'s tenant: 200');

$r = with_key($acme, 'List', '{"group_id":"team"}',
              'micro-namespace: globex');
is($r->{status}, 403, 'another tenant\'s namespace: 403');
json_is($r->{body}, '{"id":"FORBIDDEN","code":403,'
        . '"detail":"The namespace is not the API key\'s tenant",'
        . '"status":"Forbidden"}', 'with the FORBIDDEN body');

# ---- revocation: within the cache TTL, and at once without a cache

stop_nginx();
start('1s');

$r = with_key($acme2, 'List', '{"group_id":"team"}');
is($r->{status}, 200, 'acme\'s second key works (and is cached)');

is(psql('SELECT invites_key_revoke(' . key_id('acme') . ')'), 't',
   'revoke it');
is(psql('SELECT invites_key_revoke(' . key_id('acme') . ')'), '',
   'revoking twice finds no active key');

$r = with_key($acme2, 'List', '{"group_id":"team"}');
is($r->{status}, 200, 'within the TTL the cached key still works');

sleep 1.3;

$r = with_key($acme2, 'List', '{"group_id":"team"}');
is($r->{status}, 401, 'after the TTL the revoked key is refused');
is($r->{body}, $UNAUTHORIZED, 'with the same body as an unknown key');

$r = with_key($acme, 'List', '{"group_id":"team"}');
is($r->{status}, 200, 'the other acme key still works');

stop_nginx();
start('0');

my $temp = key_create('acme', 'temp');
$r = with_key($temp, 'List', '{"group_id":"team"}');
is($r->{status}, 200, 'TTL 0: a new key works');
psql('SELECT invites_key_revoke(' . key_id('acme') . ')');
$r = with_key($temp, 'List', '{"group_id":"team"}');
is($r->{status}, 401, 'TTL 0: refused at once after revocation');
is($r->{body}, $UNAUTHORIZED, 'TTL 0: the same body');

# ---- invites_auth off keeps the invites_tenant behaviour

$r = http('POST', '/open/Create', '{"group_id":"open","email":"o@p.q"}',
          headers => ['X-Tenant: acme']);
is($r->{status}, 200, 'invites_auth off: no key needed');
is(psql("SELECT tenant FROM invites WHERE group_id = 'open'"), 'acme',
   'invites_auth off: the tenant comes from invites_tenant');

# ---- no key in the error log

my $log = error_log_text();
for my $key ($acme, $acme2, $globex, $temp) {
    unlike($log, qr/\Q$key\E/, 'the error log holds no key');
}
like($log, qr/unknown or revoked API key/, 'the log says why a key failed');
