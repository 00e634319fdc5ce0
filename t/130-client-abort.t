# A client that disconnects while its statement runs, or while it waits in
# the queue, leaks nothing: the single pooled connection serves the next
# requests, the worker survives, and a queued request that was abandoned
# never reaches the database.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
workers 1;
default_group('abort');

# waits for the 499 of a request in the access log
sub wait_access_499 {
    my ($secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        open my $fh, '<', servroot() . '/logs/access.log' or return 0;
        return 1 if grep { m{"POST /invites/Invites/Create HTTP/1\.1" 499 } } <$fh>;
        sleep 0.05;
    }
    return 0;
}

sub after_abort_checks {
    my ($what, $workers, $prefix) = @_;
    for my $i (1 .. 3) {
        my $r = create("$prefix-next$i\@example.com");
        is($r->{status}, 200, "$what: Create $i afterwards: 200") or diag(body_of($r));
        json_is($r->{body}, invite_json("$prefix-next$i\@example.com"),
                "$what: Create $i afterwards: a valid invite");
    }
    is(psql("SELECT count(*) $MODULE_BACKENDS"), 1,
       "$what: still exactly one connection in pg_stat_activity (no leak)")
        or diag(psql("SELECT pid, state, query $MODULE_BACKENDS"));
    is_deeply([worker_pids()], $workers, "$what: the worker is the same process");
    error_log_clean("$what: no crash, alert or crit in error.log");
    like(error_log_text(), qr/\[info\].*invites: client left before the database answered/,
         "$what: the error log says the client left");
}

# one query per connection, so that a second request waits in the queue
my $CONFIG = <<'CONF';
    location /invites/Invites/ {
        invites_api;
        invites_db_pool 1;
        invites_db_pipeline off;
    }
CONF


# ---- 1: the client leaves while its statement runs

start_nginx($CONFIG);
my @workers = worker_pids();
my $r = create('warm1@example.com');
is($r->{status}, 200, 'warm-up Create (pool 1)');
is(psql("SELECT count(*) $MODULE_BACKENDS"), 1, 'one pooled connection');

my $lock = hold_lock();
my $running = create_start('running-gone@example.com', timeout => 15);
is(wait_lock_waiters(1, 5), 1, 'the Create runs and waits for the table lock');
ok(disconnect($running), 'its client disconnects without reading');
ok(wait_access_499(3), 'nginx notices the client left (499 in access.log)');
release_lock($lock);
after_abort_checks('running statement abandoned', \@workers, 'running');
stop_nginx();


# ---- 2: the client leaves while its request waits in the queue

psql('TRUNCATE invites');
start_nginx($CONFIG);
@workers = worker_pids();
$r = create('warm2@example.com');
is($r->{status}, 200, 'warm-up Create (pool 1)');

$lock = hold_lock();
my $first = create_start('first@example.com', timeout => 15);
is(wait_lock_waiters(1, 5), 1, 'the first Create runs and waits for the lock');
my $queued = create_start('queued-gone@example.com', timeout => 15);
sleep 0.2;
ok(still_waiting($queued), 'the second Create waits in the queue');
ok(disconnect($queued), 'its client disconnects without reading');
ok(wait_access_499(3), 'nginx notices the queued client left (499 in access.log)');
ok(still_waiting($first), 'the first Create is still waiting');
release_lock($lock);

$r = http_end($first);
is($r->{status}, 200, 'the first Create completes') or diag(body_of($r));
json_is($r->{body}, invite_json('first@example.com'), 'with a valid invite');
after_abort_checks('queued request abandoned', \@workers, 'queued');
is(rows_for('queued-gone@example.com'), 0,
   'the abandoned queued Create never reached the table');
stop_nginx();
