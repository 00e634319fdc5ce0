# PostgreSQL restarted (pg_ctl stop -m fast, then start) while 20 clients
# send 2,000 mixed requests to 2 workers: no worker dies, no request hangs,
# every answer is a 2xx or m3o's JSON 5xx with a database error id, and every
# Create answered 200 is in the table afterwards with the same id and code.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
default_group('restart');

my $CLIENTS = 20;
my $REQUESTS = 100;
my $TIMEOUT = slow(10);

start_nginx(<<'CONF', workers => 2);
    location /invites/Invites/ {
        invites_api;
        add_header X-Worker $pid always;
    }
CONF
my @workers = worker_pids();
is(scalar @workers, 2, 'two workers');

# warm both workers' pools
my @warm = map { create_start("warm$_\@example.com") } 1 .. 8;
is_deeply([map { http_end($_)->{status} } @warm], [(200) x 8], 'warm-up Creates: 200');

my $load = load_start(clients => $CLIENTS, requests => $REQUESTS,
                      timeout => $TIMEOUT, pace => 0.04, tag => 'r');

# restart once the load is well under way
my $deadline = time + slow(30);
sleep 0.05 while load_done($load) < $CLIENTS * $REQUESTS * 0.25 && time < $deadline;
my $done_before = load_done($load);
my $t_stop = time;
pg_stop();
my $t_down = time;
sleep 0.5;
pg_start();
my $t_up = time;
note(sprintf 'PostgreSQL stopped after %d answers; stop took %.2fs, down %.2fs',
     $done_before, $t_down - $t_stop, $t_up - $t_down);

my $recs = load_wait($load, slow(50));
my $fig = load_figures($recs, 'restart under load');
my $window = grep { $_->{t1} >= $t_stop && $_->{t0} <= $t_up + 1 } @$recs;
diag(sprintf 'requests in the fault window (stop .. start + 1 s): %d', $window);
my ($last_5xx) = sort { $b <=> $a } map { $_->{t1} }
                 grep { ($_->{status} // 0) >= 500 } @$recs;
my ($first_ok) = sort { $a <=> $b } map { $_->{t1} }
                 grep { ($_->{status} // 0) == 200 && $_->{t0} > $t_stop } @$recs;
diag(sprintf 'first 5xx %s; last 5xx %s; first 200 to a request sent after pg_stop %s'
     . ' (seconds relative to PostgreSQL back up)',
     map { defined $_ ? sprintf('%+.2f', $_ - $t_up) : 'none' }
     (sort { $a <=> $b } map { $_->{t1} } grep { ($_->{status} // 0) >= 500 } @$recs)[0],
     $last_5xx, $first_ok);

is(scalar @{$load->{killed}}, 0, 'every client finished by itself');
is(scalar @$recs, $CLIENTS * $REQUESTS, 'every request was sent and recorded');
cmp_ok($done_before, '<', $CLIENTS * $REQUESTS * 0.9,
       'the restart happened while the load ran');
cmp_ok(scalar(grep { $_->{t0} > $t_up } @$recs), '>', 0,
       'requests were still being sent after PostgreSQL came back');

my @noanswer = grep { defined $_->{error} || !defined $_->{status} } @$recs;
is(scalar @noanswer, 0, 'every request got a response (none hung or was cut)')
    or diag(join "\n", map { "$_->{op} $_->{client}/$_->{n}: "
                             . ($_->{error} // 'no status') }
                       @noanswer[0 .. ($#noanswer > 9 ? 9 : $#noanswer)]);
cmp_ok($fig->{max_elapsed}, '<', $TIMEOUT, 'no answer took as long as the client timeout');

my @bad = grep { defined $_->{status}
                 && !($_->{status} >= 200 && $_->{status} < 300)
                 && !($_->{status} >= 500 && !$_->{bad_5xx}) } @$recs;
is(scalar @bad, 0, 'every answer is a 2xx or a JSON 5xx with DB_UNAVAILABLE, DB_TIMEOUT or DB_ERROR')
    or diag(join "\n", map { "$_->{op} $_->{client}/$_->{n}: $_->{status} "
                             . ($_->{err} // '') }
                       @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);

my @wrong_read = grep { $_->{op} eq 'Read' && ($_->{status} // 0) == 200
                        && ($_->{id} // '') ne ($_->{wanted} // '') } @$recs;
is(scalar @wrong_read, 0, 'every Read answered 200 returned the invite asked for');

my @fault = grep { ($_->{status} // 0) >= 500 } @$recs;
cmp_ok(scalar(grep { $_->{t1} < $t_stop - 0.5 } @fault), '==', 0,
       'no 5xx before the restart began');
my @late = grep { $_->{t0} > $t_up + slow(3) } @$recs;
is(scalar(grep { ($_->{status} // 0) != 200 } @late), 0,
   'every request started 3 s after PostgreSQL came back answered 200 ('
   . scalar(@late) . ' requests)');

my ($acked, $found) = acknowledged_creates_check($recs, 'restart under load');
cmp_ok($acked, '>', 0, 'some Creates were acknowledged');

my $backends = psql("SELECT count(*) $MODULE_BACKENDS");
cmp_ok($backends, '<=', 8, "no more backends than 2 workers x pool 4 ($backends)");
is_deeply([worker_pids()], \@workers, 'the same two workers (none crashed)');
error_log_clean('no crash, alert or crit in error.log');
my $retries = () = error_log_text() =~ /invites: retrying \w+ on another connection/g;
my $lost = () = error_log_text() =~ /invites: PostgreSQL connection lost/g;
diag("error.log: $retries retried statements, $lost 'connection lost' lines");
stop_nginx();
