# A real Prometheus server (Debian's package) scrapes invites_status every
# second: the figures arrive, and read through its HTTP API.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Invites::Metrics;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

my ($PROMETHEUS) = grep { -x } map { "$_/prometheus" }
                   split(/:/, $ENV{PATH} // ''), '/usr/bin';
plan skip_all => 'prometheus is not installed (Debian package prometheus; '
    . './build.sh test installs it)' unless $PROMETHEUS;
plan 'no_plan';
default_group('prom');

my $PROM_PID;
END { if ($PROM_PID) { kill 'TERM', $PROM_PID; waitpid($PROM_PID, 0) } }

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1) or die $!;
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# the value of an instant query's first sample, or undef
sub query {
    my ($port, $q) = @_;
    my $r = http('GET', '/api/v1/query?query=' . uri_escape($q), undef,
                 port => $port, timeout => 5);
    return undef unless ($r->{status} // 0) == 200 && $r->{json}
        && $r->{json}{status} eq 'success';
    my $res = $r->{json}{data}{result};
    return @$res ? $res->[0]{value}[1] : undef;
}

sub query_until {
    my ($port, $q, $want, $secs) = @_;
    my $deadline = time + slow($secs);
    my $got;
    while (time < $deadline) {
        $got = query($port, $q);
        return $got if defined $got && $got eq $want;
        sleep 0.25;
    }
    return $got;
}

start_nginx(<<'CONF', workers => 2);
    location = /metrics { invites_status; }
    location /invites/Invites/ { invites_api; }
CONF

my $dir = tempdir('invites-prometheus-XXXXXX', DIR => '/tmp', CLEANUP => 1);
my $port = free_port();
my $target = '127.0.0.1:' . server_port();
open my $fh, '>', "$dir/prometheus.yml" or die $!;
print $fh <<"YML";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: invites
    metrics_path: $METRICS
    static_configs:
      - targets: ['$target']
YML
close $fh;

$PROM_PID = fork // die "fork: $!";
if (!$PROM_PID) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$dir/prometheus.log";
    open STDERR, '>&', \*STDOUT;
    exec $PROMETHEUS, "--config.file=$dir/prometheus.yml",
         "--storage.tsdb.path=$dir/data", "--web.listen-address=127.0.0.1:$port"
        or POSIX::_exit(127);
}

my $ready;
my $deadline = time + slow(30);
while (time < $deadline) {
    my $r = http('GET', '/-/ready', undef, port => $port, timeout => 1);
    last if $ready = ($r->{status} // 0) == 200;
    sleep 0.2;
}
ok($ready, "Prometheus is ready on 127.0.0.1:$port") or do {
    diag(`cat $dir/prometheus.log`);
    exit 1;
};

is(query_until($port, qq(up{job="invites"}), 1, 15), 1,
   'Prometheus scrapes invites_status: up is 1');

my $n = 5;
for my $i (1 .. $n) {
    is(create("p$i\@example.com")->{status}, 200, "Create $i: 200");
}
is(http('POST', "$API/Read", '{}')->{status}, 400, 'a Read without id: 400');

is(query_until($port,
               qq(sum(nginx_invites_requests_total{endpoint="create",status="200"})),
               $n, 15),
   $n, "nginx_invites_requests_total{endpoint=\"create\",status=\"200\"} "
       . "reads $n in Prometheus");
is(query_until($port,
               qq(sum(nginx_invites_requests_total{endpoint="read",status="400"})),
               1, 5), 1, 'and the Read without id, by its status');
is(query_until($port,
               qq(sum(nginx_invites_request_duration_seconds_count{endpoint="create"})),
               $n, 5), $n, 'the duration histogram of Create counts them');
cmp_ok(query($port, qq(sum(nginx_invites_db_connections{db="db1",state="idle"}))),
       '>=', 1, 'the idle connections gauge arrives');
is(query($port, qq(nginx_invites_info)), 1, 'nginx_invites_info is 1');

stop_nginx();
