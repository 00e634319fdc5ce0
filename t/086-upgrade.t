# Upgrading to sql/003_lifecycle.sql: invites stored by 001 read back, after
# 003 ran twice, as pending invites that never expire, with their ids, codes
# and creation times; the ledger records 3 once, the status check exists
# once and stores only pending, accepted and revoked, and the page indexes
# replace the created_at ones.  bin/invites-migrate upgrades such a database
# with 003 alone.  Then the module Reads each old invite with its status
# and creation time and no lifecycle field it does not have.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Databases;

use JSON::PP ();

plan skip_all => 'needs the private cluster (its postgres superuser)'
    if $ENV{TEST_INVITES_PG_CONNINFO};

my $REPO = "$FindBin::Bin/..";
my @BEFORE = migrations(0 .. 2);
my ($LIFECYCLE) = migrations(3);

# the old shape: what 001 stored, created_at by its default but for one
# row, whose microseconds pin how the module cuts them to milliseconds
my $OLD_ROWS = <<'SQL';
INSERT INTO invites (tenant, id, group_id, email, code) VALUES
    ('', '86000000-0000-4000-8000-000000000001', 'g1', 'a@example.com', '86000001'),
    ('', '86000000-0000-4000-8000-000000000002', 'g1', 'b@example.com', '86000002'),
    ('', '86000000-0000-4000-8000-000000000003', 'g2', 'a@example.com', '86000003'),
    ('other', '86000000-0000-4000-8000-000000000004', 'g1', 'a@example.com',
     '86000004');
INSERT INTO invites (tenant, id, group_id, email, code, created_at) VALUES
    ('', '86000000-0000-4000-8000-000000000005', 'g3', 'c@example.com', '86000005',
     '2026-12-03 08:26:00.123999+00');
SQL

# every row as "tenant|id|group_id|email|code|created_at in microseconds"
my $ROWS_SQL = q{
SELECT string_agg(concat_ws('|', tenant, id, group_id, email, code,
                            (extract(epoch FROM created_at) * 1000000)::int8),
                  E'\n' ORDER BY id)
  FROM invites};

sub ledger {
    return sql_in(shift, q{SELECT string_agg(version || ':' || name, ' '
                                             ORDER BY version)
                             FROM invites_migrations});
}


# ------------------------------------------------ an old table, upgraded

ok($LIFECYCLE && $LIFECYCLE =~ m{/003_lifecycle\.sql\z}, 'sql/003_lifecycle.sql exists');
is(scalar @BEFORE, 3, 'and 000, 001 and 002 before it');

new_db('u_up');
psql_files('u_up', @BEFORE);
is(ledger('u_up'), '0:000_migrations 1:001_invites 2:002_api_keys',
   'a database at version 2');
sql_in('u_up', $OLD_ROWS);
my $rows = sql_in('u_up', $ROWS_SQL);
is(scalar(split /\n/, $rows), 5, 'holding five invites of the old shape');

ok(eval { psql_files('u_up', $LIFECYCLE); 1 }, '003 upgrades it') or diag($@);
ok(eval { psql_files('u_up', $LIFECYCLE); 1 }, '003 runs a second time')
    or diag($@);

is(sql_in('u_up', $ROWS_SQL), $rows,
   'every invite keeps its tenant, id, group, email, code and created_at');
is(sql_in('u_up', q{SELECT count(*) FROM invites
                     WHERE status = 'pending' AND expires_at IS NULL
                       AND accepted_at IS NULL AND revoked_at IS NULL
                       AND metadata IS NULL}),
   5, 'and reads as pending, never expiring, neither accepted nor revoked, '
      . 'without metadata');

is(ledger('u_up'),
   '0:000_migrations 1:001_invites 2:002_api_keys 3:003_lifecycle',
   'the ledger records 003_lifecycle as version 3');
is(sql_in('u_up', 'SELECT count(*) FROM invites_migrations WHERE version = 3'),
   1, 'once');

is(sql_in('u_up', q{
    SELECT string_agg(concat_ws(' ', column_name, data_type, is_nullable,
                                column_default), ', ' ORDER BY column_name)
      FROM information_schema.columns
     WHERE table_name = 'invites'
       AND column_name IN ('status', 'expires_at', 'accepted_at',
                           'revoked_at', 'metadata')}),
   'accepted_at timestamp with time zone YES, '
   . 'expires_at timestamp with time zone YES, metadata jsonb YES, '
   . 'revoked_at timestamp with time zone YES, '
   . "status text NO 'pending'::text",
   'the new columns: status text NOT NULL DEFAULT pending, the rest nullable');

is(sql_in('u_up', q{
    SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), '; ')
      FROM pg_constraint
     WHERE conrelid = 'invites'::regclass AND contype = 'c'}),
   q{invites_status_check CHECK ((status = ANY (ARRAY['pending'::text, }
   . q{'accepted'::text, 'revoked'::text])))},
   'one check constraint, invites_status_check, though 003 ran twice');

my $bad = eval {
    sql_in('u_up', q{INSERT INTO invites (tenant, id, group_id, email, code, status)
                     VALUES ('', gen_random_uuid(), 'g9', 'x@example.com',
                             '86000009', 'expired')});
    1;
} ? '' : $@;
like($bad, qr/violates check constraint "invites_status_check"/,
     "a status of 'expired' is not stored (the module derives it)");
is(sql_in('u_up', q{INSERT INTO invites (tenant, id, group_id, email, code)
                     VALUES ('', gen_random_uuid(), 'g9', 'y@example.com',
                             '86000010')
                     RETURNING status}),
   'pending', 'an INSERT of the old shape still makes a pending invite');
sql_in('u_up', q{DELETE FROM invites WHERE code = '86000010'});

is(sql_in('u_up', q{
    SELECT string_agg(c.relname, ' ' ORDER BY c.relname)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = 'invites'::regclass}),
   'invites_code_key invites_email_page_idx invites_group_email_key '
   . 'invites_group_page_idx invites_pkey',
   'the created_at indexes are gone, the page indexes there');
is(sql_in('u_up', q{
    SELECT string_agg(pg_get_indexdef(indexrelid::regclass), E'\n'
                      ORDER BY indexrelid::regclass::text)
      FROM pg_index
     WHERE indexrelid::regclass::text IN ('invites_group_page_idx',
                                          'invites_email_page_idx')}),
   "CREATE INDEX invites_email_page_idx ON public.invites USING btree "
   . "(tenant, email, created_at, id)\n"
   . "CREATE INDEX invites_group_page_idx ON public.invites USING btree "
   . "(tenant, group_id, created_at, id)",
   'keyed by tenant, group or email, then (created_at, id)');


# ---------------------------------------- the same upgrade, by the tool

new_db('u_tool');
psql_files('u_tool', @BEFORE);
sql_in('u_tool', $OLD_ROWS);
my $tool = "$REPO/bin/invites-migrate";
my $out = do {
    local $ENV{INVITES_DB} = conninfo('u_tool');
    `"$tool" 2>&1`;
};
is("$?|$out", "0|invites-migrate: applied 003_lifecycle\n",
   'bin/invites-migrate applies 003_lifecycle alone to a database at 2');
$out = do {
    local $ENV{INVITES_DB} = conninfo('u_tool');
    `"$tool" 2>&1`;
};
is($out, "invites-migrate: the database is up to date, at version 3\n",
   'and then finds it up to date, at version 3');
is(sql_in('u_tool', q{SELECT count(*) FROM invites WHERE status = 'pending'}),
   5, 'its invites read as pending too');


# ------------------------------------ the module Reads the old invites

# each invite of the default tenant as the module should answer it:
# created_at in UTC, cut to milliseconds
my @old = map { [split /\|/] } split /\n/, sql_in('u_up', q{
    SELECT string_agg(concat_ws('|', id, group_id, email, code,
                                to_char(created_at AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
                      E'\n' ORDER BY id)
      FROM invites WHERE tenant = ''});
is(scalar @old, 4, 'four old invites in the default tenant');
is($old[3][4], '2026-12-03T08:26:00.123Z',
   'one was created at 08:26:00.123999, which reads as .123');

my $started = eval {
    start_nginx(<<'CONF', http_config => qq{invites_db "@{[conninfo('u_up')]}";\n});
    location /invites/Invites/ {
        invites_api;
        invites_fields all;
    }
CONF
    1;
};
ok($started, 'nginx starts with invites_fields all, on the upgraded database')
    or diag($@);

my $json = JSON::PP->new->canonical;
for my $inv (@old) {
    my ($id, $group, $email, $code, $created) = @$inv;
    my $r = http('POST', '/invites/Invites/Read', qq{{"code":"$code"}});
    is($r->{status}, 200, "Read of old invite $code by its code is 200");
    json_is($r->{body},
            $json->encode({ invite => { id => $id, group_id => $group,
                                        email => $email, code => $code,
                                        status => 'pending',
                                        created_at => $created } }),
            "old invite $code reads as pending with its created_at in"
            . ' milliseconds, and no expires_at, accepted_at, revoked_at'
            . ' or metadata');
}

stop_nginx() if $started;

done_testing();
