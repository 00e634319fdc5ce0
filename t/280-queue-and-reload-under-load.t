# A request that waits in the queue past invites_db_timeout gets a JSON 5xx
# in time; `nginx -s reload` and `nginx -s quit` under load lose no request
# that reached nginx, old workers exit, and no PostgreSQL backend is left.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
default_group('q');

# ---- 1: waiting in the queue longer than the timeout

# one query per connection, so that the second request waits in the queue
start_nginx(<<'CONF', workers => 1);
    location /invites/Invites/ {
        invites_db_pool 1;
        invites_db_queue 10;
        invites_db_timeout 1s;
        invites_db_pipeline off;
        invites_api;
    }
CONF

is(create('warm@example.com')->{status}, 200, 'warm-up Create');

my $lock = hold_lock();
my $running = create_start('running@example.com', timeout => slow(10));
wait_lock_waiters(1, 5);
my $t0 = time;
my $queued = create_start('queued@example.com', timeout => slow(10));
my $q = http_end($queued);
my $waited = time - $t0;
my $id = micro_5xx($q) // 'none';
ok($id eq 'DB_UNAVAILABLE' || $id eq 'DB_TIMEOUT',
   "the queued request gets a JSON 5xx ($q->{status} $id)");
cmp_ok($waited, '<', slow(3), sprintf('within the timeout and a margin (%.2fs)', $waited));
my $r = http_end($running);
is($r->{status}, 504, 'the running one gets 504 DB_TIMEOUT');
release_lock($lock);
is(create('after@example.com')->{status}, 200, 'then the pool serves again');
is(rows_for('queued@example.com'), '0', 'the queued request never wrote');
stop_nginx();

# ---- 2: reload, then quit, under load

start_nginx(<<'CONF', workers => 2);
    location /invites/Invites/ {
        invites_api;
    }
CONF

my @old = worker_pids();
my $load = load_start(clients => 10, requests => 60, pace => 0.02,
                      timeout => slow(10), tag => 'rl');

my $deadline = time + slow(20);
sleep 0.05 while load_done($load) < 150 && time < $deadline;
my @gone = reload_nginx();
ok(wait_pids_gone(\@old, slow(5)), 'the old workers exit within 5 s of the reload');

my $recs = load_wait($load, slow(60));
my $fig = load_figures($recs, 'reload under load');
my @bad = grep { ($_->{status} // 0) != 200 } @$recs;
is(scalar @bad, 0, sprintf('all %d requests around the reload answered 200',
                           scalar @$recs))
    or diag(join "\n", map { "$_->{op} $_->{status} " . ($_->{err} // $_->{error} // '') }
                       @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
acknowledged_creates_check($recs, 'reload under load');

# quit while requests run: those already sent complete

my @workers = worker_pids();
my @inflight = map { create_start("quit$_\@example.com", timeout => slow(10)) } 1 .. 10;
stop_nginx();
my $ok = grep { (http_end($_)->{status} // 0) == 200 } @inflight;
is($ok, 10, 'the 10 Creates sent before the quit complete with 200');
is(rows_for("quit$_\@example.com"), '1', "quit$_ is stored") for 1 .. 10;

my $left = 1;
$deadline = time + 5;
while (time < $deadline) {
    $left = psql("SELECT count(*) $MODULE_BACKENDS");
    last if $left == 0;
    sleep 0.1;
}
is($left, '0', 'no PostgreSQL backend of the module is left after the quit');
error_log_clean('no crash, alert or open socket left',
                qr/exited on signal|\[(?:alert|crit|emerg)\]|open socket/);
