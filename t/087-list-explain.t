# List runs on an index on every page: each of List's statements, as the
# module prepares them (bench/stmts.pl reads them from ngx_http_invites_ops.c),
# on a database of 74,000 invites in a mix of statuses and expiries, by
# group, by email and by both, for every status filter (none, pending,
# accepted, revoked, expired) and page size, as the generic plan the
# module's prepared statements settle on and as the custom plan of their
# first executions: the page index read (Index Scan, Index Only Scan or
# Bitmap Index Scan), no Seq Scan, a later page that starts at an index
# bound on (created_at, id) rather than filtering the pages before it, and,
# for a small page of a busy group or email, the page read in index order:
# an Index Scan and no Sort.  Where one page holds every match, or a large
# part of them, reading them all and sorting them costs about the same, and
# the choice is the planner's.
#
# The statements are this repository's own.  TEST_INVITES_STMTS_REPO=dir
# reads them from another tree's bench/stmts.pl and ops.c instead (the
# migrations stay this tree's): for trying SQL that is not committed yet.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Databases;

use JSON::PP ();

plan skip_all => 'needs the private cluster (its postgres superuser)'
    if $ENV{TEST_INVITES_PG_CONNINFO};

my $REPO = $ENV{TEST_INVITES_STMTS_REPO} // "$FindBin::Bin/..";
my $STMTS = "$REPO/bench/stmts.pl";
my $OPS = "$REPO/ngx_http_invites_module/ngx_http_invites_ops.c";

# the statements, their parameters' types, and the index each must use
# (undef: any index of invites; by group and email at once the unique key
# finds the one row)
my %LIST = (
    invites_list_group       => [[qw(text text text int8)],
                                 'invites_group_page_idx'],
    invites_list_group_after => [[qw(text text text int8 uuid int8)],
                                 'invites_group_page_idx'],
    invites_list_email       => [[qw(text text text int8)],
                                 'invites_email_page_idx'],
    invites_list_email_after => [[qw(text text text int8 uuid int8)],
                                 'invites_email_page_idx'],
    invites_list_both        => [[qw(text text text text int8)], undef],
    invites_list_both_after  => [[qw(text text text text int8 uuid int8)],
                                 undef],
);
my @STATUSES = (undef, qw(pending accepted revoked expired));
my @LIMITS = (51, 1001);    # a page of 50 and one more; the largest page


# ------------------------------------------------------------ statements

my %sql;
{
    my $out = `perl "$STMTS" "$OPS" 2>&1`;
    is($?, 0, 'bench/stmts.pl reads the statements of ngx_http_invites_ops.c')
        or diag($out);
    for (split /\n/, $out) {
        my ($name, $text) = split /\t/, $_, 2;
        $sql{$name} = $text if defined $text;
    }
}

my @run;
for my $name (sort keys %LIST) {
    my $n = @{$LIST{$name}[0]};
    my $top = 0;
    $top < $_ and $top = $_ for ($sql{$name} // '') =~ /\$(\d+)/g;
    if (ok(defined $sql{$name} && $top == $n,
           "the module prepares $name, with $n parameters")) {
        push @run, $name;
    } else {
        diag(defined $sql{$name} ? "it uses \$$top: $sql{$name}"
                                 : 'no such statement');
    }
}


# --------------------------------------------------------------- the data

new_db('l_plan');
psql_files('l_plan', @MIGRATIONS);

# tenant t0: 400 groups of 100 invites and the "busy" group of 12,000; four
# more tenants of 25 groups.  An email is in up to 10 groups, and
# busy@example.com in 12,000 groups of t0.  Half the invites are pending
# (a fifth of those expired), the rest accepted or revoked.
sql_in('l_plan', <<'SQL');
CREATE TEMP TABLE seed (i int, tenant text, group_id text, email text,
                        created_at timestamptz);

INSERT INTO seed
SELECT i, CASE WHEN i % 500 < 400 THEN 't0' ELSE 't' || (i % 4 + 1) END,
       'g' || i % 500, 'u' || i / 10 || '@example.com',
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'
  FROM generate_series(0, 49999) AS i;

INSERT INTO seed
SELECT 50000 + j, 't0', 'busy', 'b' || j || '@example.com',
       timestamptz '2026-01-01 00:00:00.5+00' + j * interval '4 seconds'
  FROM generate_series(0, 11999) AS j;

INSERT INTO seed
SELECT 70000 + k, 't0', 'k' || k, 'busy@example.com',
       timestamptz '2026-01-01 00:00:00.25+00' + k * interval '4 seconds'
  FROM generate_series(0, 11999) AS k;

INSERT INTO invites (tenant, id, group_id, email, code, created_at, status,
                     expires_at, accepted_at, revoked_at, metadata)
SELECT tenant, gen_random_uuid(), group_id, email, lpad(i::text, 8, '0'),
       created_at,
       CASE WHEN i % 10 < 5 THEN 'pending'
            WHEN i % 10 < 8 THEN 'accepted'
            ELSE 'revoked' END,
       CASE i % 10 WHEN 2 THEN now() + interval '30 days'
                   WHEN 3 THEN now() + interval '1 hour'
                   WHEN 4 THEN now() - interval '1 day' END,
       CASE WHEN i % 10 BETWEEN 5 AND 7 THEN created_at + interval '1 day' END,
       CASE WHEN i % 10 >= 8 THEN created_at + interval '2 days' END,
       CASE WHEN i % 3 = 0 THEN '{"source":"seed"}'::jsonb END
  FROM seed ORDER BY i;

-- every row in the statistics: the plans do not change with a sample
SET default_statistics_target = 1000;
ANALYZE invites;
SQL
is(sql_in('l_plan', 'SELECT count(*) FROM invites'), 74000, '74,000 invites');
is(sql_in('l_plan', q{
    SELECT string_agg(s || ':' || n, ' ' ORDER BY s) FROM (
        SELECT CASE WHEN status = 'pending' AND expires_at <= now()
                    THEN 'expired' ELSE status END AS s, count(*) AS n
          FROM invites GROUP BY 1) c}),
   'accepted:22200 expired:7400 pending:29600 revoked:14800',
   'in every status');
# the row a later page starts after: "after_us|after_id" of the $nth row
# of $where, in page order
sub after {
    my ($where, $nth) = @_;
    return split /\|/, sql_in('l_plan', qq{
        SELECT (extract(epoch FROM created_at) * 1000000)::int8 || '|' || id
          FROM invites WHERE tenant = 't0' AND $where
         ORDER BY created_at, id OFFSET @{[$nth - 1]} LIMIT 1});
}

# the fewest invites of $where in one status, after its $nth
sub fewest {
    my ($where, $nth) = @_;
    return sql_in('l_plan', qq{
        SELECT min(n) FROM (
            SELECT count(*) AS n FROM (
                SELECT status, expires_at FROM invites
                 WHERE tenant = 't0' AND $where
                 ORDER BY created_at, id OFFSET $nth) k
             GROUP BY CASE WHEN status = 'pending' AND expires_at <= now()
                           THEN 'expired' ELSE status END) c});
}

# the keys: [label, busy (a page of 50 is at most a tenth of it, in any
# status, from its start and from the later page's), the arguments before
# the status, after_us, after_id, and for "both" with a busy group or email
# the other one, which the index must find the row by]
my %KEYS = (
    group => [['group g7 (100 invites)', 0, ['t0', 'g7'],
               after(q{group_id = 'g7'}, 50)],
              ['group busy (12,000)', 1, ['t0', 'busy'],
               after(q{group_id = 'busy'}, 4000)]],
    email => [['email u123 (10)', 0, ['t0', 'u123@example.com'],
               after(q{email = 'u123@example.com'}, 5)],
              ['email busy (12,000)', 1, ['t0', 'busy@example.com'],
               after(q{email = 'busy@example.com'}, 4000)]],
    both  => [['g7 and u0 (1)', 0, ['t0', 'g7', 'u0@example.com'],
               after(q{group_id = 'g7' AND email = 'u0@example.com'}, 1)],
              ['busy and b100 (1)', 0, ['t0', 'busy', 'b100@example.com'],
               after(q{group_id = 'busy' AND email = 'b100@example.com'}, 1),
               'email'],
              ['k5 and busy (1)', 0, ['t0', 'k5', 'busy@example.com'],
               after(q{group_id = 'k5' AND email = 'busy@example.com'}, 1),
               'group_id']],
);
ok(fewest(q{group_id = 'busy'}, 4000) >= 10 * $LIMITS[0]
   && fewest(q{email = 'busy@example.com'}, 4000) >= 10 * $LIMITS[0],
   'the busy group and email hold ten pages of 50 in every status,'
   . ' after their 4,000th invite too');


# ------------------------------------------------------------- the plans

my %INDEXES = map { ($_ => 1) } split /\n/, sql_in('l_plan',
    q{SELECT indexname FROM pg_indexes WHERE tablename = 'invites'});

sub lit { my $v = shift; return defined $v ? "'$v'" : 'NULL' }

# every node of a plan, depth first
sub nodes {
    my $n = shift;
    return ($n, map { nodes($_) } @{$n->{Plans} // []});
}

# What is wrong with a plan of $name, as a list of complaints.  Always: it
# reads invites through the statement's index (for "both", any index of
# invites, as long as it does not walk a busy group's or email's invites
# for the one row: $by, the other column, is an index condition), never by
# a Seq Scan, and a later page's start on (created_at, id) is an index
# condition.  For a small page of a busy key ($small), the page comes in
# index order from an Index Scan, not from a Sort of every match.
# Elsewhere a Sort may be the better plan, and the planner's to choose:
# where one page holds every match, or a large part of them, reading them
# all through the index and sorting them costs about as much.
sub complaints {
    my ($name, $plan, $small, $by) = @_;
    my $index = $LIST{$name}[1];
    my @nodes = nodes($plan->[0]{Plan});
    my @on = grep {
        $_->{'Node Type'} =~ /^(?:Index|Index Only|Bitmap Index) Scan\z/
        && (defined $index ? $_->{'Index Name'} eq $index
                           : $INDEXES{$_->{'Index Name'}})
    } @nodes;
    my @ordered = grep { $_->{'Node Type'} ne 'Bitmap Index Scan' } @on;
    my $what = $index // 'an index of invites';
    my @c;
    push @c, "not on $what" unless @on;
    if (defined $by
        && !grep { ($_->{'Index Cond'} // '') =~ /\b\Q$by\E = / } @on)
    {
        push @c, "the index walks a busy key's invites, $by a filter";
    }
    push @c, 'a Seq Scan' if grep { $_->{'Node Type'} eq 'Seq Scan' } @nodes;
    if ($name =~ /_after\z/ && defined $index
        && !grep { ($_->{'Index Cond'} // '') =~ /ROW\(created_at, id\) >/ }
                 @on)
    {
        push @c, 'the page does not start at an index bound on'
                 . ' (created_at, id)';
    }
    if ($small) {
        push @c, "a small page of a busy key, and no Index Scan of $what"
            unless @ordered;
        push @c, map { "a small page of a busy key, and a $_->{'Node Type'}" }
                 grep { $_->{'Node Type'} =~ /Sort/ } @nodes;
    }
    return @c;
}

# a plan as EXPLAIN's text format would show it, near enough for a diag
sub tree {
    my ($n, $depth) = @_;
    $depth //= 0;
    my $pad = '  ' x $depth;
    my $t = $pad . ($depth ? '-> ' : '') . $n->{'Node Type'}
          . (defined $n->{'Index Name'} ? " using $n->{'Index Name'}" : '')
          . (defined $n->{'Relation Name'} ? " on $n->{'Relation Name'}" : '')
          . " (rows=$n->{'Plan Rows'}, actual $n->{'Actual Rows'})\n";
    for my $k ('Sort Key', 'Index Cond', 'Recheck Cond', 'Filter') {
        next unless defined $n->{$k};
        my $v = ref $n->{$k} ? join(', ', @{$n->{$k}}) : $n->{$k};
        $t .= "$pad     $k: $v\n";
    }
    $t .= tree($_, $depth + 1) for @{$n->{Plans} // []};
    return $t;
}

my $json = JSON::PP->new;
my %MODES = (generic => 'force_generic_plan', custom => 'force_custom_plan');

for my $name (@run) {
    my ($types, $index) = @{$LIST{$name}};
    my ($key) = $name =~ /^invites_list_(\w+?)(?:_after)?\z/;
    my $after = $name =~ /_after\z/;

    # one session: PREPARE, then EXPLAIN ANALYZE EXECUTE every case in both
    # modes (ANALYZE: a diag shows the rows the planner expected and got)
    my $script = "PREPARE $name (@{[join ', ', @$types]}) AS $sql{$name};\n";
    my @cases;
    for my $mode (sort keys %MODES) {
        $script .= "SET plan_cache_mode = $MODES{$mode};\n";
        for my $k (@{$KEYS{$key}}) {
            my ($label, $busy, $args, $us, $id, $by) = @$k;
            for my $status (@STATUSES) {
                for my $limit (@LIMITS) {
                    my @a = ((map { lit($_) } @$args), lit($status),
                             ($after ? ($us, lit($id)) : ()), $limit);
                    push @cases, [$mode, $busy && $limit == $LIMITS[0], $by,
                                  "$label, status "
                                  . ($status // 'NULL') . ", limit $limit"];
                    $script .= "\\echo \@\@ $#cases\n"
                             . 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF,'
                             . " FORMAT JSON) EXECUTE $name("
                             . join(', ', @a) . ");\n";
                }
            }
        }
    }
    my $out = sql_in('l_plan', $script);
    my %plan = $out =~ /^\@\@ (\d+)\n(.*?)(?=^\@\@ |\z)/msg;

    for my $mode (sort keys %MODES) {
        my @bad;
        for my $i (grep { $cases[$_][0] eq $mode } 0 .. $#cases) {
            my $p = $json->decode($plan{$i});
            my @c = complaints($name, $p, @{$cases[$i]}[1, 2]);
            push @bad, ["$cases[$i][3]: @{[join '; ', @c]}",
                        tree($p->[0]{Plan})] if @c;
        }
        my $what = $index
            ? "on $index, no Seq Scan"
              . ($after ? ', the page starting at an index bound' : '')
              . ', for every status and page size; in index order (no Sort)'
              . ' for a small page of a busy key'
            : 'on an index of invites that finds the row by the less busy'
              . ' of group and email, no Seq Scan, for every status and'
              . ' page size';
        # PostgreSQL's generic plan of a (tenant, group_id, email) look-up
        # sees a tie between the unique key and the email's page index and
        # takes the latter, walking a busy email; 001's index did the same,
        # as do Create's look-ups of that key: known, not fixed here
        our $TODO;
        local $TODO = !$index && $mode eq 'generic'
            ? 'the generic plan of a look-up by group and email can walk'
              . ' a busy email (PostgreSQL sees a cost tie)'
            : undef;
        ok(!@bad, "$name, $mode plans: $what")
            or diag(scalar(@bad) . " of them not:\n"
                    . join('', map { "  $_->[0]\n" } @bad)
                    . "the first's plan:\n$bad[0][1]");
    }
}

done_testing();
