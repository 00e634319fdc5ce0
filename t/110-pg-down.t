# PostgreSQL down, restarted, or not answering: the module answers 503 at
# once (or after invites_db_connect_timeout), keeps serving everything else,
# and recovers by itself once the database is back, without a reload.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

plan 'no_plan';
workers 1;
default_group('down');

my $UNAVAILABLE =
    '{"id":"DB_UNAVAILABLE","code":503,"detail":"<any>","status":"<any>"}';

# Polls Create every 200 ms until it answers 200; returns the last answer
# and how long it took.
sub create_until_ok {
    my ($email, $secs) = @_;
    my $t0 = time;
    my $r;
    while (1) {
        $r = create($email, timeout => 5);
        last if ($r->{status} // 0) == 200 || time - $t0 > $secs;
        sleep 0.2;
    }
    return ($r, time - $t0);
}

sub no_crash {
    my ($workers, $what) = @_;
    error_log_clean("$what: no crash, alert or crit in error.log");
    is_deeply([worker_pids()], $workers, "$what: the worker is the same process");
}

my $CONFIG = <<'CONF';
    location = /ping { return 200 "pong"; }
    location /invites/Invites/ { invites_api; }
CONF


# ---- 1: PostgreSQL is down when nginx starts, and comes up later

pg_stop();
my $pg_up = 0;
start_nginx($CONFIG);
my @workers = worker_pids();

my $r = create('first@example.com', timeout => 10);
is($r->{status}, 503, 'Create with PostgreSQL down is answered 503')
    or diag(body_of($r));
json_is($r->{body}, $UNAVAILABLE, 'with the DB_UNAVAILABLE error body');
is($r->{headers}{'content-type'}, 'application/json', 'as application/json');
cmp_ok($r->{elapsed}, '<', 1.5, 'quickly, well within the connect timeout');

for my $i (1 .. 3) {
    $r = create("again$i\@example.com", timeout => 10);
    is($r->{status}, 503, "Create $i more while down: 503") or diag(body_of($r));
    cmp_ok($r->{elapsed}, '<', 1.5, "Create $i more while down: quickly");
}

$r = http('GET /ping', undef, undef, timeout => 2);
is($r->{status}, 200, 'a plain location still answers');
is($r->{body}, 'pong', 'with its body');
cmp_ok($r->{elapsed}, '<', 0.5, 'at once');
like(error_log_text(), qr/\[error\].*invites: cannot connect to PostgreSQL/,
     'the error log says the database cannot be reached');

pg_start();
my ($ok, $took) = create_until_ok('up@example.com', 10);
is($ok->{status}, 200, 'once PostgreSQL is up, Create succeeds without a reload')
    or diag(body_of($ok));
json_is($ok->{body}, invite_json('up@example.com'), 'with a valid invite');
cmp_ok($took, '<', 10, "within a few seconds (took ${\ sprintf '%.1f', $took}s)");
for my $i (1 .. 3) {
    $r = create("up$i\@example.com");
    is($r->{status}, 200, "Create $i more after recovery: 200") or diag(body_of($r));
}
unlike(error_log_text(), qr/reconfiguring/, 'nginx was not reloaded');
no_crash(\@workers, 'PostgreSQL down at start');
stop_nginx();


# ---- 2: PostgreSQL restarts under a warm pool

psql('TRUNCATE invites');
start_nginx($CONFIG);
@workers = worker_pids();
is(scalar @workers, 1, 'one worker');

# warm the pool: several at once so that more than one connection opens
my @h = map { create_start("w$_\@example.com", group => 'warm') } 1 .. 4;
my @res = map { http_end($_) } @h;
is_deeply([map { $_->{status} } @res], [200, 200, 200, 200], 'warm-up Creates: 200');
my $conns = psql("SELECT count(*) $MODULE_BACKENDS");
cmp_ok($conns, '>', 0, "the pool holds connections ($conns)");

pg_stop();
pg_start();
is(psql("SELECT count(*) $MODULE_BACKENDS"), 0,
   'the restart dropped every pooled connection');

($ok, $took) = create_until_ok('restart@example.com', 10);
is($ok->{status}, 200, 'after the restart, Create succeeds again') or diag(body_of($ok));
json_is($ok->{body}, invite_json('restart@example.com'), 'with a valid invite');
cmp_ok($took, '<', 10, "within a few seconds (took ${\ sprintf '%.1f', $took}s)");

# no stale connection is left in the pool to fail a later request
for my $i (1 .. 6) {
    $r = create("after$i\@example.com");
    is($r->{status}, 200, "Create $i after the recovery: 200") or diag(body_of($r));
}
$r = http('POST', "$API/List", '{"group_id":"down"}');
is($r->{status}, 200, 'List after the recovery: 200');
is(scalar @{$r->{json}{invites} // []}, 7, 'and it sees the new invites');
cmp_ok(psql("SELECT count(*) $MODULE_BACKENDS"), '<=', 4,
       'no more connections than the pool allows');
no_crash(\@workers, 'PostgreSQL restart');
stop_nginx();


# ---- 3: a server that accepts TCP but never answers: connect timeout

my $black_hole = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'tcp', Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $bh_port = $black_hole->sockport;

start_nginx(<<"CONF");
    location = /ping { return 200 "pong"; }
    location /invites/Invites/ { invites_api; }
    location /hole/ {
        invites_db "host=127.0.0.1 port=$bh_port dbname=invites user=invites";
        invites_db_connect_timeout 1s;
        invites_api;
    }
CONF
@workers = worker_pids();

$r = create('hole@example.com', prefix => '/hole', timeout => 10);
is($r->{status}, 503, 'a database that never answers the startup gets 503')
    or diag(body_of($r));
json_is($r->{body}, $UNAVAILABLE, 'with the DB_UNAVAILABLE error body');
cmp_ok($r->{elapsed}, '>=', 0.7, 'not before invites_db_connect_timeout');
cmp_ok($r->{elapsed}, '<=', 4, 'but soon after it');
like(error_log_text(), qr/\[error\].*invites: connecting to PostgreSQL timed out/,
     'the error log says connecting timed out');

$r = create('hole2@example.com', prefix => '/hole', timeout => 10);
is($r->{status}, 503, 'right after the failed connect: 503 again') or diag(body_of($r));
cmp_ok($r->{elapsed}, '<', 0.5, 'at once, without another connect attempt');

$r = http('GET /ping', undef, undef, timeout => 2);
is($r->{status}, 200, 'a plain location still answers');
cmp_ok($r->{elapsed}, '<', 0.5, 'at once');
$r = create('real@example.com', timeout => 5);
is($r->{status}, 200, 'the location on the real database is not affected')
    or diag(body_of($r));
no_crash(\@workers, 'connect timeout');
stop_nginx();
close $black_hole;
