# sql/roles/least_privilege.sql: the module runs as a role that may only
# SELECT, INSERT and DELETE invites, UPDATE the lifecycle columns of an
# invite (code, status, expires_at, accepted_at, revoked_at, metadata), read
# the key lookup's columns of invites_api_keys and the versions of the
# ledger; every endpoint and the key lookup work as that role, and the role
# can do nothing more.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;


plan skip_all => 'needs the private cluster (its postgres superuser)'
    if $ENV{TEST_INVITES_PG_CONNINFO};
plan 'no_plan';
log_level('info');

my $SCRIPT = "$FindBin::Bin/../sql/roles/least_privilege.sql";
my $APP = 'invites_app';

# psql through the harness's cluster over TCP (trust), as any role;
# returns (exit status, stdout, stderr)
sub psql_as {
    my ($user, @args) = @_;
    my $conn = 'host=127.0.0.1 port=' . pg_port() . " dbname=invites user=$user";
    my $err = "/tmp/invites-270-$$.err";
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>', $err or die "$err: $!";
        exec 'psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-d', $conn, @args;
        die "exec psql: $!";
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    my $rc = $?;
    open my $e, '<', $err or die "$err: $!";
    my $stderr = <$e> // '';
    unlink $err;
    $out =~ s/\s+\z//;
    return ($rc, $out, $stderr);
}

sub super_psql {
    my ($rc, $out, $err) = psql_as('postgres', @_);
    die "psql as postgres failed: $err" if $rc;
    return $out;
}

sub app_psql { return psql_as($APP, '-c', shift) }

sub call {
    my ($endpoint, $body, @headers) = @_;
    return http('POST', "/invites/Invites/$endpoint", $body,
                headers => \@headers);
}


# ------------------------------------------------------ the script itself

super_psql('-f', $SCRIPT);
pass('the script runs as the superuser');
# more than it should hold, table-wide and by column: the second run takes
# it away (the checks below)
super_psql('-c', "GRANT UPDATE, TRUNCATE ON invites TO $APP");
super_psql('-c', "GRANT UPDATE (tenant, email) ON invites TO $APP");
super_psql('-f', $SCRIPT);
pass('and runs a second time');

is(super_psql('-c', "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls"
                    . " FROM pg_roles WHERE rolname = '$APP'"),
   'f', "$APP is a plain login role");

my %want = (
    "has_table_privilege('$APP', 'invites', 'SELECT')"            => 't',
    "has_table_privilege('$APP', 'invites', 'INSERT')"            => 't',
    "has_table_privilege('$APP', 'invites', 'DELETE')"            => 't',
    "has_table_privilege('$APP', 'invites', 'UPDATE')"            => 'f',
    (map { ("has_column_privilege('$APP', 'invites', '$_', 'UPDATE')" => 't') }
         qw(code status expires_at accepted_at revoked_at metadata)),
    (map { ("has_column_privilege('$APP', 'invites', '$_', 'UPDATE')" => 'f') }
         qw(tenant id group_id email created_at)),
    "has_table_privilege('$APP', 'invites', 'TRUNCATE')"          => 'f',
    "has_table_privilege('$APP', 'invites_api_keys', 'SELECT')"   => 'f',
    "has_table_privilege('$APP', 'invites_api_keys', 'INSERT')"   => 'f',
    "has_column_privilege('$APP', 'invites_api_keys', 'key_hash', 'SELECT')" => 't',
    "has_column_privilege('$APP', 'invites_api_keys', 'tenant', 'SELECT')" => 't',
    "has_column_privilege('$APP', 'invites_api_keys', 'revoked_at', 'SELECT')" => 't',
    "has_column_privilege('$APP', 'invites_api_keys', 'label', 'SELECT')" => 'f',
    "has_table_privilege('$APP', 'invites_keys', 'SELECT')"       => 'f',
    "has_column_privilege('$APP', 'invites_migrations', 'version', 'SELECT')" => 't',
    "has_table_privilege('$APP', 'invites_migrations', 'INSERT')" => 'f',
    "has_table_privilege('$APP', 'invites_migrations', 'UPDATE')" => 'f',
    "has_table_privilege('$APP', 'invites_migrations', 'DELETE')" => 'f',
    "has_function_privilege('$APP', 'invites_key_create(text, text)', 'EXECUTE')" => 'f',
    "has_function_privilege('$APP', 'invites_key_revoke(bigint)', 'EXECUTE')" => 'f',
    "has_function_privilege('invites', 'invites_key_create(text, text)', 'EXECUTE')" => 't',
);
for my $q (sort keys %want) {
    is(super_psql('-c', "SELECT $q"), $want{$q}, "$q is $want{$q}");
}


# --------------------------------------------- the module, as that role

# the owner role still manages keys
my $key = psql("SELECT invites_key_create('acme', 'least privilege')");
like($key, qr/^inv_[A-Za-z0-9_-]{43}$/, 'the owner makes a key');
my $revoked = psql("SELECT invites_key_create('acme', 'revoked')");
psql("SELECT invites_key_revoke(max(id)) FROM invites_api_keys");

my $conninfo = 'host=127.0.0.1 port=' . pg_port() . " dbname=invites user=$APP";
start_nginx(<<"CONF", http_config => qq{invites_db "$conninfo";\n});
    location /invites/Invites/ {
        invites_auth key;
        invites_auth_cache_ttl 0;
        invites_api;
    }
CONF

my @auth = ("Authorization: Bearer $key");

my $r = call('Create', '{"group_id":"lp","email":"lp@example.com"}', @auth);
is($r->{status}, 200, 'Create works as invites_app') or diag($r->{body});
my $inv = $r->{json} ? $r->{json}{invite} : {};
is($inv->{group_id}, 'lp', 'Create answered the invite');

$r = call('Create', '{"group_id":"lp","email":"lp@example.com"}', @auth);
is($r->{status}, 200, 'a repeated Create (ON CONFLICT, then SELECT) works');
is($r->{json} && $r->{json}{invite}{id}, $inv->{id}, 'and finds the same invite');

$r = call('Read', qq{{"id":"$inv->{id}"}}, @auth);
is($r->{status}, 200, 'Read by id works');
$r = call('Read', qq{{"code":"$inv->{code}"}}, @auth);
is($r->{status}, 200, 'Read by code works');

$r = call('List', '{"group_id":"lp"}', @auth);
is($r->{status}, 200, 'List works');
is(scalar @{$r->{json}{invites} // []}, 1, 'List finds the invite');

$r = call('Delete', qq{{"id":"$inv->{id}"}}, @auth);
is($r->{status}, 200, 'Delete works');
is(psql("SELECT count(*) FROM invites WHERE group_id = 'lp'"), 0,
   'the invite is gone');

$r = call('List', '{"group_id":"lp"}', "Authorization: Bearer $revoked");
is($r->{status}, 401, 'a revoked key is refused (the lookup reads revoked_at)');
$r = call('List', '{"group_id":"lp"}', 'Authorization: Bearer inv_unknown');
is($r->{status}, 401, 'an unknown key is refused');

is(super_psql('-c', "SELECT count(*) FROM pg_stat_activity"
                    . " WHERE usename = '$APP' AND datname = 'invites'"),
   1, "the module's connection is ${APP}'s");

stop_nginx();
my $log = error_log_text();
unlike($log, qr/permission denied/, 'no permission was missing');
my @serious = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log;
is_deeply([grep { !/header already sent/ } @serious], [],
          'no alert, crit or emerg');
is_deeply([grep { /header already sent/ } @serious], [],
          'no response is sent twice');


# ------------------------------------------------ and it can do no more

psql(q{INSERT INTO invites (tenant, id, group_id, email, code)
       VALUES ('acme', gen_random_uuid(), 'kept', 'kept@example.com', '12345678')});

my @denied = (
    ['UPDATE invites (move an invite to another tenant)',
     "UPDATE invites SET tenant = 'other'"],
    ['UPDATE invites (its id)', 'UPDATE invites SET id = gen_random_uuid()'],
    ['UPDATE invites (its group)', "UPDATE invites SET group_id = 'other'"],
    ['UPDATE invites (its email)', "UPDATE invites SET email = 'evil\@example.com'"],
    ['UPDATE invites (its creation time)', 'UPDATE invites SET created_at = now()'],
    ['TRUNCATE invites', 'TRUNCATE invites'],
    ['DROP TABLE invites', 'DROP TABLE invites'],
    ['ALTER TABLE invites', 'ALTER TABLE invites ADD COLUMN x int'],
    ['CREATE TABLE in the schema', 'CREATE TABLE public.mine (x int)'],
    ['CREATE INDEX on invites', 'CREATE INDEX mine ON invites (email)'],
    ['INSERT into invites_api_keys',
     "INSERT INTO invites_api_keys (tenant, key_hash) VALUES ('evil', 'x')"],
    ['UPDATE invites_api_keys (un-revoke a key)',
     'UPDATE invites_api_keys SET revoked_at = NULL'],
    ['DELETE from invites_api_keys', 'DELETE FROM invites_api_keys'],
    ['SELECT * FROM invites_api_keys (labels)', 'SELECT * FROM invites_api_keys'],
    ['SELECT from the invites_keys view', 'SELECT * FROM invites_keys'],
    ['INSERT into the ledger (invites_migrations)',
     "INSERT INTO invites_migrations (version, name) VALUES (99, 'evil')"],
    ['DELETE from the ledger', 'DELETE FROM invites_migrations'],
    ['invites_key_create()', "SELECT invites_key_create('evil')"],
    ['invites_key_revoke()', 'SELECT invites_key_revoke(1)'],
    ['CREATE ROLE', 'CREATE ROLE evil'],
);
for my $d (@denied) {
    my ($what, $sql) = @$d;
    my ($rc, $out, $err) = app_psql($sql);
    ok($rc != 0, "$APP cannot: $what");
    like($err, qr/permission denied|must be owner|must be superuser|not have permission/,
         "$what: refused by privileges") or diag($err);
}

# a GRANT by a non-owner is only a warning, but grants nothing
my ($grc, undef, $gerr) = app_psql('GRANT SELECT ON invites TO PUBLIC');
like($gerr, qr/no privileges were granted/, "$APP cannot GRANT what it holds");
is(super_psql('-c', "SELECT has_table_privilege('public', 'invites', 'SELECT')"),
   'f', 'PUBLIC still cannot read invites');

# what it may do, it may do outside nginx too (a compromised worker could)
my ($rc, $out) = app_psql("SELECT count(*) FROM invites WHERE group_id = 'kept'");
is("$rc:$out", '0:1', "$APP reads invites");
($rc, $out) = app_psql('SELECT count(*) FROM invites_api_keys WHERE revoked_at IS NULL');
is($rc, 0, "$APP may look keys up by their columns");
is(psql("SELECT code FROM invites WHERE group_id = 'kept'"), '12345678',
   'nothing it tried changed the table');
($rc, $out) = app_psql("UPDATE invites SET status = 'revoked', revoked_at = now()"
                       . " WHERE group_id = 'kept'");
is($rc, 0, "$APP may revoke an invite (UPDATE of the lifecycle columns)");
is(psql("SELECT status || '|' || tenant || '|' || email FROM invites"
        . " WHERE group_id = 'kept'"),
   'revoked|acme|kept@example.com', 'and that changes only those columns');
is(psql('SELECT count(*) FROM invites_api_keys'), 2, 'nor the keys');
