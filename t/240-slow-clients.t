# Slow clients hold no worker: a body sent one byte per 100 ms, a body or a
# header that stalls (client_body_timeout / client_header_timeout 1s: 408 or
# the connection closed), and a client that never reads a large List answer
# (send_timeout 1s).  Meanwhile the single worker answers others at once.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use JSON::PP ();
use POSIX ();
use Socket qw(AF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep time);

plan 'no_plan';
workers 1;
default_group('slow');

my $FAST = slow(0.2);   # "answered at once"
my $BIG = 1000;         # invites in the List nobody reads (one page),
my $PAD = 6000;         # with this much metadata each: ~6 MB, more than
                        # loopback socket buffers take (4 MB)

start_nginx(<<'CONF');
    client_header_timeout 1s;
    client_body_timeout 1s;
    send_timeout 1s;
    location = /ping { return 200 "pong"; }
    location /invites/Invites/ { invites_api; invites_fields all; }
CONF
my @workers = worker_pids();
is(create('warm@example.com')->{status}, 200, 'warm-up Create');

# runs a raw request (a list of packets) in a child; returns its pid and the
# file its answer is written to
sub slow_request {
    my @packets = @_;
    my $file = servroot() . "/slow-$$-" . int(rand 1e9);
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $r = http(\@packets, undef, undef, raw => 1, timeout => slow(10));
        open my $fh, '>', $file or POSIX::_exit(2);
        print $fh JSON::PP->new->encode({map { $_ => $r->{$_} }
                                         qw(status elapsed error raw)});
        close $fh;
        POSIX::_exit(0);
    }
    return ($pid, $file);
}

# pings and Creates while $alive->() is true (at most $secs); returns the
# answers
sub others_meanwhile {
    my ($alive, $secs, $tag) = @_;
    my $deadline = time + $secs;
    my @r;
    my $i = 0;
    while ($alive->() && time < $deadline) {
        $i++;
        my $r = $i % 3 ? http('GET /ping', undef, undef, timeout => 2)
                       : create("$tag-$i\@example.com", timeout => 2);
        push @r, $r;
        sleep 0.1;
    }
    return \@r;
}

sub others_ok {
    my ($rs, $what) = @_;
    cmp_ok(scalar @$rs, '>=', 5, "$what: others sent requests meanwhile (" . scalar(@$rs) . ')');
    is(scalar(grep { ($_->{status} // 0) != 200 } @$rs), 0, "$what: all answered 200");
    my ($max) = sort { $b <=> $a } map { $_->{elapsed} } @$rs;
    cmp_ok($max, '<', $FAST, sprintf "%s: each within %.1fs (slowest %.3fs)", $what, $FAST, $max);
}

sub child_result {
    my ($pid, $file) = @_;
    waitpid $pid, 0;
    open my $fh, '<', $file or return {};
    local $/;
    return JSON::PP->new->decode(<$fh>);
}

sub access_lines { open my $fh, '<', servroot() . '/logs/access.log' or return (); return <$fh> }


# ---- 1: a body sent one byte per 100 ms (each read resets client_body_timeout)

my $body = '{"group_id":"slow","email":"drip@example.com"}';
my @drip = ("POST /invites/Invites/Create HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\nContent-Length: " . length($body) . "\r\n\r\n",
            map { {value => $_, delay_before => 0.1} } split //, $body);
my ($pid, $file) = slow_request(@drip);
my $others = others_meanwhile(sub { waitpid($pid, POSIX::WNOHANG()) == 0 }, slow(15), 'drip');
my $r = child_result($pid, $file);
is($r->{status}, 200, 'a body dripped one byte per 100 ms is read to its end: 200')
    or diag("error: " . ($r->{error} // '') . " raw: " . ($r->{raw} // ''));
cmp_ok($r->{elapsed}, '>=', length($body) * 0.1 - 0.5, sprintf 'after %.1fs of dripping', $r->{elapsed});
others_ok($others, 'body drip');


# ---- 2: a body that stalls: client_body_timeout

($pid, $file) = slow_request(
    "POST /invites/Invites/Create HTTP/1.1\r\nHost: localhost\r\n"
    . "Connection: close\r\nContent-Length: 100\r\n\r\n",
    {value => '{"group_id":', delay_before => 0.1},
    {value => '"x"}', delay_before => slow(3)});
$others = others_meanwhile(sub { waitpid($pid, POSIX::WNOHANG()) == 0 }, slow(15), 'stall');
$r = child_result($pid, $file);
ok(!defined $r->{status} || $r->{status} == 408,
   'a stalled body gets 408 or the connection closed ('
   . ($r->{status} // 'closed, ' . ($r->{error} // 'no answer')) . ')');
ok(grep({ m{"POST /invites/Invites/Create HTTP/1\.1" 408 } } access_lines()),
   'access.log records the 408');
others_ok($others, 'stalled body');


# ---- 3: a header sent one byte per 100 ms: client_header_timeout (total)

my $head = "POST /invites/Invites/List HTTP/1.1\r\nHost: localhost\r\nX-Pad: "
           . ('a' x 40) . "\r\n\r\n";
my $t = time;
($pid, $file) = slow_request(map { {value => $_, delay_before => 0.1} } split //, $head);
$others = others_meanwhile(sub { waitpid($pid, POSIX::WNOHANG()) == 0 }, slow(15), 'hdr');
$r = child_result($pid, $file);
ok(!defined $r->{status} || $r->{status} == 408,
   'a header dripped one byte per 100 ms: 408 or closed ('
   . ($r->{status} // 'closed') . ')');
ok(error_log_text() =~ /client timed out .* while reading client request (?:line|headers)/,
   'error.log: client timed out while reading the request line or headers');
others_ok($others, 'header drip');


# ---- 4: a client that never reads a large answer: send_timeout

psql(<<"SQL");
INSERT INTO invites (tenant, id, group_id, email, code, metadata)
SELECT '', gen_random_uuid(), 'big', 'user' || i || '\@big.example.com',
       (10000000 + i)::text, jsonb_build_object('pad', repeat('x', $PAD))
FROM generate_series(1, $BIG) AS i;
SQL
$r = http('POST', "$API/List", '{"group_id":"big"}', timeout => slow(20));
is($r->{status}, 200, "List of $BIG invites, read normally: 200");
my $full = length $r->{raw};
my $clen = $r->{headers}{'content-length'} // 0;
diag("the List answer: $full bytes received, Content-Length $clen");
is(length($r->{body} // ''), $clen, 'the whole body arrives (as long as its Content-Length)');
is(ref $r->{json} eq 'HASH' && ref $r->{json}{invites} eq 'ARRAY'
   ? scalar @{$r->{json}{invites}} : 'no JSON', $BIG, "it is JSON with the $BIG invites");
$full = length($r->{raw}) > $clen ? length $r->{raw} : $clen + 200;

socket(my $lazy, AF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($lazy, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
connect($lazy, pack_sockaddr_in(server_port(), inet_aton('127.0.0.1'))) or die "connect: $!";
my $req = qq({"group_id":"big"});
syswrite($lazy, "POST $API/List HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
         . "Content-Length: " . length($req) . "\r\n\r\n$req");
my $t_lazy = time;
$others = others_meanwhile(sub { time - $t_lazy < slow(3) }, slow(4), 'lazy');
others_ok($others, 'client not reading');
my $line;
my $deadline = time + slow(5);
until ($line || time > $deadline) {
    ($line) = grep { m{"POST /invites/Invites/List HTTP/1\.1" 200 (\d+)} && $1 < $full }
              access_lines();
    sleep 0.1 unless $line;
}
ok($line, 'nginx gave up on the client that does not read (access.log: 200, part of the body)')
    or diag(join '', grep { /List/ } access_lines());
diag("access.log: $line") if $line;
ok(error_log_text() =~ /client timed out .* while sending (?:response )?to client/,
   'error.log: send_timeout ended it (client timed out while sending)');
close $lazy;

$r = create('after@example.com');
is($r->{status}, 200, 'a Create afterwards: 200') or diag(body_of($r));
cmp_ok(psql("SELECT count(*) $MODULE_BACKENDS"), '<=', 4, 'the pool bound holds');
is_deeply([worker_pids()], \@workers, 'the same worker throughout');
error_log_clean('no crash or crit in error.log', qr/exited on signal|\[(?:crit|emerg)\]/);
error_log_clean('no alert in error.log', qr/\[alert\]/);
stop_nginx();
