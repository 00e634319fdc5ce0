# ./build.sh key create | list | revoke, against any database named by
# INVITES_DB, and the keys it prints work with "invites_auth key".

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';

my $build = "$FindBin::Bin/../build.sh";

$ENV{INVITES_DB} = pg_conninfo();

sub run_build {
    my $out = `'$build' @_ 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $key) = run_build('key', 'create', 'acme', "'the CI robot'");
is($rc, 0, 'key create succeeds');
chomp $key;
like($key, qr/^inv_[A-Za-z0-9_-]{43}$/, 'and prints the new key, only it');

my ($rc2, $other) = run_build('key', 'create', 'globex');
chomp $other;

my ($rc3, $list) = run_build('key', 'list');
is($rc3, 0, 'key list succeeds');
like($list, qr/\|\s*acme\s*\|\s*the CI robot\s*\|/, 'it shows tenant and label');
like($list, qr/\|\s*globex\s*\|/, 'and every tenant');
unlike($list, qr/\Q$key\E|[0-9a-f]{64}/, 'but never a key nor its hash');

(undef, $list) = run_build('key', 'list', 'globex');
unlike($list, qr/acme/, 'key list TENANT shows that tenant only');

start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_auth key;
        invites_auth_cache_ttl 0;
        invites_api;
    }
CONF

my $r = http('POST', '/invites/Invites/List', '{"group_id":"g"}',
             headers => ["Authorization: Bearer $key"]);
is($r->{status}, 200, 'the printed key authenticates');

my $id = psql("SELECT id FROM invites_keys WHERE tenant = 'acme'");
my ($rc4, $out) = run_build('key', 'revoke', $id);
is($rc4, 0, 'key revoke ID succeeds');
like($out, qr/revoked key $id/, 'and says so');

($rc4, $out) = run_build('key', 'revoke', $id);
isnt($rc4, 0, 'revoking it again fails');
like($out, qr/no active key $id/, 'saying there is no such active key');

($rc4, $out) = run_build('key', 'revoke', q{'1;DROP'});
isnt($rc4, 0, 'a revoke ID that is not a number is refused');

$r = http('POST', '/invites/Invites/List', '{"group_id":"g"}',
          headers => ["Authorization: Bearer $key"]);
is($r->{status}, 401, 'the revoked key is refused');

$r = http('POST', '/invites/Invites/List', '{"group_id":"g"}',
          headers => ["Authorization: Bearer $other"]);
is($r->{status}, 200, 'the other key still works');

my ($rc5, $quoted) = run_build('key', 'create', q{"o'hara; --"});
is($rc5, 0, 'a tenant with quotes is data, not SQL');
is(psql(q{SELECT count(*) FROM invites_keys WHERE tenant = 'o''hara; --'}),
   '1', 'stored as given');
