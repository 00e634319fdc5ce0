# Reload and graceful quit: old workers close their idle PostgreSQL
# connections and exit promptly, leaving no backend behind; a request in
# flight during a reload still completes.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
default_group('reload');

# Polls until the module has at most $n backends (of @pids, when given);
# returns the last count.
sub wait_backends_at_most {
    my ($n, $secs, @pids) = @_;
    my $where = @pids ? ' AND pid IN (' . join(',', @pids) . ')' : '';
    return wait_backends(sub { $_[0] <= $n }, $secs, $where);
}

my $BAD_LOG = qr/exited on signal|left in connection|\[(?:alert|crit|emerg)\]/;

sub log_clean {
    my $what = shift;
    error_log_clean("$what: no crash, leaked socket, alert or crit in error.log",
                    $BAD_LOG);
}

my $CONFIG = <<'CONF';
    location = /ping { return 200 "pong"; }
    location /invites/Invites/ { invites_api; }
CONF


# ---- 1: reload closes the old workers' connections; quit leaves none

start_nginx($CONFIG, workers => 2);
my @workers = worker_pids();
is(scalar @workers, 2, 'two workers');

# several at once, twice, so that the workers open connections
for my $round (1 .. 2) {
    my @h = map { create_start("r$round-$_\@example.com") } 1 .. 6;
    my @st = map { http_end($_)->{status} } @h;
    is_deeply(\@st, [(200) x 6], "round $round of warm-up Creates: 200");
}
my @old_backends = module_backends();
cmp_ok(scalar @old_backends, '>', 0,
       'idle pooled connections exist (' . scalar(@old_backends) . ')');
cmp_ok(scalar @old_backends, '<=', 8, 'no more than 2 workers x pool 4');

my $t0 = time;
my @old = reload_nginx();
is_deeply([sort @old], [sort @workers], 'reload_nginx returns the old workers');
ok(wait_pids_gone(\@old, 5), 'the old workers exit within 5 s')
    or diag('still alive: ' . join ' ', grep { kill 0, $_ } @old);
note(sprintf 'old workers gone %.2fs after the reload', time - $t0);

is(wait_backends_at_most(0, 5, @old_backends), 0,
   "the old workers' PostgreSQL backends are gone")
    or diag(psql("SELECT pid, state, query $MODULE_BACKENDS"));
is(wait_backends_at_most(0, 1), 0,
   'no module backend at all before the new workers get a request');

my @new = worker_pids();
is(scalar @new, 2, 'two new workers');
ok(!grep({ my $n = $_; grep { $_ == $n } @old } @new), 'they are new processes');
for my $i (1 .. 4) {
    my $r = create("new$i\@example.com");
    is($r->{status}, 200, "Create $i on the new workers: 200") or diag(body_of($r));
    json_is($r->{body}, invite_json("new$i\@example.com"), "Create $i: a valid invite");
}
my @new_backends = module_backends();
cmp_ok(scalar @new_backends, '>', 0, 'the new workers opened connections');
cmp_ok(scalar @new_backends, '<=', 8, 'within their pools');
ok(!grep({ my $n = $_; grep { $_ == $n } @old_backends } @new_backends),
   'none of them is an old backend');

my $master = nginx_pid();
$t0 = time;
stop_nginx();           # QUIT, then TERM after 5 s
my $took = time - $t0;
cmp_ok($took, '<', 4.5, sprintf('graceful quit takes less than 5 s (%.2fs)', $took));
ok(!kill(0, $master), 'the master is gone');
ok(wait_pids_gone(\@new, 1), 'the workers are gone');
is(wait_backends_at_most(0, 5), 0, 'no module backend remains after quit')
    or diag(psql("SELECT pid, state, query $MODULE_BACKENDS"));
log_clean('reload and quit');
like(error_log_text(), qr/gracefully shutting down/, 'the workers shut down gracefully');


# ---- 2: a request in flight during a reload still completes

psql('TRUNCATE invites');
start_nginx($CONFIG, workers => 1);
@workers = worker_pids();
my $r = create('warm@example.com');
is($r->{status}, 200, 'warm-up Create');
@old_backends = module_backends();
is(scalar @old_backends, 1, 'one pooled connection');

my $lock = hold_lock();
my $stuck = create_start('inflight@example.com', timeout => 15);
is(wait_lock_waiters(1, 5), 1, 'a Create is stuck behind the table lock');

@old = reload_nginx();
my $t_reload = time;
is_deeply(\@old, \@workers, 'reloaded');
sleep 0.3;
ok(kill(0, $old[0]), 'the old worker stays while its request is in flight');
ok(still_waiting($stuck), 'the request has no answer yet');
my $p = http('GET /ping', undef, undef, timeout => 2);
is($p->{status}, 200, 'the new worker answers meanwhile');

sleep 1 - (time - $t_reload) if time - $t_reload < 1;
release_lock($lock);
$r = http_end($stuck);
is($r->{status}, 200, 'the in-flight Create completes after the reload')
    or diag(body_of($r));
json_is($r->{body}, invite_json('inflight@example.com'), 'with a valid invite');
is(rows_for('inflight@example.com'), 1, 'and its row is stored');
ok(wait_pids_gone(\@old, 5), 'then the old worker exits')
    or diag('still alive: ' . join ' ', grep { kill 0, $_ } @old);
is(wait_backends_at_most(0, 5, @old_backends), 0,
   "and its PostgreSQL backend is gone")
    or diag(psql("SELECT pid, state, query $MODULE_BACKENDS"));

$r = create('after@example.com');
is($r->{status}, 200, 'the new worker serves Create') or diag(body_of($r));
json_is($r->{body}, invite_json('after@example.com'), 'with a valid invite');

$master = nginx_pid();
@new = worker_pids();
$t0 = time;
stop_nginx();
$took = time - $t0;
cmp_ok($took, '<', 4.5, sprintf('graceful quit takes less than 5 s (%.2fs)', $took));
ok(!kill(0, $master) && wait_pids_gone(\@new, 1), 'nginx is gone');
is(wait_backends_at_most(0, 5), 0, 'no module backend remains after quit');
log_clean('in-flight reload');
