# PostgreSQL killed with SIGKILL: the module's backend killed while its
# statement waits for a table lock (the postmaster then restarts every
# backend), and the postmaster itself killed under load and started again.
# The request in flight is answered at once (not after invites_db_timeout),
# the worker survives, and the module recovers without a reload.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
default_group('kill');

# acknowledged means committed: the harness runs PostgreSQL with
# synchronous_commit=off, which may lose the last commits in a crash
psql('ALTER ROLE invites SET synchronous_commit = on');

my $CONFIG = <<'CONF';
    location /invites/Invites/ {
        invites_api;
        invites_db_timeout 5s;
        add_header X-Worker $pid always;
    }
CONF

# psql that waits out PostgreSQL's crash recovery
sub psql_retry {
    my ($sql, $secs) = @_;
    my $deadline = time + ($secs // 15);
    while (1) {
        my $out = eval { psql($sql) };
        return $out if defined $out;
        die $@ if time > $deadline;
        sleep 0.2;
    }
}

sub create_until_ok {
    my ($email, $secs) = @_;
    my $t0 = time;
    my ($r, $n) = (undef, 0);
    while (1) {
        $r = create($email, timeout => 10);
        $n++;
        last if ($r->{status} // 0) == 200 || time - $t0 > $secs;
        sleep 0.2;
    }
    return ($r, time - $t0, $n);
}

sub stuck_then_killed {
    my ($what, $email) = @_;
    my $lock = hold_lock();
    $lock->{PrintWarn} = 0;     # the server's WARNING as the crash ends it
    my $stuck = create_start($email, timeout => 15);
    is(wait_lock_waiters(1), 1, "$what: the Create waits for the table lock");
    my ($victim) = split /\n/, psql("SELECT pid $MODULE_BACKENDS"
                                    . " AND wait_event_type = 'Lock'");
    ok(kill('KILL', $victim), "$what: its backend $victim is killed with SIGKILL");
    my $r = http_end($stuck);
    eval { $lock->disconnect };     # the postmaster ended that session too
    my $id = micro_5xx($r);
    diag(sprintf '%s: the stuck Create was answered %s%s after %.2fs',
         $what, $r->{status} // 'nothing', $id ? " $id" : '', $r->{elapsed});
    ok(($r->{status} // 0) == 200 || $id,
       "$what: it is answered, 200 or a JSON 5xx with a database error id")
        or diag(body_of($r));
    cmp_ok($r->{elapsed}, '<', 3,
           "$what: at once, not after invites_db_timeout (5 s)");
    return $r;
}


# ---- 1: the backend of a pooled connection that served before is killed

start_nginx($CONFIG, workers => 1);
my @workers = worker_pids();
my $r = create('warm@example.com');
is($r->{status}, 200, 'warm-up Create: the pool has a connection that served');

$r = stuck_then_killed('reused connection', 'stuck1@example.com');
if (($r->{status} // 0) == 200) {
    json_is($r->{body}, invite_json('stuck1@example.com'), 'the retried Create is a valid invite');
    is(psql_retry("SELECT count(*) FROM invites WHERE email = 'stuck1\@example.com'"),
       1, 'and it is stored');
}
my $log = error_log_text();
like($log, qr/\[error\].*invites: PostgreSQL connection lost/,
     'the error log says the connection was lost');
diag('the module ' . ($log =~ /retrying \w+ on another connection/
                      ? 'retried the killed statement on another connection'
                      : 'did not retry the killed statement'));

my ($ok, $took, $n) = create_until_ok('after1@example.com', 10);
is($ok->{status}, 200, 'after the crash recovery, Create succeeds again')
    or diag(body_of($ok));
diag(sprintf 'reused connection: recovered %.2fs after the kill (%d tries)', $took, $n);
for my $i (1 .. 5) {
    $r = create("again1-$i\@example.com");
    is($r->{status}, 200, "Create $i after recovery: 200") or diag(body_of($r));
}
cmp_ok(psql("SELECT count(*) $MODULE_BACKENDS"), '<=', 4, 'within the pool size');
is_deeply([worker_pids()], \@workers, 'the same worker');
error_log_clean('reused connection: no crash, alert or crit in error.log');
stop_nginx();


# ---- 2: the backend of a connection opened for this very request is killed

start_nginx($CONFIG, workers => 1);
@workers = worker_pids();
stuck_then_killed('fresh connection', 'stuck2@example.com');
($ok, $took, $n) = create_until_ok('after2@example.com', 10);
is($ok->{status}, 200, 'fresh connection: Create succeeds again') or diag(body_of($ok));
diag(sprintf 'fresh connection: recovered %.2fs after the kill (%d tries)', $took, $n);
is_deeply([worker_pids()], \@workers, 'the same worker');
error_log_clean('fresh connection: no crash, alert or crit in error.log');
stop_nginx();


# ---- 3: the postmaster is killed with SIGKILL under load, then started

psql('TRUNCATE invites');
start_nginx($CONFIG, workers => 2);
@workers = worker_pids();
my @warm = map { create_start("warm$_\@example.com") } 1 .. 6;
is_deeply([map { http_end($_)->{status} } @warm], [(200) x 6], 'warm-up Creates: 200');

my $load = load_start(clients => 10, requests => 1000, duration => slow(12),
                      pace => 0.03, timeout => slow(10), tag => 'k');
sleep 2;
my $pm = postmaster_pid();
ok($pm, "the postmaster runs ($pm)");
my $t_kill = time;
ok(kill('KILL', $pm), 'the postmaster is killed with SIGKILL');
sleep 2;
my $t_start = time;
pg_start_retry(15);
my $t_up = time;
isnt(postmaster_pid(), $pm, 'a new postmaster runs');
diag(sprintf 'postmaster killed; started again %.2fs later (pg_start took %.2fs)',
     $t_start - $t_kill, $t_up - $t_start);

my $recs = load_wait($load, slow(40));
my $fig = load_figures($recs, 'postmaster SIGKILL under load');
is(scalar @{$load->{killed}}, 0, 'every client finished by itself');
my @noanswer = grep { defined $_->{error} || !defined $_->{status} } @$recs;
is(scalar @noanswer, 0, 'every request got a response')
    or diag(join "\n", map { "$_->{op}: " . ($_->{error} // '') }
                       @noanswer[0 .. ($#noanswer > 9 ? 9 : $#noanswer)]);
my @bad = grep { defined $_->{status}
                 && !($_->{status} >= 200 && $_->{status} < 300)
                 && !($_->{status} >= 500 && !$_->{bad_5xx}) } @$recs;
is(scalar @bad, 0, 'every answer is a 2xx or a JSON 5xx with a database error id')
    or diag(join "\n", map { "$_->{op}: $_->{status} " . ($_->{err} // '') }
                       @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
my @down = grep { $_->{t0} > $t_kill + 0.5 && $_->{t1} < $t_start } @$recs;
my @down503 = grep { ($_->{err} // '') eq 'DB_UNAVAILABLE' } @down;
cmp_ok(scalar @down503, '>', 0,
       'while PostgreSQL is down, requests are answered 503 DB_UNAVAILABLE ('
       . scalar(@down503) . ' of ' . scalar(@down) . ')');
is(scalar(grep { ($_->{status} // 0) == 200 } @down), 0,
   'and none is answered 200');
my $slow_down = grep { $_->{elapsed} > 1.5 } @down;
is($slow_down, 0, 'each of them at once (under 1.5 s)');
my @late = grep { $_->{t0} > $t_up + slow(3) } @$recs;
cmp_ok(scalar @late, '>', 0, 'the load went on after PostgreSQL came back');
is(scalar(grep { ($_->{status} // 0) != 200 } @late), 0,
   'every request started 3 s after the new start answered 200 ('
   . scalar(@late) . ' requests), without a reload');
my ($first_ok) = sort { $a <=> $b } map { $_->{t1} }
                 grep { ($_->{status} // 0) == 200 && $_->{t0} > $t_start } @$recs;
diag(sprintf 'first 200 %.2fs after pg_start returned',
     defined $first_ok ? $first_ok - $t_up : -1);
acknowledged_creates_check($recs, 'postmaster SIGKILL');
unlike(error_log_text(), qr/reconfiguring/, 'nginx was not reloaded');
cmp_ok(psql("SELECT count(*) $MODULE_BACKENDS"), '<=', 8, 'within 2 workers x pool 4');
is_deeply([worker_pids()], \@workers, 'the same two workers');
error_log_clean('postmaster SIGKILL: no crash, alert or crit in error.log');
stop_nginx();
