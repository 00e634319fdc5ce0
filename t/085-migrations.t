# Migrations: the ledger of sql/000_migrations.sql records what a database
# has.  bin/invites-migrate applies what is missing, in order, once, under
# an advisory lock, and says what it did; psql applying sql/*.sql in order
# leaves the same ledger and schema; a database migrated before the ledger
# existed upgrades; the module serves nothing from a schema older than it
# needs: one log line per connection, and 503 DB_UNAVAILABLE.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Databases;
use Invites::Metrics;

use DBI;
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

plan skip_all => 'needs the private cluster (its postgres superuser)'
    if $ENV{TEST_INVITES_PG_CONNINFO};

my $REPO = "$FindBin::Bin/..";
my $TOOL = "$REPO/bin/invites-migrate";
my @FILES = @MIGRATIONS;
my @NAMES = map { m{([^/]+)\.sql\z} } @FILES;
my $LEDGER = join ' ', map { /^(\d+)/; (0 + $1) . ":$_" } @NAMES;
my ($TOP) = $NAMES[-1] =~ /^(\d+)/;
$TOP += 0;
my $UNAVAILABLE =
    '{"id":"DB_UNAVAILABLE","code":503,"detail":"<any>","status":"<any>"}';

# sql/001_invites.sql and sql/002_api_keys.sql as they were before the
# ledger: what older databases were migrated with
my $OLD_001 = <<'SQL';
CREATE TABLE IF NOT EXISTS invites (
    tenant      text        NOT NULL,
    id          uuid        NOT NULL,
    group_id    text        NOT NULL,
    email       text        NOT NULL,
    code        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),

    CONSTRAINT invites_pkey PRIMARY KEY (tenant, id),
    CONSTRAINT invites_group_email_key UNIQUE (tenant, group_id, email),
    CONSTRAINT invites_code_key UNIQUE (tenant, code)
);

CREATE INDEX IF NOT EXISTS invites_group_created_idx
    ON invites (tenant, group_id, created_at);
CREATE INDEX IF NOT EXISTS invites_email_created_idx
    ON invites (tenant, email, created_at);
SQL

my $OLD_002 = <<'SQL';
CREATE TABLE IF NOT EXISTS invites_api_keys (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      text        NOT NULL,
    label       text        NOT NULL DEFAULT '',
    key_hash    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,

    CONSTRAINT invites_api_keys_hash_key UNIQUE (key_hash),
    CONSTRAINT invites_api_keys_tenant_check
        CHECK (octet_length(tenant) <= 255)
);

CREATE INDEX IF NOT EXISTS invites_api_keys_tenant_idx
    ON invites_api_keys (tenant, id);

CREATE OR REPLACE FUNCTION invites_key_create(tenant text, label text DEFAULT '')
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    key text;
BEGIN
    IF tenant IS NULL OR octet_length(tenant) > 255 THEN
        RAISE EXCEPTION 'a tenant is at most 255 bytes';
    END IF;

    key := 'inv_' || rtrim(translate(encode(uuid_send(gen_random_uuid())
                                            || uuid_send(gen_random_uuid()),
                                            'base64'),
                                     '+/', '-_'), '=');

    INSERT INTO invites_api_keys (tenant, label, key_hash)
    VALUES (tenant, coalesce(label, ''),
            encode(sha256(convert_to(key, 'UTF8')), 'hex'));

    RETURN key;
END
$$;

CREATE OR REPLACE FUNCTION invites_key_revoke(key_id bigint)
RETURNS boolean
LANGUAGE sql
AS $$
    UPDATE invites_api_keys SET revoked_at = now()
     WHERE id = key_id AND revoked_at IS NULL
    RETURNING true;
$$;

CREATE OR REPLACE VIEW invites_keys AS
    SELECT id, tenant, label, created_at, revoked_at
      FROM invites_api_keys;
SQL

my $TMP = tempdir('invites-085-XXXXXX', DIR => '/tmp', CLEANUP => 1);
chmod 0755, $TMP;


# ------------------------------------------------------------------ helpers

# runs a command, stdin from $opts{in}; returns (exit status, stdout, stderr)
sub run_cmd {
    my ($cmd, %opts) = @_;
    my $n = ++$main::runs;
    my ($in, $out, $err) = map { "$TMP/run$n.$_" } qw(in out err);
    open my $fh, '>', $in or die "$in: $!";
    print $fh $opts{in} // '';
    close $fh;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        local %ENV = (%ENV, %{$opts{env} // {}});
        delete $ENV{$_} for grep { !defined $ENV{$_} } keys %ENV;
        open STDIN, '<', $in or die;
        open STDOUT, '>', $out or die;
        open STDERR, '>', $err or die;
        { no warnings 'exec'; exec { $cmd->[0] } @$cmd }
        print STDERR "exec $cmd->[0]: $!\n";
        POSIX::_exit(127);
    }
    return $pid if $opts{background};
    waitpid $pid, 0;
    return collect($n, $?);
}

sub collect {
    my ($n, $rc) = @_;
    my @r = ($rc);
    for my $what (qw(out err)) {
        open my $fh, '<', "$TMP/run$n.$what" or die "$what: $!";
        local $/;
        push @r, scalar(<$fh>) // '';
    }
    return @r;
}

sub migrate {
    my ($db, $tool) = @_;
    return run_cmd([$tool // $TOOL], env => { INVITES_DB => conninfo($db) });
}

sub applied { my $out = shift; return [$out =~ /^invites-migrate: applied (\S+)$/mg] }

sub ledger {
    return sql_in(shift, q{SELECT string_agg(version || ':' || name, ' '
                                             ORDER BY version)
                             FROM invites_migrations});
}

# the schema, as pg_dump prints it; @more: more pg_dump options
sub schema {
    my ($db, @more) = @_;
    my ($rc, $out, $err) = run_cmd(['pg_dump', '-s', @more, '-d', conninfo($db)]);
    die "pg_dump $db failed: $err" if $rc;
    $out =~ s/^\\(?:un)?restrict .*\n//mg;   # a random key per dump
    return $out;
}

sub error_lines {
    my $re = shift;
    return scalar(() = error_log_text() =~ /$re/mg);
}


# ------------------------------------------- the tool on an empty database

ok(-x $TOOL, 'bin/invites-migrate is executable');
is($NAMES[0], '000_migrations', 'the ledger is the first migration');

new_db('m_tool');
my ($rc, $out, $err) = migrate('m_tool');
is($rc, 0, 'on an empty database the tool succeeds') or diag($err);
is_deeply(applied($out), \@NAMES, 'it applies every migration, in order');
is($out, join('', map { "invites-migrate: applied $_\n" } @NAMES),
   'one line per migration, nothing else');
is($err, '', 'and nothing on stderr');
is(ledger('m_tool'), $LEDGER, 'the ledger records each migration');
is(sql_in('m_tool', q{SELECT to_regclass('invites') IS NOT NULL
                         AND to_regclass('invites_api_keys') IS NOT NULL}),
   't', 'the tables are there');

my $rows = sql_in('m_tool', 'SELECT version, name, applied_at FROM '
                            . 'invites_migrations ORDER BY version');
($rc, $out, $err) = migrate('m_tool');
is($rc, 0, 'a second run succeeds');
is_deeply(applied($out), [], 'and applies nothing');
is($out, "invites-migrate: the database is up to date, at version $TOP\n",
   'saying the database is up to date');
is(sql_in('m_tool', 'SELECT version, name, applied_at FROM '
                    . 'invites_migrations ORDER BY version'),
   $rows, 'the ledger is untouched, applied_at included');


# ------------------------------------------------------ psql, as before

new_db('m_psql');
psql_files('m_psql', @FILES);
is(ledger('m_psql'), $LEDGER, 'psql applying sql/*.sql in order records the same');
is(schema('m_psql'), schema('m_tool'), 'and leaves the same schema as the tool');
psql_files('m_psql', @FILES);
is(ledger('m_psql'), $LEDGER, 'psql applying them twice records each once');
($rc, $out) = migrate('m_psql');
is("$rc|$out", "0|invites-migrate: the database is up to date, at version $TOP\n",
   'the tool finds nothing to do after psql');


# ----------------------------------------------- two runs at once

# The test holds the tool's lock, so that both runs wait on it together;
# each migration must still be applied once.
new_db('m_race');
my ($key) = slurp_tool() =~ /^LOCK_KEY=(\d+)$/m;
ok($key, 'the tool names its advisory lock key');

my $dbh = DBI->connect('dbi:Pg:host=127.0.0.1;port=' . pg_port() . ';dbname=m_race',
                       'invites', '', { RaiseError => 1, PrintError => 0,
                                        AutoCommit => 1 });
$dbh->do('SELECT pg_advisory_lock(?::bigint)', undef, $key);

my @race;
for (1 .. 2) {
    my $pid = run_cmd([$TOOL], env => { INVITES_DB => conninfo('m_race') },
                      background => 1);
    push @race, [$pid, $main::runs];
}

my $waiting = 0;
my $deadline = time + slow(60);
while (time < $deadline) {
    ($waiting) = $dbh->selectrow_array(q{
        SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND NOT l.granted
           AND d.datname = 'm_race'});
    last if $waiting >= 2;
    sleep 0.05;
}
is($waiting, 2, 'both runs wait for the advisory lock');
is($dbh->selectrow_array(q{SELECT to_regclass('invites_migrations') IS NULL}),
   1, 'and neither has applied anything before getting it');
$dbh->do('SELECT pg_advisory_unlock(?::bigint)', undef, $key);
$dbh->disconnect;

my (@outs, @all);
for my $r (@race) {
    waitpid $r->[0], 0;
    my ($rc, $out, $err) = collect($r->[1], $?);
    is($rc, 0, 'a concurrent run succeeds') or diag($err);
    like($out, qr/^invites-migrate: another run holds the lock on this database, waiting$/m,
         'and says it waited');
    push @outs, $out;
    push @all, @{applied($out)};
}
is_deeply([sort @all], [sort @NAMES], 'between them, each migration was applied once');
is(scalar(grep { /up to date/ } @outs), 1, 'the later run found it all done');
is(ledger('m_race'), $LEDGER, 'the ledger records each once');


# ------------------------------------- a database from before the ledger

new_db('m_old');
sql_in('m_old', $OLD_001);
sql_in('m_old', $OLD_002);
sql_in('m_old', q{INSERT INTO invites (tenant, id, group_id, email, code)
                  VALUES ('t', '85000000-0000-4000-8000-000000000001', 'old',
                          'old@example.com', '85000001')});
my $old_key = sql_in('m_old', q{SELECT invites_key_create('t', 'old key')});
# its least-privilege role, made with the ledger nowhere
sql_in('m_old', "\\i $REPO/sql/roles/least_privilege.sql", 'postgres');

($rc, $out, $err) = migrate('m_old');
is($rc, 0, 'a pre-ledger database upgrades') or diag($err);
is_deeply(applied($out), \@NAMES,
          'every migration runs again, safely, and records itself');
is(ledger('m_old'), $LEDGER, 'the ledger is complete');
is(schema('m_old', '-x'), schema('m_tool', '-x'),
   'the schema is what a new database gets');
is(sql_in('m_old', q{SELECT group_id || '|' || code FROM invites}),
   'old|85000001', 'the invites are kept');
is(sql_in('m_old', qq{SELECT count(*) FROM invites_api_keys
    WHERE key_hash = encode(sha256(convert_to('$old_key', 'UTF8')), 'hex')
      AND revoked_at IS NULL}), 1, 'and the keys');
is(sql_in('m_old', q{SELECT has_function_privilege('invites_app',
                        'invites_key_create(text, text)', 'EXECUTE')}),
   'f', 'replacing the key functions kept their privileges');
is(sql_in('m_old', q{SELECT has_table_privilege('invites_app',
                        'invites_migrations', 'SELECT')}),
   'f', 'the old role cannot read the ledger yet');
sql_in('m_old', "\\i $REPO/sql/roles/least_privilege.sql", 'postgres');
is(sql_in('m_old', q{SELECT has_column_privilege('invites_app',
                        'invites_migrations', 'version', 'SELECT')}),
   't', 'least_privilege.sql run again lets it read the versions');
($rc, $out) = migrate('m_old');
like($out, qr/up to date/, 'and a second run finds nothing to do');


# --------------------------------------- failure, and the installed layout

# bin/ and sql/ side by side elsewhere, as the Debian package installs them,
# with a third migration that fails half way
my $pkg = "$TMP/share/libnginx-mod-http-invites";
mkdir "$TMP/share";
mkdir $pkg;
mkdir "$pkg/$_" for qw(bin sql);
copy($TOOL, "$pkg/bin/invites-migrate") or die "copy: $!";
chmod 0755, "$pkg/bin/invites-migrate";
copy($_, "$pkg/sql/") or die "copy $_: $!" for @FILES;
my $NEXT = sprintf '%03d', $TOP + 1;
open my $fh, '>', "$pkg/sql/${NEXT}_broken.sql" or die $!;
print $fh "CREATE TABLE invites_broken (x int);\nSELECT 1 / 0;\n"
          . "INSERT INTO invites_migrations (version, name)"
          . " VALUES ($NEXT, '${NEXT}_broken');\n";
close $fh;

new_db('m_fail');
($rc, $out, $err) = migrate('m_fail', "$pkg/bin/invites-migrate");
isnt($rc, 0, 'a failing migration makes the tool fail');
like($err, qr/${NEXT}_broken\.sql:2: ERROR:\s+division by zero/,
     "with psql's error, naming the file and line");
is_deeply(applied($out), \@NAMES, 'the migrations before it were applied');
is(ledger('m_fail'), $LEDGER, 'and recorded, the failed one not');
is(sql_in('m_fail', q{SELECT to_regclass('invites_broken') IS NULL}), 't',
   'the failed migration was rolled back whole');

unlink "$pkg/sql/${NEXT}_broken.sql";
open $fh, '>', "$pkg/sql/${NEXT}_fixed.sql" or die $!;
print $fh "CREATE TABLE IF NOT EXISTS invites_fixed (x int);\n"
          . "INSERT INTO invites_migrations (version, name)"
          . " VALUES ($NEXT, '${NEXT}_fixed') ON CONFLICT (version) DO NOTHING;\n";
close $fh;
symlink "$pkg/bin/invites-migrate", "$TMP/invites-migrate" or die $!;
($rc, $out, $err) = migrate('m_fail', "$TMP/invites-migrate");
is($rc, 0, 'run through a symbolic link, it finds its sql/') or diag($err);
is_deeply(applied($out), ["${NEXT}_fixed"], 'and applies only the new migration');

# a migration that forgets to record itself would run again on every run
my $AFTER = sprintf '%03d', $TOP + 2;
open $fh, '>', "$pkg/sql/${AFTER}_silent.sql" or die $!;
print $fh "CREATE TABLE invites_silent (x int);\n";
close $fh;
($rc, $out, $err) = migrate('m_fail', "$pkg/bin/invites-migrate");
isnt($rc, 0, 'a migration that does not record itself fails');
like($err, qr/${AFTER}_silent\.sql did not record itself in the ledger as version ${\($TOP + 2)}/,
     'saying so');
is(sql_in('m_fail', q{SELECT to_regclass('invites_silent') IS NULL}), 't',
   'and it is rolled back');
unlink "$pkg/sql/${AFTER}_silent.sql";

# two branches that both added a migration with the same number
rename "$pkg/sql/${NEXT}_fixed.sql", "$pkg/sql/${NEXT}_other.sql" or die $!;
my $before = ledger('m_fail');
($rc, $out, $err) = migrate('m_fail', "$pkg/bin/invites-migrate");
isnt($rc, 0, 'a version the ledger holds under another name fails');
like($err, qr/the ledger has another migration as version ${\($TOP + 1)}, not ${NEXT}_other/,
     'saying so');
is(ledger('m_fail'), $before, 'and changes nothing');
rename "$pkg/sql/${NEXT}_other.sql", "$pkg/sql/${NEXT}_fixed.sql" or die $!;

($rc, $out, $err) = migrate('m_fail');
is($rc, 0, 'a tool that knows fewer migrations than the database succeeds');
like($out, qr/up to date, at version ${\($TOP + 1)}$/m, 'finds nothing to do');
like($err, qr/migrations unknown here: ${NEXT}_fixed/, 'and says what it does not know');

($rc, $out, $err) = run_cmd([$TOOL], env => { INVITES_DB => undef });
isnt($rc, 0, 'without INVITES_DB the tool fails');
like($err, qr/INVITES_DB is not set/, 'saying so');

($rc, $out, $err) = migrate('m_nosuch');
isnt($rc, 0, 'a database it cannot reach makes it fail');
like($err, qr/database "m_nosuch" does not exist/, "with psql's error");


# ------------------------------------- the module against an older schema

my $header = do {
    my $h = "$REPO/ngx_http_invites_module/ngx_http_invites_schema.h";
    open my $hf, '<', $h or die "$h: $!";
    local $/;
    <$hf>;
};
my ($NEED) = $header =~ /^#define NGX_HTTP_INVITES_SCHEMA\s+(\d+)/m;
my %by_version = map { /^(\d+)/; (0 + $1 => $_) } @NAMES;
is($by_version{$NEED}, '003_lifecycle', "the module needs 003_lifecycle ($NEED)");
my $BEHIND = $NEED - 1;

# the pool's connection attempts, from its metrics (any nginx build)
sub connects {
    return metric_sum(scrape(), 'nginx_invites_db_connects_total',
                      db => 'db1');
}

my $KEY = 'inv_' . ('A' x 43);

# nginx with one pool (db1) on database $db; returns the answers to $n
# requests, one after another
sub serve_old {
    my ($db, $auth, $n, @headers) = @_;
    start_nginx(<<"CONF", http_config => qq{invites_db "@{[conninfo($db)]}";\n});
    location /invites/Invites/ {
        invites_auth $auth;
        invites_auth_cache_ttl 0;
        invites_api;
    }
    location = /metrics { invites_status; }
CONF
    return map {
        http('POST', '/invites/Invites/List', '{"group_id":"g"}',
             headers => \@headers)
    } 1 .. $n;
}

# requests until one is answered 200 (the pool backs off for a second
# after a failed connection), at most for a generous while
sub until_ok {
    my @headers = @_;
    my $r;
    my $deadline = time + slow(15);
    do {
        $r = http('POST', '/invites/Invites/List', '{"group_id":"g"}',
                  headers => \@headers);
        return $r if $r->{status} == 200;
        sleep 0.1;
    } while (time < $deadline);
    return $r;
}

sub one_line_per_connection {
    my ($re, $what) = @_;
    my $lines = error_lines($re);
    my $connects = connects();
    ok($lines >= 1, "$what: the error log says so");
    is($lines, $connects, "$what: one line per connection ($connects)");
    is(error_lines(qr/cannot prepare|returned no result|\bDB_ERROR\b/), 0,
       "$what: and nothing else about it");
    return $connects;
}

# no ledger at all: version 0
new_db('m_v0');
sql_in('m_v0', $OLD_001);
my @r = serve_old('m_v0', 'off', 3);
is_deeply([map { $_->{status} } @r], [503, 503, 503],
          'a database without the ledger: every request gets 503');
json_is($_->{body}, $UNAVAILABLE, 'DB_UNAVAILABLE') for @r;
my $connects = one_line_per_connection(
    qr/\[error\].*invites: schema version 0, this module needs $NEED: run the migrations, invites database: db1$/m,
    'schema version 0');
ok($connects <= 3, 'the pool opened one connection per request at most');
sleep 2.5;
is(connects(), $connects,
   'and none more while no request came (it does not spin reconnecting)');

($rc, $out, $err) = migrate('m_v0');
is($rc, 0, 'the tool upgrades that database under the running nginx') or diag($err);
my $ok = until_ok();
is($ok->{status}, 200, 'then the module serves it, without a reload');
json_is($ok->{body}, '{"invites":[]}', 'the List answer');
stop_nginx();

# one migration behind: not enough, with or without keys
new_db('m_behind');
psql_files('m_behind', grep { m{/0*[0-$BEHIND]_[^/]+\z} } @FILES);
is(ledger('m_behind'), join(' ', (split / /, $LEDGER)[0 .. $BEHIND]),
   "a database at version $BEHIND");

@r = serve_old('m_behind', 'off', 1);
is($r[0]{status}, 503, 'invites_auth off: 503');
stop_nginx();

@r = serve_old('m_behind', 'key', 3, "Authorization: Bearer $KEY");
is_deeply([map { $_->{status} } @r], [503, 503, 503],
          'invites_auth key: every request gets 503, not 401 nor 500');
json_is($_->{body}, $UNAVAILABLE, 'DB_UNAVAILABLE') for @r;
one_line_per_connection(
    qr/\[error\].*invites: schema version $BEHIND, this module needs $NEED: run the migrations, invites database: db1$/m,
    "schema version $BEHIND");

($rc, $out, $err) = migrate('m_behind');
is_deeply(applied($out), [@NAMES[$BEHIND + 1 .. $#NAMES]],
          'the tool applies only what that database lacks');
my $new_key = sql_in('m_behind', q{SELECT invites_key_create('t', 'after 003')});
$ok = until_ok("Authorization: Bearer $new_key");
is($ok->{status}, 200, 'then a key works, without a reload');
stop_nginx();


done_testing();


sub slurp_tool {
    open my $fh, '<', $TOOL or die "$TOOL: $!";
    local $/;
    return scalar <$fh>;
}
