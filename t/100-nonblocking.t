# A worker never waits for PostgreSQL: a statement stuck behind a table lock
# leaves the worker free for other requests, invites_db_timeout answers 504
# and replaces the connection, and a full queue answers 503 at once.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
workers 1;
default_group('nb');

# true once backend $pid has ended, within $secs
sub wait_backend_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 unless psql("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid");
        sleep 0.05;
    }
    return 0;
}

my $CONFIG = <<'CONF';
    location = /ping { return 200 "pong"; }
    location /invites/Invites/ { invites_api; }
CONF


# ---- 1: a Create stuck behind a lock does not block the worker

start_nginx($CONFIG);
my @workers = worker_pids();
is(scalar @workers, 1, 'one worker');

my $r = create('warm@example.com');
is($r->{status}, 200, 'warm-up Create opens a pooled connection');

my $lock = hold_lock();
my $t_lock = time;
my $stuck = create_start('stuck@example.com', timeout => 15);
is(wait_lock_waiters(1), 1, 'the Create waits for the table lock in PostgreSQL');
ok(still_waiting($stuck), 'and has no answer yet');

for my $i (1 .. 5) {
    my $p = http('GET /ping', undef, undef, timeout => 2);
    is($p->{status}, 200, "ping $i answers while the Create is stuck");
    is($p->{body}, 'pong', "ping $i body");
    cmp_ok($p->{elapsed}, '<', 0.2, "ping $i did not wait for the database")
        or diag("ping $i took $p->{elapsed}s");
}
ok(still_waiting($stuck), 'the Create is still stuck after the pings');

sleep 0.3;
my $held = time - $t_lock;
release_lock($lock);
$r = http_end($stuck);
is($r->{status}, 200, 'the stuck Create completes once the lock is gone')
    or diag(body_of($r));
json_is($r->{body}, invite_json('stuck@example.com'), 'with a valid invite');
cmp_ok($r->{elapsed}, '>=', $held - 0.05, 'it really waited for the lock');
is(rows_for('stuck@example.com'), 1, 'its row is stored');
is_deeply([worker_pids()], \@workers, 'same worker');
error_log_clean('no alert, crit or crash in error.log');
stop_nginx();


# ---- 2: invites_db_timeout answers 504 and replaces the connection

psql('TRUNCATE invites');
start_nginx(<<'CONF');
    location = /ping { return 200 "pong"; }
    location /invites/Invites/ { invites_api; invites_db_timeout 1s; }
CONF
@workers = worker_pids();

$r = create('warm@example.com');
is($r->{status}, 200, 'warm-up Create (invites_db_timeout 1s)');
my @before = split /\n/, psql("SELECT pid $MODULE_BACKENDS");
is(scalar @before, 1, 'one pooled connection');

$lock = hold_lock();
$r = create('slow@example.com', timeout => 10);
is($r->{status}, 504, 'a statement stuck past invites_db_timeout gets 504')
    or diag(body_of($r));
json_is($r->{body},
        '{"id":"DB_TIMEOUT","code":504,"detail":"<any>","status":"<any>"}',
        'with the DB_TIMEOUT error body');
is($r->{headers}{'content-type'}, 'application/json', 'as application/json');
cmp_ok($r->{elapsed}, '>=', 0.8, 'not before the timeout');
cmp_ok($r->{elapsed}, '<=', 4, 'but soon after it');
like(error_log_text(),
     qr/\[error\].*invites: (?:PostgreSQL did not answer in time|.*statement timeout)/,
     'the error log says the statement timed out');

release_lock($lock);
$r = create('after@example.com');
is($r->{status}, 200, 'after the lock is released the next Create succeeds')
    or diag("body: " . ($r->{body} // '') . "\n" . error_log_text());
json_is($r->{body}, invite_json('after@example.com'), 'with a valid invite');
is(rows_for('slow@example.com'), 0, 'the timed-out Create stored nothing');
# Both timers are 1 s: whichever fires first, the statement must not keep
# running on a pooled connection.  When nginx's timer fired, the connection
# must have been closed (its backend ends once PostgreSQL cancels the wait).
my $nginx_timer = error_log_text() =~ /PostgreSQL did not answer in time/;
ok((!$nginx_timer
    && error_log_text() =~ /canceling statement due to statement timeout/)
   || wait_backend_gone($before[0], 5),
   'the timed-out statement was cancelled by the server or its connection replaced')
    or diag("backend $before[0] is still there; error.log:\n"
            . join "\n", grep { /invites:/ && !/\[debug\]/ }
                          split /\n/, error_log_text());
cmp_ok(psql("SELECT count(*) $MODULE_BACKENDS"), '<=', 4,
       'no more backends than the pool allows');
is_deeply([worker_pids()], \@workers, 'same worker');
error_log_clean('no alert, crit or crash in error.log');


# ---- 2b: nginx's own timer: a backend that cannot answer at all (stopped
# with SIGSTOP, so PostgreSQL's statement_timeout cannot fire either)

@before = split /\n/, psql("SELECT pid $MODULE_BACKENDS");
is(scalar @before, 1, 'one pooled connection before the backend is stopped');
kill 'STOP', $before[0] or die "kill STOP $before[0]: $!";
$r = eval { create('frozen@example.com', timeout => 10) };
kill 'CONT', $before[0];
die $@ unless $r;
is($r->{status}, 504, 'a backend that does not answer gets 504 from nginx\'s timer')
    or diag(body_of($r));
json_is($r->{body},
        '{"id":"DB_TIMEOUT","code":504,"detail":"<any>","status":"<any>"}',
        'with the DB_TIMEOUT error body');
cmp_ok($r->{elapsed}, '>=', 0.8, 'not before invites_db_timeout');
cmp_ok($r->{elapsed}, '<=', 4, 'but soon after it');
like(error_log_text(), qr/\[error\].*PostgreSQL did not answer in time, closing the connection/,
     'the error log says nginx gave up on the connection');
ok(wait_backend_gone($before[0], 5), 'the unanswering connection was closed')
    or diag(psql("SELECT pid, state, wait_event_type, query $MODULE_BACKENDS"));
$r = create('thaw@example.com');
is($r->{status}, 200, 'the next Create succeeds on a new connection')
    or diag("body: " . ($r->{body} // ''));
json_is($r->{body}, invite_json('thaw@example.com'), 'with a valid invite');
my @after = split /\n/, psql("SELECT pid $MODULE_BACKENDS");
ok(@after && !grep({ $_ == $before[0] } @after), 'served by another backend');
is_deeply([worker_pids()], \@workers, 'same worker');
stop_nginx();


# ---- 3: pool 1, queue 1: the third request is refused at once (without a
# pipeline, where a connection carries one query; t/045 has it with one)

psql('TRUNCATE invites');
start_nginx(<<'CONF');
    location = /ping { return 200 "pong"; }
    location /invites/Invites/ {
        invites_api;
        invites_db_pool 1;
        invites_db_queue 1;
        invites_db_pipeline off;
    }
CONF
@workers = worker_pids();

$r = create('warm@example.com');
is($r->{status}, 200, 'warm-up Create (pool 1, queue 1)');
is(psql("SELECT count(*) $MODULE_BACKENDS"), 1, 'one pooled connection');

$lock = hold_lock();
my $first = create_start('first@example.com', timeout => 15);
is(wait_lock_waiters(1), 1, 'the first Create runs and waits for the lock');
my $second = create_start('second@example.com', timeout => 15);
sleep 0.2;
ok(still_waiting($second), 'the second Create waits in the queue');

$r = create('third@example.com', timeout => 5);
is($r->{status}, 503, 'the third Create is refused: the queue is full')
    or diag(body_of($r));
json_is($r->{body},
        '{"id":"DB_UNAVAILABLE","code":503,"detail":"<any>","status":"<any>"}',
        'with the DB_UNAVAILABLE error body');
cmp_ok($r->{elapsed}, '<', 0.5, 'at once');
ok(still_waiting($first) && still_waiting($second),
   'the first two are still waiting');
is(psql("SELECT count(*) $MODULE_BACKENDS"), 1,
   'still one connection: the pool is not exceeded');

release_lock($lock);
my $r1 = http_end($first);
my $r2 = http_end($second);
is($r1->{status}, 200, 'the running Create completes after the release');
json_is($r1->{body}, invite_json('first@example.com'), 'with a valid invite');
is($r2->{status}, 200, 'the queued Create completes after the release')
    or diag(body_of($r2));
json_is($r2->{body}, invite_json('second@example.com'), 'with a valid invite');
is(rows_for('third@example.com'), 0, 'the refused Create stored nothing');
like(error_log_text(), qr/already wait for a database connection, rejecting/,
     'the error log says why the third was refused');
is_deeply([worker_pids()], \@workers, 'same worker');
error_log_clean('no alert, crit or crash in error.log');
stop_nginx();
