# Idle pooled connections ended server-side with pg_terminate_backend(): the
# module notices and replaces them, and the very next requests do not fail
# because of them; the pool never grows past invites_db_pool.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
workers 1;
default_group('term');

sub wait_gone {
    my ($pids, $secs) = @_;
    my $deadline = time + $secs;
    my $in = join ',', @$pids;
    while (time < $deadline) {
        return 1 unless psql("SELECT count(*) FROM pg_stat_activity WHERE pid IN ($in)");
        sleep 0.02;
    }
    return 0;
}

sub terminate_all {
    return psql("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS t"
                . " $MODULE_BACKENDS) s WHERE t");
}

# opens $n connections: $n Creates at once, held behind a table lock
sub fill_pool {
    my ($n, $tag) = @_;
    my $lock = hold_lock();
    my @h = map { create_start("fill-$tag-$_\@example.com", timeout => 10) } 1 .. $n;
    my $got = wait_lock_waiters($n);
    release_lock($lock);
    diag("fill_pool $tag: only $got of $n Creates waited for the lock") if $got < $n;
    return [map { http_end($_)->{status} } @h];
}

# fill_pool opens a connection per Create: one query per connection
start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_api;
        invites_db_pool 4;
        invites_db_pipeline off;
    }
CONF
my @workers = worker_pids();

is_deeply(fill_pool(4, 'a'), [(200) x 4], 'four Creates at once: 200');
my @old = module_backends();
is(scalar @old, 4, 'the pool holds 4 connections');


# ---- 1: every idle connection terminated, the backends gone, then one request

is(terminate_all(), 4, 'pg_terminate_backend() ends the 4 idle connections');
ok(wait_gone(\@old, 5), 'their backends are gone');
my $r = create('next@example.com');
is($r->{status}, 200, 'the very next Create succeeds') or diag(body_of($r));
json_is($r->{body}, invite_json('next@example.com'), 'with a valid invite');
$r = http('POST', "$API/List", '{"group_id":"term"}');
is($r->{status}, 200, 'the next List succeeds') or diag(body_of($r));
my @new = module_backends();
cmp_ok(scalar @new, '>=', 1, 'new connections were opened (' . scalar(@new) . ')');
cmp_ok(scalar @new, '<=', 4, 'within the pool size');
ok(!grep({ my $n = $_; grep { $_ == $n } @old } @new), 'none of them is a terminated one');
my $log = error_log_text();
my ($noticed) = $log =~ /(invites: (?:PostgreSQL connection lost|idle PostgreSQL connection closed)[^\n]*)/;
ok($noticed, 'the error log says an idle connection ended');
diag("the module logs: $noticed") if $noticed;


# ---- 2: terminated and used at once, eight times (the module may not have
# read the termination yet: the retry on another connection covers it)

my %st;
for my $round (1 .. 8) {
    fill_pool(4, "b$round");
    my $n = terminate_all();
    $r = create("race$round\@example.com");
    $st{$r->{status} // 'none'}++;
    is($r->{status}, 200, "round $round: $n connections terminated, the Create"
       . ' sent right away succeeds') or diag(body_of($r));
    next unless ($r->{status} // 0) == 200;
    $r = http('POST', "$API/Read", qq({"id":"$r->{json}{invite}{id}"}));
    is($r->{status}, 200, "round $round: and a Read after it") or diag(body_of($r));
}
my $retries = () = error_log_text() =~ /invites: retrying \w+ on another connection/g;
diag("terminated-and-used rounds: statuses " . join(', ', map { "$_: $st{$_}" } sort keys %st)
     . "; $retries statements retried on another connection");


# ---- 3: one of four terminated, then a burst larger than the pool

fill_pool(4, 'c');
my @pool = module_backends();
is(psql("SELECT pg_terminate_backend($pool[0])"), 't', 'one of the four connections terminated');
my @h = map { create_start("burst$_\@example.com", timeout => 10) } 1 .. 12;
my @res = map { http_end($_) } @h;
is_deeply([map { $_->{status} } @res], [(200) x 12],
          'a burst of 12 Creates right after: all 200')
    or diag(join "\n", map { body_of($_) } grep { ($_->{status} // 0) != 200 } @res);
my $now = psql("SELECT count(*) $MODULE_BACKENDS");
cmp_ok($now, '<=', 4, "the pool bound holds ($now connections)");
is(psql("SELECT count(*) FROM pg_stat_activity WHERE pid = $pool[0]"), 0,
   'the terminated backend is not there');

is_deeply([worker_pids()], \@workers, 'the same worker throughout');
error_log_clean('no crash, alert or crit in error.log');
stop_nginx();
