# List in pages: "limit" (default invites_list_limit), "status", and the
# opaque "next_page_token" of keyset pagination on (created_at, id): each
# invite exactly once while rows come and go between pages, and a worker
# whose memory stays flat however many pages it serves.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Time::HiRes qw(time);

plan 'no_plan';
workers 1;

my $API = '/invites/Invites';

start_nginx(<<'CONF');
    location /invites/Invites/ { invites_api; invites_fields all; }
    location /small/Invites/ { invites_api; invites_list_limit 10; }
CONF

sub list { return http('POST', "$API/List", JSON::PP->new->canonical->encode({@_})) }

# every page of a List from its start; the invites' ids, and the page count
sub all_pages {
    my ($between, %q) = @_;
    my (@ids, $pages, $token);
    do {
        my $r = list(%q, defined $token ? (page_token => $token) : ());
        die "List answered $r->{status}: $r->{body}\n" unless $r->{status} == 200;
        push @ids, map { $_->{id} } @{$r->{json}{invites}};
        $token = $r->{json}{next_page_token};
        $pages++;
        $between->($pages) if $between && defined $token;
    } while (defined $token);
    return (\@ids, $pages);
}

sub seed {
    my ($group, $n, $tenant) = @_;
    $tenant //= '';
    psql(<<"SQL");
INSERT INTO invites (tenant, id, group_id, email, code, created_at)
SELECT '$tenant', gen_random_uuid(), '$group', 'u' || i || '\@$group.example.com',
       '$group' || i, '2026-01-01'::timestamptz + (i / 7) * interval '1 second'
FROM generate_series(1, $n) AS i;
SQL
}

# ---- 2,500 invites, pages of 100, rows added and deleted between pages
seed('p', 2500);
my @before = split /\n/, psql(q{SELECT id FROM invites WHERE group_id = 'p' ORDER BY created_at, id});
my %deleted;
my ($ids, $pages) = all_pages(sub {
    my $page = shift;
    # new invites (they sort after every old one) and one old one deleted
    http('POST', "$API/Create", qq({"group_id":"p","email":"new$page\@p.example.com"}));
    my $victim = $before[-$page];
    http('POST', "$API/Delete", qq({"id":"$victim"}));
    $deleted{$victim} = 1;
}, group_id => 'p', limit => 100);
my %seen;
$seen{$_}++ for @$ids;
is(scalar(grep { $seen{$_} > 1 } keys %seen), 0, 'no invite appears twice');
is(scalar(grep { !$seen{$_} && !$deleted{$_} } @before), 0,
   'every invite that was there all along appears');
my %old = map { $_ => 1 } @before;
my @old_seen = grep { $old{$_} } @$ids;
is_deeply(\@old_seen, [grep { !$deleted{$_} } @before],
          'oldest first, in (created_at, id) order');
cmp_ok($pages, '>=', 25, "pages of 100 ($pages pages)");
my $news = grep { /\S/ } split /\n/, psql(q{SELECT id FROM invites WHERE group_id = 'p' AND email LIKE 'new%'});
is(scalar(@$ids), 2500 - keys(%deleted) + $news,
   'the pages hold every invite present as they were read, new ones at the end')
    or diag(scalar(@$ids) . " ids, " . keys(%deleted) . " deleted, $news new");

# ---- pages of other sizes
my $r = list(group_id => 'p', limit => 1);
is(scalar @{$r->{json}{invites}}, 1, 'limit 1: one invite');
ok(defined $r->{json}{next_page_token}, 'and a next page');
like($r->{body}, qr/\],"next_page_token":"[0-9a-f]{48}"\}$/, 'next_page_token follows the invites');

seed('exact', 200);
($ids, $pages) = all_pages(undef, group_id => 'exact', limit => 100);
is($pages, 2, '200 invites in pages of 100: two pages, the last without a token');
is(scalar @$ids, 200, 'holding the 200');

seed('def', 1001);
$r = list(group_id => 'def');
is(scalar @{$r->{json}{invites}}, 1000, 'without limit, pages of 1000 (invites_list_limit)');
ok(defined $r->{json}{next_page_token}, 'then a next page');
$r = list(group_id => 'def', page_token => $r->{json}{next_page_token});
is(scalar @{$r->{json}{invites}}, 1, 'holding the last one');
ok(!exists $r->{json}{next_page_token}, 'and no token: the last page');

$r = http('POST', '/small/Invites/List', '{"group_id":"def"}');
is(scalar @{$r->{json}{invites}}, 10, 'invites_list_limit 10: pages of 10');

# ---- by email, and by both, page too
seed('e1', 3);
psql(q{INSERT INTO invites (tenant, id, group_id, email, code, created_at)
       SELECT '', gen_random_uuid(), 'eg' || i, 'same@example.com', 'same' || i,
              '2026-02-01'::timestamptz + i * interval '1 second'
       FROM generate_series(1, 5) AS i});
($ids, $pages) = all_pages(undef, email => 'SAME@example.com', limit => 2);
is("$pages " . scalar @$ids, '3 5', 'by email: 5 invites in 3 pages of 2');
($ids, $pages) = all_pages(undef, email => 'same@example.com', group_id => 'eg3', limit => 1);
is("$pages " . scalar @$ids, '1 1', 'by group and email: the one invite, one page');

# ---- status filters, with the page
psql(<<'SQL');
INSERT INTO invites (tenant, id, group_id, email, code, created_at, status, expires_at) VALUES
 ('', gen_random_uuid(), 's', 'p1@s.com', 's1', '2026-03-01 00:00:01', 'pending', NULL),
 ('', gen_random_uuid(), 's', 'p2@s.com', 's2', '2026-03-01 00:00:02', 'pending', now() + interval '1 day'),
 ('', gen_random_uuid(), 's', 'x1@s.com', 's3', '2026-03-01 00:00:03', 'pending', now() - interval '1 day'),
 ('', gen_random_uuid(), 's', 'a1@s.com', 's4', '2026-03-01 00:00:04', 'accepted', NULL),
 ('', gen_random_uuid(), 's', 'r1@s.com', 's5', '2026-03-01 00:00:05', 'revoked', now() - interval '1 day'),
 ('', gen_random_uuid(), 's', 'p3@s.com', 's6', '2026-03-01 00:00:06', 'pending', NULL);
SQL
my %want = (pending => 'p1 p2 p3', expired => 'x1', accepted => 'a1', revoked => 'r1');
for my $st (sort keys %want) {
    ($ids, $pages) = all_pages(undef, group_id => 's', status => $st, limit => 2);
    $r = list(group_id => 's', status => $st, limit => 1000);
    is(join(' ', map { $_->{email} =~ /^(\w+)@/ } @{$r->{json}{invites}}), $want{$st},
       "status $st: exactly those, oldest first");
    is(scalar @$ids, scalar(split / /, $want{$st}), "status $st, in pages of 2: the same");
    is(scalar(grep { $_->{status} ne $st } @{$r->{json}{invites}}), 0, "each reads as $st");
}
$r = list(group_id => 's');
is(scalar @{$r->{json}{invites}}, 6, 'no status: every invite');

# ---- the other tenant's rows never show
seed('p', 5, 'other');
($ids) = all_pages(undef, group_id => 'p', limit => 1000);
is(scalar(grep { my $i = $_; grep { $_ eq $i } @$ids } split /\n/,
          psql(q{SELECT id FROM invites WHERE tenant = 'other'})), 0,
   'pages stay inside the tenant');

# ---- constant memory: 100,000 invites in one group, paged through
seed('huge', 100000);
my ($pid) = worker_pids();
sub rss { open my $fh, '<', "/proc/$_[0]/status" or return 0; local $/; (<$fh> =~ /VmRSS:\s+(\d+)/)[0] }
my ($first_rss, $max_rss);
my $t0 = time;
($ids, $pages) = all_pages(sub {
    my $rss = rss($pid);
    $first_rss //= $rss if $_[0] == 3;
    $max_rss = $rss if !$max_rss || $rss > $max_rss;
}, group_id => 'huge', limit => 1000);
is(scalar @$ids, 100000, '100,000 invites paged through');
is($pages, 100, 'in 100 pages of 1000');
diag(sprintf "worker RSS %d kB at page 3, at most %d kB after; %.1f s", $first_rss, $max_rss, time - $t0);
SKIP: {
    # ASan's quarantine and valgrind keep what the worker frees
    skip 'under ASan or valgrind the RSS is the checker\'s, not the worker\'s', 1
        if $ENV{TEST_INVITES_REPORT_DIR};
    cmp_ok($max_rss - $first_rss, '<', 4096, 'the worker\'s memory stays flat (under 4 MB of growth)');
}

stop_nginx();

run_tests();

__DATA__

=== TEST 1: limit must be an integer from 1 to 1000
--- config
    location /invites/Invites/ { invites_api; }
--- request eval
[map { "POST /invites/Invites/List\n{\"group_id\":\"g\",\"limit\":$_}" } 0, 1001, -5, '2.5', '"10"', 'null']
--- error_code eval
[(400) x 5, 200]
--- response_body_json eval
[({id => 'BAD_REQUEST', code => 400, detail => 'Field limit must be an integer from 1 to 1000',
   status => 'Bad Request'}) x 5, ignore()]



=== TEST 2: status must be one of the four
--- request eval
[map { "POST /invites/Invites/List\n{\"group_id\":\"g\",\"status\":$_}" } '"done"', '"Pending"', '1', '"pending"']
--- error_code eval
[400, 400, 400, 200]
--- response_body_json eval
[({id => 'BAD_REQUEST', code => 400, detail => 'Field status must be pending, accepted, revoked or expired',
   status => 'Bad Request'}) x 3, ignore()]



=== TEST 3: a malformed page token is 400
--- request eval
[map { "POST /invites/Invites/List\n{\"group_id\":\"g\",\"page_token\":$_}" }
     '"abc"', '"' . ('0' x 47) . 'g"', '"' . ('A' x 48) . '"', '"' . ('0' x 49) . '"', '12', '"' . ('0' x 48) . '"']
--- error_code eval
[(400) x 5, 200]
--- response_body_json eval
[({id => 'BAD_REQUEST', code => 400, detail => 'Field page_token is not a page token of this list',
   status => 'Bad Request'}) x 5, {invites => []}]



=== TEST 4: invites_list_limit is from 1 to 1000
--- config
    location /invites/Invites/ { invites_api; invites_list_limit 1001; }
--- must_die: "invites_list_limit" directive must be between 1 and 1000
