# PostgreSQL's max_connections (3) smaller than workers x pool (2 x 4): under
# concurrent load the module serves with the connections it gets, logs why
# it cannot open more, and does not storm the server with reconnects (the
# 1 s back-off per worker bounds the attempts).
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
default_group('maxconn');

my $MAX = 3;
my ($WORKERS, $POOL) = (2, 4);
my $DURATION = slow(8);
my $LOCATION = <<"CONF";
    location /invites/Invites/ {
        invites_api;
        invites_db_pool $POOL;
        add_header X-Worker \$pid always;
    }
CONF

pg_super(<<"SQL");
ALTER SYSTEM SET max_connections = $MAX;
ALTER SYSTEM SET superuser_reserved_connections = 0;
ALTER SYSTEM SET max_wal_senders = 0;
ALTER SYSTEM SET log_connections = on;
SQL
pg_stop();
pg_start();
is(psql('SHOW max_connections'), $MAX, "PostgreSQL runs with max_connections = $MAX");
is(psql('SHOW log_connections'), 'on', 'and logs every connection');

start_nginx($LOCATION, workers => $WORKERS);
my @workers = worker_pids();
is(scalar @workers, $WORKERS, "$WORKERS workers, pool $POOL each");

# no psql while the load runs: the module may hold every connection slot
my $from = server_log_size();
my $t0 = time;
my $load = load_start(clients => 10, requests => 1000, duration => $DURATION,
                      pace => 0.05, timeout => slow(10), tag => 'm');
my $recs = load_wait($load, $DURATION + slow(20));
my $t1 = time;
my $fig = load_figures($recs, "max_connections $MAX");

is(scalar @{$load->{killed}}, 0, 'every client finished by itself');
my @noanswer = grep { defined $_->{error} || !defined $_->{status} } @$recs;
is(scalar @noanswer, 0, 'every request got a response');
my @bad = grep { defined $_->{status} && $_->{status} != 200
                 && !($_->{status} >= 500 && !$_->{bad_5xx}) } @$recs;
is(scalar @bad, 0, 'every answer is a 200 or a JSON 5xx with a database error id')
    or diag(join "\n", map { "$_->{op}: $_->{status} " . ($_->{err} // '') }
                       @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
my $ok = $fig->{status}{200} // 0;
cmp_ok($ok, '>', @$recs / 4, "the module still serves ($ok of " . scalar(@$recs) . ' answered 200)');
cmp_ok($fig->{max_elapsed}, '<', slow(5), 'no request waited long');

my $log = error_log_text();
my ($line) = $log =~ /^(.*invites: cannot connect to PostgreSQL .*too many clients.*)$/m;
ok($line, 'the error log says why a connection could not be opened');
diag("error.log: $line") if $line;
my $refused = () = $log =~ /invites: cannot connect to PostgreSQL .*too many clients/g;

my $pglog = server_log_since($from);
my $attempts = () = $pglog =~ /connection received: host=127\.0\.0\.1/g;
my $rejected = () = $pglog =~ /FATAL:  sorry, too many clients already/g;
my $secs = $t1 - $t0;
diag(sprintf 'over %.1fs: %d connection attempts by the module (%.1f/s, %.2f/s per worker),'
     . ' %d rejected by PostgreSQL with "too many clients", %d such lines in error.log',
     $secs, $attempts, $attempts / $secs, $attempts / $secs / $WORKERS, $rejected, $refused);
cmp_ok($attempts, '>', 0, 'PostgreSQL saw the module connect');
cmp_ok($rejected, '>', 0, 'and refused some connections');
# each worker opens at most its pool per back-off period (1 s) when it fails
my $bound = $WORKERS * $POOL * ($secs + 2);
cmp_ok($attempts, '<=', $bound,
       "no reconnect storm: at most workers x pool per second ($attempts <= "
       . int($bound) . ')');

is_deeply([worker_pids()], \@workers, 'the same workers (none crashed)');
error_log_clean('no crash, alert or crit in error.log');
stop_nginx();
is(psql("SELECT count(*) $MODULE_BACKENDS"), 0, 'no module backend left after quit');


# ---- 2: a single connection slot for two workers: one worker may get none
# (pools keep idle connections); it must answer 503 at once, not storm

pg_super('ALTER SYSTEM SET max_connections = 1');
pg_stop();
pg_start();
start_nginx($LOCATION, workers => $WORKERS);
@workers = worker_pids();
$from = server_log_size();
$t0 = time;
$load = load_start(clients => 10, requests => 1000, duration => slow(5),
                   pace => 0.05, timeout => slow(10), tag => 'one', group => 'one');
$recs = load_wait($load, slow(25));
$t1 = time;
$fig = load_figures($recs, 'max_connections 1');
@bad = grep { !defined $_->{status} || defined $_->{error}
              || ($_->{status} != 200 && $_->{bad_5xx})
              || ($_->{status} != 200 && $_->{status} < 500) } @$recs;
is(scalar @bad, 0, 'one slot: every request got a 200 or a JSON 5xx');
cmp_ok($fig->{status}{200} // 0, '>', 0, 'one slot: the module still serves');
cmp_ok($fig->{max_elapsed}, '<', slow(5), 'one slot: no request waited long');
$pglog = server_log_since($from);
$attempts = () = $pglog =~ /connection received: host=127\.0\.0\.1/g;
$secs = $t1 - $t0;
diag(sprintf 'one slot, over %.1fs: %d connection attempts (%.2f/s per worker)',
     $secs, $attempts, $attempts / $secs / $WORKERS);
cmp_ok($attempts, '<=', $WORKERS * $POOL * ($secs + 2), 'one slot: no reconnect storm');
my @starved = grep { !($fig->{worker}{$_}{200}) } keys %{$fig->{worker}};
diag(@starved ? "one slot: worker @starved answered no request with 200 (its pool"
                . ' never got a connection while the other worker kept the only one idle)'
              : 'one slot: both workers answered some requests with 200');
is_deeply([worker_pids()], \@workers, 'one slot: the same workers');
error_log_clean('one slot: no crash, alert or crit in error.log');
stop_nginx();
