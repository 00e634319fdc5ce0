# invites_status: the module's Prometheus metrics, summed over every worker
# through a shared memory zone, and kept across a reload.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Invites::Metrics;
use Time::HiRes qw(sleep time);

plan 'no_plan';
default_group('metrics');

my $CONFIG = <<'CONF';
    location = /metrics {
        add_header X-Worker $pid always;
        invites_status;
    }
    location /invites/Invites/ {
        add_header X-Worker $pid always;
        client_max_body_size 32k;
        invites_api;
    }
CONF

my ($VERSION) = `cat $FindBin::Bin/../ngx_http_invites_module/ngx_http_invites_version.h`
    =~ /NGX_HTTP_INVITES_VERSION\s+"([^"]+)"/;

sub requests { return metric($_[0], 'nginx_invites_requests_total',
                             endpoint => $_[1], status => $_[2]) // 0 }

sub backends { my @b = module_backends(); return scalar @b }

sub conns { return metric($_[0], 'nginx_invites_db_connections',
                          db => 'db1', state => $_[1]) }

# polls the metrics until $done->($m) or $secs pass; returns the last scrape
sub scrape_until {
    my ($done, $secs) = @_;
    my $deadline = time + slow($secs // 5);
    my $m;
    while (1) {
        $m = scrape();
        return $m if $done->($m) || time > $deadline;
        sleep 0.05;
    }
}


# ---- 1: the format, and what one worker counts

start_nginx($CONFIG, workers => 1);

my $m = scrape();
is($m->{status}, 200, 'invites_status answers 200');
is($m->{headers}{'content-type'}, 'text/plain; version=0.0.4',
   "with Prometheus' text format version");
is(metric($m, 'nginx_invites_info', version => $VERSION), 1,
   "nginx_invites_info carries the version header's $VERSION");
is(requests($m, 'create', 200), 0, 'nothing counted before any request');
is(conns($m, 'idle'), 0, 'no connection before any request');
is(metric($m, 'nginx_invites_db_waiting', db => 'db1'), 0, 'nobody waits');

my $r = http('POST', $METRICS, '{}');
is($r->{status}, 405, 'POST to invites_status: 405');

for my $i (1 .. 3) {
    is(create("c$i\@example.com")->{status}, 200, "Create $i: 200");
}
is(http('POST', "$API/Read", '{"id":"00000000-0000-4000-8000-000000000000"}')
   ->{status}, 404, 'Read of no invite: 404');
is(http('POST', "$API/Create", '{"group_id":"g"}')->{status}, 400,
   'Create without email: 400');
is(http('GET', "$API/List")->{status}, 405, 'GET List: 405');
is(http('POST', "$API/Nope", '{}')->{status}, 404, 'no such endpoint: 404');
is(http('POST', "$API/Create", 'x' x 40000)->{status}, 413,
   "a body over client_max_body_size: nginx's own 413");

$m = scrape();
is(requests($m, 'create', 200), 3, 'requests_total: the 3 Creates');
is(requests($m, 'read', 404), 1, 'the Read that found nothing');
is(requests($m, 'create', 400), 1, 'the Create without email');
is(requests($m, 'list', 405), 1, 'the GET List');
is(requests($m, 'unknown', 404), 1, 'the unknown endpoint');
is(requests($m, 'create', 413), 1, 'the 413 nginx sent before the module');
is(metric_sum($m, 'nginx_invites_requests_total'), 8,
   'nothing else is counted, the scrapes neither');

my $count = metric($m, 'nginx_invites_request_duration_seconds_count',
                   endpoint => 'create');
is($count, 5, 'the duration histogram counts the 5 Creates');
is(metric($m, 'nginx_invites_request_duration_seconds_bucket',
          endpoint => 'create', le => '+Inf'), 5, 'its +Inf bucket as well');
my @le = qw(0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 +Inf);
my @b = map { metric($m, 'nginx_invites_request_duration_seconds_bucket',
                     endpoint => 'create', le => $_) } @le;
is(scalar(grep { defined } @b), 14, 'buckets from 0.5 ms to 5 s, and +Inf');
is_deeply([sort { $a <=> $b } @b], \@b, 'the buckets are cumulative');
cmp_ok(metric($m, 'nginx_invites_request_duration_seconds_sum',
              endpoint => 'create'), '>', 0, 'the sum of their durations');

cmp_ok(conns($m, 'idle'), '>=', 1, 'an idle connection after the requests');
is(conns($m, 'busy'), 0, 'none busy');
is(conns($m, 'connecting'), 0, 'none connecting');
is(conns($m, 'idle'), backends(),
   'idle connections: as many as the module has backends');
is(metric($m, 'nginx_invites_db_connects_total', db => 'db1', result => 'ok'),
   conns($m, 'idle'), 'connects_total{ok}: each one opened');
is(metric($m, 'nginx_invites_db_connects_total', db => 'db1',
          result => 'failed'), 0, 'none failed');
for my $kind (qw(timeout unavailable read_only error)) {
    is(metric($m, 'nginx_invites_db_errors_total', db => 'db1', kind => $kind),
       0, "errors_total{kind=$kind} is there, at 0");
}
is(metric($m, 'nginx_invites_auth_cache_total', result => 'hit'), 0,
   'auth_cache_total{hit}: no key used');

SKIP: {
    my ($rc, $out) = promtool_check($m->{body});
    skip 'promtool is not installed (Debian package prometheus)', 1
        unless defined $rc;
    is($rc, 0, 'promtool check metrics accepts the output') or diag($out);
}

stop_nginx();


# ---- 2: gauges while queries wait; errors by kind

# one query per connection: in a pipeline the second would join the first
start_nginx(<<'CONF', workers => 1, http_config => <<'HTTP');
    location = /metrics { invites_status; }
    location /invites/Invites/ {
        invites_db_pipeline off;
        invites_api;
    }
CONF
    invites_db "$TEST_NGINX_PG_CONNINFO";
    invites_db_pool 1;
    invites_db_timeout 1s;
HTTP

is(create('warm@example.com')->{status}, 200,
   'a Create opens the connection (preparing waits for a lock too)');
my $lock = hold_lock();
my @stuck = map { create_start("wait$_\@example.com", timeout => 15) } 1 .. 2;
$m = scrape_until(sub { (conns($_[0], 'busy') // 0) == 1
                        && metric($_[0], 'nginx_invites_db_waiting',
                                  db => 'db1') == 1 });
is(conns($m, 'busy'), 1, 'a Create behind a lock: 1 busy connection');
is(metric($m, 'nginx_invites_db_waiting', db => 'db1'), 1,
   'the second waits in the queue of the pool of 1');
# the first gets statement_timeout (504); the second either waits out the
# queue (503) or gets the connection just in time, and times out too
my @st = sort map { http_end($_)->{status} } @stuck;
release_lock($lock);
ok($st[1] == 504 && ($st[0] == 503 || $st[0] == 504),
   "statement_timeout: 504, the one that waited: 503 or 504 (@st)");
$m = scrape();
is(metric($m, 'nginx_invites_db_errors_total', db => 'db1', kind => 'timeout'),
   scalar(grep { $_ == 504 } @st), 'errors_total{timeout}: one per 504');
is(metric($m, 'nginx_invites_db_errors_total', db => 'db1',
          kind => 'unavailable'), scalar(grep { $_ == 503 } @st),
   'errors_total{unavailable}: one per 503');
is(metric($m, 'nginx_invites_db_waiting', db => 'db1'), 0, 'nobody waits now');
is(conns($m, 'busy'), 0, 'no connection is busy');
is(requests($m, 'create', 504) + requests($m, 'create', 503), 2,
   'requests_total has their statuses');

$lock = hold_lock();
my $gone = create_start('gone@example.com', timeout => 15);
is(wait_lock_waiters(1, 5), 1, 'a Create waits behind the lock');
disconnect($gone);
$m = scrape_until(sub { requests($_[0], 'create', 499) == 1 });
release_lock($lock);
is(requests($m, 'create', 499), 1,
   'a client that left before the answer: counted with status 499');
stop_nginx();


# ---- 3: two workers: one scrape sees both

psql('TRUNCATE invites');
start_nginx($CONFIG, workers => 2);
my @workers = worker_pids();
is(scalar @workers, 2, 'two workers');

my %served;
my $sent = 0;
while ($sent < 200 && keys %served < 2 || $sent < 10) {
    $r = create("w$sent\@example.com");
    $sent++;
    $served{$r->{headers}{'x-worker'} // ''}++ if $r->{status} == 200;
}
is(scalar(grep { $_ } @served{@workers}), 2,
   "both workers served Creates ($sent sent)")
    or diag(explain(\%served));
my (%scraped, %scrapers);
for (1 .. 50) {
    $m = scrape();      # a new connection each: either worker answers
    $scraped{requests($m, 'create', 200)}++;
    $scrapers{$m->{headers}{'x-worker'} // ''}++;
}
is(scalar(grep { $_ } @scrapers{@workers}), 2, 'both workers answered scrapes')
    or diag(explain(\%scrapers));
is_deeply(\%scraped, {$sent => 50},
          "every scrape, from either worker, counts all $sent Creates");
is(conns($m, 'idle'), backends(),
   'idle connections: both workers\' backends');


# ---- 4: a reload keeps the counters; gauges do not drift

my @old = reload_nginx();
ok(wait_pids_gone(\@old, 5), 'the old workers exit');
$m = scrape_until(sub { conns($_[0], 'idle') == 0 });
is(requests($m, 'create', 200), $sent, "after the reload: still $sent Creates");
is(conns($m, 'idle'), 0,
   'the old workers\' connections are gone from the gauge');
is(wait_backends(sub { $_[0] == 0 }, 5), 0, 'and from PostgreSQL');
is(create('after@example.com')->{status}, 200, 'a Create on the new workers');
$m = scrape();
is(requests($m, 'create', 200), $sent + 1, 'counted on top');
is(conns($m, 'idle'), backends(),
   'idle connections: the new workers\' backends');
error_log_clean('no crash, alert or crit');
stop_nginx();


# ---- 5: the API key cache: a lookup, then a hit

start_nginx(<<'CONF', workers => 1);
    location = /metrics { invites_status; }
    location /keyed/ {
        invites_auth key;
        invites_api;
    }
CONF
my $key = psql("SELECT invites_key_create('acme', '')");
for my $i (1 .. 2) {
    is(http('POST', '/keyed/List', '{"group_id":"g"}',
            headers => ["Authorization: Bearer $key"])->{status}, 200,
       "List $i with a key: 200");
}
$m = scrape();
is(metric($m, 'nginx_invites_auth_cache_total', result => 'miss'), 1,
   'auth_cache_total{miss}: the first List looked its key up');
is(metric($m, 'nginx_invites_auth_cache_total', result => 'hit'), 1,
   'auth_cache_total{hit}: the second found it in the cache');
stop_nginx();


# ---- 6: PostgreSQL down: a failed connect, an unavailable answer

start_nginx($CONFIG, workers => 1);
pg_stop();
$r = create('down@example.com');
is($r->{status}, 503, 'Create with PostgreSQL down: 503');
$m = scrape();
cmp_ok(metric($m, 'nginx_invites_db_connects_total', db => 'db1',
              result => 'failed'), '>=', 1, 'connects_total{failed} counts it');
is(metric($m, 'nginx_invites_db_connects_total', db => 'db1', result => 'ok'),
   0, 'connects_total{ok}: none');
is(metric($m, 'nginx_invites_db_errors_total', db => 'db1',
          kind => 'unavailable'), 1, 'errors_total{unavailable}: the 503');
is(conns($m, 'connecting') + conns($m, 'idle') + conns($m, 'busy'), 0,
   'no connection left in any state');
pg_start();
stop_nginx();
