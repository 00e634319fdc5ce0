# Schema: the tenant leads every key and index of invites, and the
# migrations in sql/ are safe to run twice.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

my @MIGRATIONS = sort glob "$FindBin::Bin/../sql/*.sql";

sub slurp {
    my $file = shift;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

# "name:col1,col2" for each PRIMARY KEY / UNIQUE constraint, by information_schema
sub constraints {
    return psql(<<'SQL');
SELECT tc.constraint_type || ' ' || tc.constraint_name || ':'
       || string_agg(k.column_name, ',' ORDER BY k.ordinal_position)
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage k
  ON k.constraint_schema = tc.constraint_schema
 AND k.constraint_name = tc.constraint_name
 AND k.table_name = tc.table_name
WHERE tc.table_name = 'invites'
  AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
GROUP BY tc.constraint_type, tc.constraint_name
ORDER BY 1;
SQL
}

# "index:first column" for every index on invites (expression -> "(expr)")
sub indexes {
    return psql(<<'SQL');
SELECT c.relname || ':' || coalesce(a.attname, '(expr)')
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = 'invites'::regclass
ORDER BY 1;
SQL
}

# ---- keys
my @cons = split /\n/, constraints();
is_deeply([grep { /^PRIMARY KEY / } @cons], ['PRIMARY KEY invites_pkey:tenant,id'],
          'the primary key is (tenant, id)');
my @unique = grep { /^UNIQUE / } @cons;
ok(grep({ /:tenant,group_id,email\z/ } @unique), 'there is a UNIQUE (tenant, group_id, email)');
ok(grep({ /:tenant,code\z/ } @unique), 'there is a UNIQUE (tenant, code)');
ok(@cons >= 3, 'at least three key constraints (primary key and two unique)');
is_deeply([grep { !/:tenant(?:,|\z)/ } @cons], [],
          'every primary key and unique constraint has tenant as its first column');

is(psql(<<'SQL'), 'tenant', 'pg_index: the primary key index starts with tenant');
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = 'invites'::regclass AND i.indisprimary;
SQL

# ---- every index
my @idx = split /\n/, indexes();
ok(@idx >= 5, 'invites has its five indexes (pkey, two unique, two list indexes)')
    or diag(join "\n", @idx);
is_deeply([grep { !/:tenant\z/ } @idx], [], 'every index on invites has tenant as its first column');
is(psql(<<'SQL'), '0', 'every unique index has tenant as its first column (pg_index)');
SELECT count(*) FROM pg_index i
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = 'invites'::regclass AND i.indisunique
  AND a.attname IS DISTINCT FROM 'tenant';
SQL
is(psql(<<'SQL'), 'tenant,group_id,created_at,id|tenant,email,created_at,id',
SELECT string_agg(cols, '|' ORDER BY cols DESC) FROM (
    SELECT string_agg(a.attname, ',' ORDER BY k.n) AS cols
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = 'invites'::regclass AND NOT i.indisunique
    GROUP BY i.indexrelid) s;
SQL
   'List pages are served by (tenant, group_id, created_at, id) and (tenant, email, created_at, id)');

# ---- migrations run twice
psql(q{INSERT INTO invites (tenant, id, group_id, email, code) VALUES
       ('t', '80000000-0000-4000-8000-000000000001', 'keep', 'keep@example.com', '80000001')});
my ($cons_before, $idx_before) = (constraints(), indexes());
ok(-f "$FindBin::Bin/../sql/001_invites.sql", 'sql/001_invites.sql exists');
for my $file (@MIGRATIONS) {
    my $name = $file =~ s{.*/}{}r;
    ok(eval { psql(slurp($file)); 1 }, "running sql/$name a second time succeeds")
        or diag($@);
}
for my $file (@MIGRATIONS) {
    my $name = $file =~ s{.*/}{}r;
    ok(eval { psql(slurp($file)); 1 }, "running sql/$name a third time succeeds")
        or diag($@);
}
is(constraints(), $cons_before, 'the constraints are unchanged after the re-run');
is(indexes(), $idx_before, 'the indexes are unchanged after the re-run');
is(psql("SELECT tenant || '|' || group_id || '|' || email || '|' || code FROM invites"),
   't|keep|keep@example.com|80000001', 'the rows are kept after the re-run');

# ---- and the module still works on the re-migrated table
start_nginx("    location /invites/Invites/ { invites_api; }\n");
my $r = http('POST', '/invites/Invites/Create', '{"group_id":"after","email":"after@example.com"}');
is($r->{status}, 200, 'Create works after the migrations ran again');
json_is($r->{body},
        '{"invite":{"id":"<uuid>","group_id":"after","email":"after@example.com","code":"<code>"}}',
        'and returns the invite');
stop_nginx();

done_testing();
