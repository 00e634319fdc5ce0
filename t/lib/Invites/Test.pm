package Invites::Test;

# Invites::Test - the test harness of ngx_http_invites_module.
#
# A Test::Base subclass in the spirit of Test::Nginx (written from scratch, not
# a copy): each .t file gets its own throwaway PostgreSQL cluster and its own
# nginx servroot/port, so files are independent and `prove -j2` is safe.
#
#     use FindBin; use lib "$FindBin::Bin/lib";
#     use Invites::Test;
#     plan 'no_plan';
#     run_tests();
#     __DATA__
#     === TEST 1: create returns an invite
#     --- config
#         location /invites/Invites/ { invites_api; }
#     --- request
#     POST /invites/Invites/Create
#     {"group_id":"g1","email":"A@Example.com"}
#     --- response_body_json
#     {"invite":{"id":"<uuid>","group_id":"g1","email":"a@example.com","code":"<code>"}}
#
# Block sections (Test::Base: `--- name [filters]`, `--- name: value`):
#   config            inside the single `server {}` (listen 127.0.0.1:<port>,
#                     server_name localhost). Missing: the previous block's.
#                     Every http {} starts with "invites_fields m3o;" (the
#                     m3o contract, byte for byte); a block of the
#                     lifecycle's fields says "invites_fields all;" below.
#   http_config       inside `http {}`; without one, default_http_config() is
#                     used (`invites_db "$TEST_NGINX_PG_CONNINFO";` unless
#                     TEST_INVITES_NO_MODULE is set).
#   main_config       main context, after the load_module line.
#   sql               SQL run with psql (db invites, user invites) before nginx
#                     is started for the block: fixtures, TRUNCATE ...
#   request           "METHOD URI [HTTP/x.y]", then the body (trimmed, as
#                     Test::Nginx does). `request eval` may return an array of
#                     such strings: sequential requests, one connection each;
#                     every expectation section must then be an eval'd array.
#   request_body      (extension) the exact body, replacing request's body.
#   raw_request       sent verbatim; an eval'd array is a list of packets
#                     (strings or {value => ..., delay_before => secs}).
#   more_headers      "Name: value" lines added to the request. Host,
#                     Connection: close and Content-Length are added unless
#                     given here (or Transfer-Encoding: chunked is).
#   timeout           client I/O timeout, "5" (default), "0.5", "500ms".
#   error_code        expected status (default 200; always one test).
#   response_headers  "Name: value" exact lines; "! Name" = must be absent.
#   response_headers_like  "Name: regex" (anchored) lines.
#   response_body     exact body (a qr// from eval means like()).
#   response_body_like / response_body_unlike   regex, /s, not anchored.
#   response_body_json  (extension) the body must be JSON and cmp_deeply the
#                     expected JSON, where the strings "<uuid>" (lowercase
#                     UUID v4), "<code>" (8 digits), "<time>" (RFC 3339
#                     UTC with milliseconds), "<any>" and
#                     "<re:REGEX>" are matchers (in JSON text a regex
#                     backslash is written "\\"). `eval` may return a Perl
#                     structure using Test::Deep matchers (re, ignore, bag,
#                     superhashof, ...: imported for eval sections).
#   error_log / no_error_log  lines (substrings) or an eval'd list of strings
#                     and qr//s, checked once per block (one test each)
#                     against the block's error.log.
#   debug_log         as error_log, for lines only an nginx built with
#                     --with-debug writes; skipped (one skip each, with the
#                     reason) on an nginx without it.
#   wait              seconds to sleep before the log checks.
#   must_die          nginx must fail to start; the optional value is a regex
#                     expected in its stderr/error.log. No request is sent.
#   ONLY, SKIP, LAST  Test::Base's.
# In config, http_config, main_config, sql and plain response_body,
# $TEST_NGINX_PG_PORT, $TEST_NGINX_PG_CONNINFO, $TEST_NGINX_SERVER_PORT,
# $TEST_NGINX_SERVROOT (alias $TEST_NGINX_SERVER_ROOT) and any
# $TEST_NGINX_* environment variable are expanded; an unknown one dies.
# Each check is named "<file> TEST N: title - what", plus " (req N)" when a
# block sends several requests. Every section present is checked (unlike
# Test::Nginx, response_headers_like is checked next to response_headers).
#
# Lifecycle: the PostgreSQL cluster (initdb as postgres when root, trust
# auth, role and database `invites`, every sql/*.sql applied in order) is
# made when the .t file uses this module, on a free loopback port, with its
# socket in its temp dir; it is stopped and removed at exit, also on failure,
# die or SIGINT/TERM/HUP. Every block (re)starts nginx from a fresh conf/ and
# logs/ in the servroot: `daemon off`, a direct child, master_process on, 1
# worker (as nobody when root), error_log debug, everything under servroot.
#
# Functions (exported, plus Test::Base's and Test::More's usual ones):
#   run_tests()                run every block in file order.
#   default_http_config($text) set (or, without argument, get) the http lines
#                              used by blocks/start_nginx without their own.
#   master_on() master_off() workers($n) log_level($lvl)
#   add_block_preprocessor(sub { my $block = shift; ... })  no_shuffle()
#   start_nginx($config, %opts)  opts: http_config, main_config, workers,
#                              master; dies with the error log on failure.
#   stop_nginx()  reload_nginx([$config, %opts])  HUP (after rewriting the
#                              conf when given), waits for new workers and
#                              returns the old worker pids
#   worker_pids()  nginx_pid()  wait_pids_gone(\@pids, $secs) -> bool
#   http($method, $uri, $body, %opts) or http("GET /uri") or http($raw)
#                              opts: headers (array of lines or hash),
#                              timeout, port, raw (send $raw verbatim even
#                              when it looks like "GET /uri")
#                              -> {status, headers (lc names), body, json
#                              (decoded or undef), elapsed, raw, error}
#   http_start(same args) -> handle; http_end($handle) -> as http()
#   error_log_text()  server_port()  servroot()
#   nginx_has_debug()          true when nginx was built --with-debug
#   psql($sql) -> stdout (-qtAX, last newline chomped), dies on error
#   pg_stop()  pg_start()  pg_port()  pg_conninfo()
#   json_is($body, $expected, $name)   as response_body_json
#   chunked($body, $size)  $body in chunked framing, $size-byte chunks
#
# Environment:
#   TEST_INVITES_NO_MODULE=1     no load_module / invites_db lines
#   TEST_INVITES_PIPELINE=on|off `invites_db_pipeline on|off;` first in
#                                http {}, for the blocks that do not set it
#   TEST_INVITES_MODULE=path.so  default <repo>/build/ngx_http_invites_module.so
#   TEST_INVITES_PG_CONNINFO=... use this server instead of a private cluster
#                                (provisioned by the caller; no pg_stop/start)
#   TEST_INVITES_PG_TEMPLATE=dir copy dir/data (an initdb'ed cluster) instead
#                                of running initdb
#   TEST_INVITES_PG_BINDIR=dir   default `pg_config --bindir`
#   TEST_NGINX_BINARY            default nginx from PATH, else /usr/sbin/nginx
#   TEST_NGINX_SERVROOT=dir      use (and keep) this servroot
#   TEST_NGINX_KEEP_SERVROOT=1   keep the temporary servroot (path diag'ed)
#   TEST_NGINX_TIMEOUT           default client timeout (5 s)
#   TEST_NGINX_WRAPPER="cmd args" run nginx as `cmd args nginx ...` (valgrind);
#                                its forked workers are then every child of
#                                the master, whatever their title
#   TEST_NGINX_PRELOAD=lib.so    LD_PRELOAD for nginx only (a sanitizer
#                                runtime; workers inherit it at fork)
#   TEST_INVITES_REPORT_DIR=dir  memory checker logs (ASan/UBSan log_path,
#                                valgrind --log-file): after nginx stops, a
#                                new report there (ERROR SUMMARY > 0, an
#                                AddressSanitizer/LeakSanitizer error, a UBSan
#                                "runtime error") fails the running test file
#   TEST_INVITES_SLOW=factor     multiplies the harness's waits (start, stop,
#                                reload, client timeouts) for slow runs such
#                                as valgrind; slow($secs) gives tests the same
# Exported to the test: $ENV{TEST_INVITES_PG_PORT}.

use strict;
use warnings;
use Test::Base -base;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::Deep ();
use Test::LongString ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    run_tests default_http_config master_on master_off workers log_level
    add_block_preprocessor no_shuffle
    start_nginx stop_nginx reload_nginx worker_pids nginx_pid wait_pids_gone
    http http_start http_end error_log_text server_port servroot
    nginx_has_debug
    psql pg_stop pg_start pg_port pg_conninfo json_is chunked
    done_testing note subtest cmp_deeply slow
);

{
    no warnings 'once';
    *done_testing = \&Test::More::done_testing;
    *note         = \&Test::More::note;
    *subtest      = \&Test::More::subtest;
    *cmp_deeply   = \&Test::Deep::cmp_deeply;
}

# `--- x eval` code runs in Test::Base::Filter: give it the usual matchers.
for my $m (qw(re ignore superhashof subhashof bag set array_each any all
              num str bool code noneof))
{
    no strict 'refs';
    *{"Test::Base::Filter::$m"} = \&{"Test::Deep::$m"}
        unless defined &{"Test::Base::Filter::$m"};
}

my $REPO = abs_path(dirname(__FILE__) . '/../../..');
my $OWNER_PID = $$;
my $SLOW = $ENV{TEST_INVITES_SLOW} || 1;
my $DEFAULT_TIMEOUT = ($ENV{TEST_NGINX_TIMEOUT} || 5) * $SLOW;
my $UUID_RE = qr/\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\z/;

my %PG;         # dir data bindir port conninfo external running
my %NGX = (master => 1, workers => 1, log_level => 'debug');
my $DEFAULT_HTTP;
my $LAST_CONFIG;
my @PREPROCESSORS;

$SIG{PIPE} = 'IGNORE';  # nginx may close while we still write a body
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { print STDERR "# caught SIG$sig, cleaning up\n"; exit 1 };
}

# PostgreSQL is started when a .t file uses the module (not under perl -c).
sub import {
    _pg_setup() unless $^C;
    goto &Test::Base::import;
}

END {
    local $?;
    _cleanup() if $$ == $OWNER_PID;
}

# seconds, scaled by TEST_INVITES_SLOW: for bounds a memory checker stretches
sub slow ($) { return $_[0] * $SLOW }


# ---------------------------------------------------------------- helpers

# Runs a command (as postgres when asked and we are root), from "/", with
# stdin from a file or /dev/null; returns (exit status, stdout, stderr).
sub _run {
    my ($cmd, %o) = @_;
    my @cmd = @$cmd;
    unshift @cmd, 'runuser', '-u', 'postgres', '--' if $o{as_postgres} && $> == 0;
    my $err = File::Temp->new(DIR => '/tmp', TEMPLATE => 'invites-err-XXXXXX');
    my $pid = open(my $out, '-|') // die "fork: $!";
    if (!$pid) {
        $SIG{PIPE} = 'DEFAULT';
        chdir '/';
        open STDIN, '<', $o{in} // '/dev/null';
        open STDERR, '>', $err->filename;
        exec { $cmd[0] } @cmd or print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    local $/;
    my $stdout = <$out> // '';
    close $out;
    my $rc = $?;
    open my $e, '<', $err->filename or die "$err: $!";
    my $stderr = <$e> // '';
    return ($rc, $stdout, $stderr);
}

sub _slurp {
    my $file = shift;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

sub _spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh or die "$file: $!";
}

sub _free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "cannot bind a loopback port: $!";
    return $s->sockport;
}

# Waits for a child to exit; returns true once it is reaped.
sub _reap {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return 1 if $r == $pid || $r == -1;
        sleep 0.005;
    }
    return 0;
}

sub _cleanup {
    _stop_nginx();
    if ($NGX{servroot} && !$NGX{keep}) {
        remove_tree($NGX{servroot});
    } elsif ($NGX{servroot}) {
        Test::More::diag("servroot kept: $NGX{servroot}");
    }
    return if $PG{external} || !$PG{dir};
    _pg_ctl('stop', '-m', 'fast') if $PG{running};
    remove_tree($PG{dir});
    %PG = ();
}


# ------------------------------------------------------------- PostgreSQL

sub _pg_bindir {
    return $ENV{TEST_INVITES_PG_BINDIR} if $ENV{TEST_INVITES_PG_BINDIR};
    my $dir = `pg_config --bindir 2>/dev/null` // '';
    chomp $dir;
    return $dir if $dir && -x "$dir/initdb";
    my @found = sort glob '/usr/lib/postgresql/*/bin';
    return $found[-1] if @found;
    die "Invites::Test: no PostgreSQL bindir (set TEST_INVITES_PG_BINDIR)\n";
}

sub _pg_ctl {
    my ($action, @args) = @_;
    my @cmd = ("$PG{bindir}/pg_ctl", '-D', $PG{data}, '-w', '-t', '30', @args);
    if ($action eq 'start') {
        push @cmd, '-l', "$PG{dir}/server.log", '-o',
            "-c listen_addresses=127.0.0.1 -p $PG{port} -k $PG{dir}"
            . ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
    }
    my ($rc, $out, $err) = _run([@cmd, $action], as_postgres => 1);
    if ($action eq 'start') {
        $PG{running} = !$rc;
    } elsif (!$rc) {
        $PG{running} = 0;
    }
    return ($rc, "$out$err");
}

sub _pg_setup {
    return if $PG{port};
    if (my $ci = $ENV{TEST_INVITES_PG_CONNINFO}) {
        %PG = (external => 1, conninfo => $ci,
               port => $ci =~ /\bport=(\d+)/ ? $1 : 5432);
        $ENV{TEST_INVITES_PG_PORT} = $PG{port};
        return;
    }

    $PG{bindir} = _pg_bindir();
    $PG{dir} = tempdir('invites-pg-XXXXXX', DIR => '/tmp');
    $PG{data} = "$PG{dir}/data";
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('postgres')
            or die "Invites::Test: no 'postgres' user\n";
        chown $uid, $gid, $PG{dir} or die "chown $PG{dir}: $!";
    }

    my $tpl = $ENV{TEST_INVITES_PG_TEMPLATE};
    my ($rc, $out, $err);
    if ($tpl && -d "$tpl/data") {
        ($rc, $out, $err) = _run(['cp', '-a', "$tpl/data", $PG{data}]);
    } else {
        ($rc, $out, $err) = _run(["$PG{bindir}/initdb", '-D', $PG{data},
            '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync',
            '-U', 'postgres'], as_postgres => 1);
    }
    die "Invites::Test: creating the cluster failed:\n$out$err" if $rc;

    for my $try (1 .. 3) {
        $PG{port} = _free_port();
        ($rc, $out) = _pg_ctl('start');
        last unless $rc;
        my $log = _slurp("$PG{dir}/server.log");
        die "Invites::Test: pg_ctl start failed:\n$out$log"
            if $try == 3 || $log !~ /could not (?:bind|create listen)/;
    }
    $PG{conninfo} = "host=127.0.0.1 port=$PG{port} dbname=invites user=invites";
    $ENV{TEST_INVITES_PG_PORT} = $PG{port};

    my $have = _psql_as('postgres', 'postgres',
        "SELECT 1 FROM pg_database WHERE datname = 'invites'");
    return if $have;    # a template that already carries the schema
    _psql_as('postgres', 'postgres', <<'SQL');
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'invites') THEN
        CREATE ROLE invites LOGIN;
    END IF;
END $$;
CREATE DATABASE invites OWNER invites;
SQL
    for my $file (sort glob "$REPO/sql/*.sql") {
        _psql_as('invites', 'invites', undef, $file);
    }
}

# psql in the private cluster through its socket (or with the external
# conninfo); returns stdout without its last newline, dies on any error.
sub _psql_as {
    my ($user, $db, $sql, $file) = @_;
    my $tmp;
    if (!defined $file) {
        $tmp = File::Temp->new(DIR => '/tmp', TEMPLATE => 'invites-sql-XXXXXX');
        print $tmp $sql;
        close $tmp;
        $file = $tmp->filename;
    }
    my @conn = $PG{external}
        ? ('-d', $PG{conninfo})
        : ('-h', $PG{dir}, '-p', $PG{port}, '-U', $user, '-d', $db);
    my ($rc, $out, $err) = _run(['psql', '-qtAX', '-v', 'ON_ERROR_STOP=1',
                                 @conn, '-f', $file]);
    die "psql failed: $err" . ($sql // "(file $file)") . "\n" if $rc;
    chomp $out;
    return $out;
}

sub psql {
    my $sql = shift;
    _pg_setup();
    return _psql_as('invites', 'invites', $sql);
}

sub pg_port { _pg_setup(); return $PG{port} }
sub pg_conninfo { _pg_setup(); return $PG{conninfo} }

sub pg_stop {
    die "pg_stop: the PostgreSQL server is external\n" if $PG{external};
    my ($rc, $out) = _pg_ctl('stop', '-m', 'fast');
    die "pg_stop failed: $out" if $rc;
}

sub pg_start {
    die "pg_start: the PostgreSQL server is external\n" if $PG{external};
    my ($rc, $out) = _pg_ctl('start');
    die "pg_start failed: $out" . _slurp("$PG{dir}/server.log") if $rc;
}


# ------------------------------------------------------------------ nginx

sub master_on () { $NGX{master} = 1 }
sub master_off () { $NGX{master} = 0 }
sub workers ($) { $NGX{workers} = shift }
sub log_level ($) { $NGX{log_level} = shift }
sub no_shuffle () { }    # blocks always run in file order
sub add_block_preprocessor (&) { push @PREPROCESSORS, shift }
sub server_port () { return $NGX{port} //= _free_port() }
sub nginx_pid () { return $NGX{pid} }

sub default_http_config {
    $DEFAULT_HTTP = shift if @_;
    return $DEFAULT_HTTP if defined $DEFAULT_HTTP;
    return $ENV{TEST_INVITES_NO_MODULE} ? ''
         : qq{invites_db "\$TEST_NGINX_PG_CONNINFO";\n};
}

sub servroot () {
    return $NGX{servroot} if $NGX{servroot};
    if (my $dir = $ENV{TEST_NGINX_SERVROOT}) {
        make_path($dir);
        @NGX{qw(servroot keep)} = (abs_path($dir), 1);
    } else {
        $NGX{servroot} = tempdir('invites-nginx-XXXXXX', DIR => '/tmp');
        $NGX{keep} = $ENV{TEST_NGINX_KEEP_SERVROOT};
        Test::More::diag("servroot: $NGX{servroot}") if $NGX{keep};
    }
    chmod 0755, $NGX{servroot};     # workers run as nobody
    return $NGX{servroot};
}

sub _expand {
    my $text = shift;
    return $text unless defined $text && !ref $text;
    my %v = (TEST_NGINX_PG_PORT => $PG{port},
             TEST_NGINX_PG_CONNINFO => $PG{conninfo},
             TEST_NGINX_SERVER_PORT => server_port(),
             TEST_NGINX_SERVROOT => servroot(),
             TEST_NGINX_SERVER_ROOT => servroot());
    $text =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
        $v{$1} // $ENV{$1} // die "No environment $1 defined.\n"
    }ge;
    return $text;
}

sub _module_path {
    my $so = $ENV{TEST_INVITES_MODULE} || "$REPO/build/ngx_http_invites_module.so";
    Test::More::BAIL_OUT("$so not found: run ./build.sh first") unless -f $so;
    return $so;
}

my $HAS_DEBUG;

sub nginx_has_debug () {
    $HAS_DEBUG //= (`"@{[_nginx_binary()]}" -V 2>&1` =~ /--with-debug\b/)
                   ? 1 : 0;
    return $HAS_DEBUG;
}

sub _nginx_binary {
    return $ENV{TEST_NGINX_BINARY} if $ENV{TEST_NGINX_BINARY};
    for my $dir (split(/:/, $ENV{PATH} // ''), '/usr/sbin') {
        return "$dir/nginx" if -x "$dir/nginx";
    }
    die "Invites::Test: no nginx binary (set TEST_NGINX_BINARY)\n";
}

sub _write_conf {
    my %a = @_;
    my $root = servroot();
    my $port = server_port();
    my $load = $ENV{TEST_INVITES_NO_MODULE} ? ''
             : 'load_module ' . _module_path() . ";\n";
    my $mode = $ENV{TEST_INVITES_PIPELINE} // '';
    die "Invites::Test: TEST_INVITES_PIPELINE is on or off\n"
        unless $mode =~ /^(?:on|off|)$/;
    my $pipeline = $ENV{TEST_INVITES_NO_MODULE} || $mode eq ''
                 ? '' : "    invites_db_pipeline $mode;\n";
    # the m3o contract by default: blocks of the lifecycle's fields say
    # "invites_fields all;" in their server or location
    my $fields = $ENV{TEST_INVITES_NO_MODULE} ? ''
               : "    invites_fields m3o;\n";
    my $http = defined $a{http_config} ? $a{http_config} : default_http_config();
    my $master = ($a{master} // $NGX{master}) ? 'on' : 'off';
    my $workers = $a{workers} // $NGX{workers};
    my $conf = <<"CONF";
# generated by Invites::Test for $0
${load}daemon off;
master_process $master;
worker_processes $workers;
error_log $root/logs/error.log $NGX{log_level};
pid $root/logs/nginx.pid;
CONF
    $conf .= _expand($a{main_config} // '') . <<"CONF";

events {
    worker_connections 1024;
    accept_mutex off;
}

http {
    access_log $root/logs/access.log;
    client_body_temp_path $root/client_body_temp;
    proxy_temp_path $root/proxy_temp;
    fastcgi_temp_path $root/fastcgi_temp;
    uwsgi_temp_path $root/uwsgi_temp;
    scgi_temp_path $root/scgi_temp;
    default_type text/plain;
$pipeline$fields
CONF
    $conf .= _expand($http) . <<"CONF";

    server {
        listen 127.0.0.1:$port;
        server_name localhost;

CONF
    $conf .= _expand($a{config} // '') . "\n    }\n}\n";
    _spew("$root/conf/nginx.conf", $conf);
}

# Starts nginx as our child; returns undef once it accepts connections, or
# the reason (its stderr and error.log) when it did not.
sub _launch {
    my %a = @_;
    _stop_nginx();
    $NGX{args} = {%a};
    my $root = servroot();
    my $bin = _nginx_binary();
    my $why;
    for my $try (1 .. 3) {
        remove_tree(map { "$root/$_" } qw(conf logs html),
                    map { "${_}_temp" } qw(client_body proxy fastcgi uwsgi scgi));
        make_path(map { "$root/$_" } qw(conf logs html));
        _write_conf(%a);
        my @wrap = split ' ', $ENV{TEST_NGINX_WRAPPER} // '';
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            $SIG{PIPE} = 'DEFAULT';
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', "$root/logs/stderr.log";
            open STDERR, '>&', \*STDOUT;
            $ENV{LD_PRELOAD} = $ENV{TEST_NGINX_PRELOAD}
                if $ENV{TEST_NGINX_PRELOAD};
            if (my $dir = $ENV{TEST_INVITES_REPORT_DIR}) {
                # this file's own subdirectory: see _report_dir()
                my $sub = _report_dir();
                s/\Q$dir\E/$sub/g for @wrap, grep { defined }
                    @ENV{qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS)};
            }
            exec { $wrap[0] // $bin } @wrap, $bin, '-p', "$root/",
                 '-c', 'conf/nginx.conf', '-e', 'logs/error.log'
                or print STDERR "exec $bin: $!\n";
            POSIX::_exit(127);
        }
        $why = _await($pid, $root);
        if (!defined $why) {
            # the master listens before it forks: under a slow wrapper the
            # workers may not exist yet when the port answers
            my $want = ($a{master} // $NGX{master}) ? $a{workers} // $NGX{workers} : 0;
            my $deadline = time + slow(5);
            sleep 0.01 while $want && _children($pid) < $want && time < $deadline;
            return undef;
        }
        last unless $why =~ /Address already in use/;
        $NGX{port} = _free_port();      # lost a race for the port
    }
    return $why;
}

sub _await {
    my ($pid, $root) = @_;
    my $deadline = time + slow(5);
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $? >> 8;
            return _slurp("$root/logs/stderr.log") . _slurp("$root/logs/error.log")
                || "nginx exited at start with status $status\n";
        }
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $NGX{port}, Proto => 'tcp', Timeout => 0.5);
        if ($s) {
            close $s;
            $NGX{pid} = $pid;
            return undef;
        }
        sleep 0.005;
    }
    $NGX{pid} = $pid;
    _stop_nginx();
    return "nginx did not accept connections within " . slow(5) . "s\n"
        . _slurp("$root/logs/error.log");
}

sub _stop_nginx {
    my $pid = delete $NGX{pid} or return;
    my @children = _children($pid);
    kill 'QUIT', $pid;
    if (!_reap($pid, slow(5))) {
        kill 'TERM', $pid;
        if (!_reap($pid, slow(3))) {
            kill 'KILL', $pid, @children;
            _reap($pid, 2);
        }
    }
    _check_reports();
}

# Memory checker reports written since the last look fail the test file.
# Each test file has its own subdirectory of TEST_INVITES_REPORT_DIR (its
# nginx gets the paths rewritten), so that files run by `prove -j` do not
# see each other's reports.
my %REPORT_SEEN;
my $REPORT_SUB;
sub _report_dir {
    my $dir = $ENV{TEST_INVITES_REPORT_DIR} or return;
    return $REPORT_SUB if $REPORT_SUB;
    (my $name = $0) =~ s{.*/}{};
    $REPORT_SUB = "$dir/$name.$OWNER_PID";
    make_path($REPORT_SUB);
    chmod 01777, $REPORT_SUB;       # workers run as nobody
    return $REPORT_SUB;
}

sub _check_reports {
    my $dir = _report_dir() or return;
    my @bad;
    for my $f (sort glob "$dir/*") {
        my $size = -s $f // 0;
        next if ($REPORT_SEEN{$f} // -1) == $size;
        $REPORT_SEEN{$f} = $size;
        my $text = _slurp($f);
        push @bad, "$f:\n$text" if $text =~ /ERROR\ SUMMARY:\ [1-9]
            |ERROR:\ (?:Address|Leak|UndefinedBehavior)Sanitizer
            |runtime\ error:/x;
    }
    return unless @bad;
    Test::More::ok(0, "$0: memory checker report(s) from nginx")
        or Test::More::diag(join "\n", @bad);
}

sub _children {
    my $pid = shift;
    my @out = `ps -o pid=,args= --ppid $pid 2>/dev/null`;
    my @pids;
    for (@out) {
        my ($child, $args) = /^\s*(\d+)\s+(.*)/ or next;
        push @pids, $child if $args =~ /worker process/
                              || $ENV{TEST_NGINX_WRAPPER};
    }
    return @pids;
}

sub worker_pids () {
    my $pid = $NGX{pid} or return ();
    return $NGX{master_now} ? _children($pid) : ($pid);
}

sub wait_pids_gone {
    my ($pids, $secs) = @_;
    my $deadline = time + slow($secs // 5);
    while (time < $deadline) {
        return 1 unless grep { kill 0, $_ } @$pids;
        sleep 0.01;
    }
    return 0;
}

sub start_nginx {
    my ($config, %opts) = @_;
    my $why = _launch(config => $config, %opts);
    die "start_nginx failed:\n$why" if defined $why;
    $NGX{master_now} = $opts{master} // $NGX{master};
    $NGX{workers_now} = $opts{workers} // $NGX{workers};
}

sub stop_nginx () { _stop_nginx() }

sub reload_nginx {
    my ($config, %opts) = @_;
    die "reload_nginx: nginx is not running with a master\n"
        unless $NGX{pid} && $NGX{master_now};
    _write_conf(%{$NGX{args}}, config => $config, %opts) if defined $config;
    my @old = worker_pids();
    my %old = map { $_ => 1 } @old;
    kill 'HUP', $NGX{pid};
    my $want = $opts{workers} // $NGX{workers_now};
    my $deadline = time + slow(5);
    while (time < $deadline) {
        my @new = grep { !$old{$_} } worker_pids();
        return @old if @new >= $want;
        sleep 0.01;
    }
    die "reload_nginx: no new workers within " . slow(5) . "s:\n"
        . error_log_text();
}

sub error_log_text () { return _slurp(servroot() . '/logs/error.log') }


# ------------------------------------------------------------ HTTP client

# more_headers as "Name: value" lines, from a text, an array or a hash.
sub _header_lines {
    my $headers = shift;
    my @h = ref $headers eq 'HASH' ? map { "$_: $headers->{$_}" } sort keys %$headers
          : ref $headers eq 'ARRAY' ? @$headers
          : grep { /\S/ && !/^\s*#/ } split /\n/, $headers // '';
    s/^\s+|\s+$//g for @h;
    return @h;
}

sub _compose {
    my ($method, $uri, $version, $body, $headers) = @_;
    my @h = _header_lines($headers);
    my $has = sub { my $re = shift; grep { /^$re\s*:/i } @h };
    my $chunked = grep { /^transfer-encoding\s*:\s*chunked/i } @h;
    $body //= '';
    die "request body has wide characters: utf8::encode it\n" if $body =~ /[^\x00-\xff]/;
    my $req = "$method $uri $version\r\n";
    $req .= "Host: localhost\r\n" unless $has->('host');
    $req .= "Connection: close\r\n" unless $has->('connection');
    $req .= "$_\r\n" for @h;
    $req .= "Content-Length: " . length($body) . "\r\n"
        if length $body && !$chunked && !$has->('content-length');
    return "$req\r\n$body";
}

# Parses a `--- request` value: "METHOD [URI [VERSION]]\nbody".
sub _from_text {
    my ($text, $headers, $body_override) = @_;
    $text =~ s/\A(?:\s*#[^\n]*\n|\s+)+//;
    my ($first, $body) = split /\n/, $text, 2;
    my ($method, $uri, $version) = split ' ', $first // '';
    die "empty --- request\n" unless $method;
    my $verbatim = grep { /^(?:content-length|transfer-encoding\s*:\s*chunked)/i }
                   _header_lines($headers);
    if (defined $body && !$verbatim) {
        $body =~ s/\A\s+//;
        $body =~ s/\s+\z//;
    }
    if (defined $body_override) {
        die "both --- request and --- request_body carry a body\n"
            if defined $body && length $body;
        $body = $body_override;
    }
    return _compose($method, $uri // '/', $version // 'HTTP/1.1', $body, $headers);
}

sub http_start {
    my ($first, $uri, $body, %o) = @_;
    my ($raw, $method);
    if (defined $uri) {
        ($raw, $method) = (_compose($first, $uri, 'HTTP/1.1', $body, $o{headers}), $first);
    } elsif (!$o{raw} && !ref $first && $first =~ /\A(\w+) (\S+)\z/) {
        ($raw, $method) = (_compose($1, $2, 'HTTP/1.1', undef, $o{headers}), $1);
    } else {
        $raw = $first;
        ($method) = (ref $first ? '' : $first) =~ /\A\s*(\w+)/;
    }
    my $timeout = $o{timeout} // $DEFAULT_TIMEOUT;
    my $h = {t0 => time, timeout => $timeout, method => $method // ''};
    my $sock;
    for (1 .. 20) {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $o{port} // $NGX{port}, Proto => 'tcp',
            Timeout => $timeout) and last;
        sleep 0.01;
    }
    if (!$sock) {
        $h->{error} = "cannot connect to port " . ($o{port} // $NGX{port} // '?') . ": $!";
        return $h;
    }
    $sock->blocking(0);
    $h->{sock} = $sock;
    my @packets = ref $raw eq 'ARRAY' ? @$raw : ($raw);
    for my $i (0 .. $#packets) {
        my $p = $packets[$i];
        my $wait = ref $p ? $p->{delay_before} // 0 : $i ? 0.01 : 0;
        sleep $wait if $wait;
        my $err = _write_all($sock, ref $p ? $p->{value} : $p, $timeout);
        if ($err) { $h->{write_error} = $err; last }
    }
    return $h;
}

sub _write_all {
    my ($sock, $data, $timeout) = @_;
    my $sel = IO::Select->new($sock);
    my $off = 0;
    while ($off < length $data) {
        return 'client socket timed out' unless $sel->can_write($timeout);
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            return "write: $!";     # e.g. nginx answered 413 and closed
        }
        $off += $n;
    }
    return undef;
}

sub http_end {
    my $h = shift;
    my %r = (status => undef, headers => {}, body => undef, json => undef,
             raw => '', error => $h->{error});
    if (my $sock = delete $h->{sock}) {
        my $sel = IO::Select->new($sock);
        while (1) {
            if (!$sel->can_read($h->{timeout})) {
                $r{error} = 'client socket timed out';
                last;
            }
            my $n = sysread($sock, my $buf, 65536);
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EINTR};
                last;                       # ECONNRESET: keep what we have
            }
            last if $n == 0;
            $r{raw} .= $buf;
        }
        close $sock;
    }
    $r{elapsed} = time - $h->{t0};
    _parse_response(\%r, $h->{method}) if length $r{raw};
    return \%r;
}

sub http { return http_end(http_start(@_)) }

sub _parse_response {
    my ($r, $method) = @_;
    my $i = index($r->{raw}, "\r\n\r\n");
    if ($i < 0) {
        $r->{error} //= 'incomplete response header';
        return;
    }
    my ($head, $rest) = (substr($r->{raw}, 0, $i), substr($r->{raw}, $i + 4));
    my ($status_line, @lines) = split /\r\n/, $head;
    ($r->{status}) = $status_line =~ m{\AHTTP/\d\.\d (\d{3})};
    for (@lines) {
        my ($n, $v) = /\A([^:]+):\s*(.*?)\s*\z/ or next;
        my $k = lc $n;
        $r->{headers}{$k} = exists $r->{headers}{$k} ? "$r->{headers}{$k}, $v" : $v;
    }
    my $s = $r->{status} // 0;
    if ($method eq 'HEAD' || $s =~ /^1/ || $s == 204 || $s == 304) {
        $r->{body} = '';
    } elsif (($r->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $body = '';
        while (1) {
            $rest =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n// or do {
                $r->{error} //= 'bad chunked body'; last };
            my $len = hex $1;
            if ($len == 0) { $rest =~ s/\A(?:[^\r\n]+\r\n)*\r\n//; last }
            if (length($rest) < $len + 2 || substr($rest, $len, 2) ne "\r\n") {
                $r->{error} //= 'truncated chunked body';
                last;
            }
            $body .= substr($rest, 0, $len);
            substr($rest, 0, $len + 2) = '';
        }
        $r->{body} = $body;
    } elsif (defined(my $cl = $r->{headers}{'content-length'})) {
        $r->{error} //= 'response body shorter than Content-Length' if length $rest < $cl;
        $r->{body} = substr($rest, 0, $cl);
    } else {
        $r->{body} = $rest;
    }
    $r->{json} = eval { JSON::PP->new->utf8->allow_nonref->decode($r->{body}) }
        if $r->{body} =~ /\S/;
}


# ---------------------------------------------------------- JSON matching

# Decodes JSON text and turns the placeholder strings into Test::Deep matchers.
sub _json_expected {
    my $exp = shift;
    $exp = JSON::PP->new->utf8->allow_nonref->decode($exp) unless ref $exp;
    my $walk;
    $walk = sub {
        my $v = shift;
        if (ref $v eq 'HASH') { return {map { $_ => $walk->($v->{$_}) } keys %$v} }
        if (ref $v eq 'ARRAY') { return [map { $walk->($_) } @$v] }
        return $v if ref $v || !defined $v;
        return Test::Deep::re($UUID_RE) if $v eq '<uuid>';
        return Test::Deep::re(qr/\A\d{8}\z/) if $v eq '<code>';
        return Test::Deep::re(qr/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/)
            if $v eq '<time>';
        return Test::Deep::ignore() if $v eq '<any>';
        return Test::Deep::re(qr/$1/) if $v =~ /\A<re:(.*)>\z/s;
        return $v;
    };
    my $r = $walk->($exp);
    undef $walk;
    return $r;
}

# chunked($body, $size): $body in Transfer-Encoding: chunked framing, in
# chunks of $size bytes, with the last-chunk at the end.
sub chunked {
    my ($body, $size) = @_;
    my $out = '';
    for (my $off = 0; $off < length $body; $off += $size) {
        my $piece = substr($body, $off, $size);
        $out .= sprintf("%x\r\n%s\r\n", length $piece, $piece);
    }
    return "${out}0\r\n\r\n";
}

sub json_is {
    my ($got, $expected, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $data = eval { JSON::PP->new->utf8->allow_nonref->decode($got // '') };
    if ($@) {
        Test::More::fail($name);
        Test::More::diag("body is not JSON: $@body: " . ($got // '(none)'));
        return 0;
    }
    my $want = eval { _json_expected($expected) };
    if ($@) {
        Test::More::fail($name);
        Test::More::diag("the expected value is not JSON: $@");
        return 0;
    }
    return Test::Deep::cmp_deeply($data, $want, $name);
}


# ----------------------------------------------------------- block runner

sub _sec {
    my ($block, $name) = @_;
    return exists $block->{$name} ? $block->{$name}[0] : undef;
}

# The expectation of request $i of $n: arrays are per request when $n > 1.
sub _per_req {
    my ($block, $name, $i, $n) = @_;
    my $v = _sec($block, $name);
    return $v if !defined $v || $n == 1;
    die "$0 " . $block->name . ": several requests, so --- $name must be an"
        . " eval'd array of $n elements\n"
        unless ref $v eq 'ARRAY' && @$v == $n;
    return $v->[$i];
}

sub _timeout {
    my $t = shift // return $DEFAULT_TIMEOUT;
    return $1 / 1000 * $SLOW if $t =~ /\A\s*([\d.]+)\s*ms\s*\z/;
    return $1 * $SLOW if $t =~ /\A\s*([\d.]+)\s*s?\s*\z/;
    die "bad --- timeout: $t\n";
}

sub _patterns {
    my $v = shift;
    return () unless defined $v;
    return @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v;
    return grep { /\S/ } split /\n/, $v;
}

sub _check_log {
    my ($name, $block, $log) = @_;
    my @lines = split /\n/, $log;
    my $match = sub {
        my $p = shift;
        return grep { ref $p ? $_ =~ $p : index($_, $p) >= 0 } @lines;
    };
    for my $p (_patterns(_sec($block, 'error_log'))) {
        Test::More::ok(scalar($match->($p)),
            "$name - pattern \"$p\" should match a line in error.log")
            or Test::More::diag("error.log:\n$log");
    }
    for my $p (_patterns(_sec($block, 'debug_log'))) {
        SKIP: {
            Test::More::skip("$name - \"$p\": nginx built without "
                             . "--with-debug", 1) unless nginx_has_debug();
            Test::More::ok(scalar($match->($p)),
                "$name - debug pattern \"$p\" should match a line in "
                . "error.log")
                or Test::More::diag("error.log:\n$log");
        }
    }
    for my $p (_patterns(_sec($block, 'no_error_log'))) {
        my @hit = $match->($p);
        Test::More::ok(!@hit, "$name - pattern \"$p\" should not match any line in error.log")
            or Test::More::diag(join "\n", @hit);
    }
}

sub run_tests () {
    _pg_setup();
    Test::More::plan('no_plan') unless Test::Builder->new->has_plan;
    Test::Base::run(sub { _run_block(shift) });
    _stop_nginx();
}

sub _run_block {
    my $block = shift;
    $_->($block) for @PREPROCESSORS;
    my $name = "$0 " . $block->name;

    if (defined(my $sql = _sec($block, 'sql'))) {
        eval { psql(_expand($sql)); 1 } or do {
            Test::More::fail("$name - --- sql ran");
            Test::More::diag($@);
            return;
        };
    }

    my $config = _sec($block, 'config') // $LAST_CONFIG
        // die "$name: no --- config and no previous block's\n";
    $LAST_CONFIG = $config;
    my $why = _launch(config => $config,
                      http_config => _sec($block, 'http_config'),
                      main_config => _sec($block, 'main_config'));
    $NGX{master_now} = $NGX{master};
    $NGX{workers_now} = $NGX{workers};
    my $root = servroot();

    if (exists $block->{must_die}) {
        my $re = _sec($block, 'must_die') // '';
        if (!defined $why) {
            Test::More::fail("$name - nginx must die");
            _stop_nginx();
        } elsif ($re =~ /\S/) {
            Test::More::like($why, qr/$re/, "$name - nginx died as expected");
        } else {
            Test::More::pass("$name - nginx died as expected");
        }
        _check_log($name, $block, _slurp("$root/logs/error.log"));
        return;
    }
    if (defined $why) {
        Test::More::fail("$name - nginx started");
        Test::More::diag(join("\n", grep { /\[emerg\]|\[alert\]|exec / }
                                    split /\n/, $why) || $why);
        return;
    }

    my $timeout = _timeout(_sec($block, 'timeout'));
    my @reqs;
    if (defined(my $raw = _sec($block, 'raw_request'))) {
        push @reqs, $raw;
    } elsif (defined(my $req = _sec($block, 'request'))) {
        my @texts = ref $req eq 'ARRAY' ? @$req : ($req);
        for my $i (0 .. $#texts) {
            # a plain string applies to every request, an array is per request
            my ($mh, $rb) = map { _sec($block, $_) } qw(more_headers request_body);
            ($mh, $rb) = map { @texts > 1 && ref $_ eq 'ARRAY' ? $_->[$i] : $_ } $mh, $rb;
            push @reqs, _from_text($texts[$i], $mh, $rb);
        }
    } else {
        die "$name: no --- request or --- raw_request\n";
    }

    my $n = @reqs;
    for my $i (0 .. $#reqs) {
        my $tn = $n > 1 ? "$name (req " . ($i + 1) . ")" : $name;
        my $res = http($reqs[$i], undef, undef, raw => 1, timeout => $timeout);
        Test::More::fail("ERROR: $res->{error} - $tn")
            if $res->{error} && $res->{error} =~ /timed out|connect/;
        _check_response($block, $tn, $res, $i, $n);
    }

    sleep $_ for grep { defined && $_ > 0 } _sec($block, 'wait');
    my $log = _slurp("$root/logs/error.log");
    _check_log($name, $block, $log);
    _stop_nginx();

    # serious lines no log check looked at are worth a warning (not a test)
    my @pats = map { _patterns(_sec($block, $_)) } qw(error_log no_error_log);
    for my $line (grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log) {
        next if grep { ref $_ ? $line =~ $_ : index($line, $_) >= 0 } @pats;
        Test::More::diag("WARNING: $name - $line");
    }
}

sub _check_response {
    my ($block, $tn, $res, $i, $n) = @_;
    my $code = _per_req($block, 'error_code', $i, $n) // 200;
    Test::More::is($res->{status}, $code, "$tn - status code ok")
        or ($res->{error} && Test::More::diag("client: $res->{error}"));

    my $hdrs = $res->{headers};
    for my $line (_patterns(_per_req($block, 'response_headers', $i, $n))) {
        if ($line =~ /\A\s*!\s*(\S+)\s*\z/) {
            Test::More::ok(!exists $hdrs->{lc $1}, "$tn - header $1 not present")
                or Test::More::diag("$1: $hdrs->{lc $1}");
        } elsif ($line =~ /\A\s*([^:\s]+)\s*:\s*(.*?)\s*\z/) {
            my ($h, $v) = ($1, $2);
            $v =~ s/\$ServerPort\b/$NGX{port}/g;
            Test::More::is($hdrs->{lc $h}, $v, "$tn - header $h ok");
        } else {
            die "$tn: bad response_headers line: $line\n";
        }
    }
    for my $line (_patterns(_per_req($block, 'response_headers_like', $i, $n))) {
        my ($h, $re) = $line =~ /\A\s*([^:\s]+)\s*:\s*(.*?)\s*\z/
            or die "$tn: bad response_headers_like line: $line\n";
        Test::More::like($hdrs->{lc $h} // '(absent)', qr/\A(?:$re)\z/,
                         "$tn - header $h like ok");
    }

    my $body = $res->{body} // '';
    if (defined(my $exp = _per_req($block, 'response_body', $i, $n))) {
        if (ref $exp eq 'Regexp') {
            Test::More::like($body, $exp, "$tn - response_body - like");
        } else {
            Test::LongString::is_string($body, _expand($exp),
                                        "$tn - response_body - response is expected");
        }
    }
    if (defined(my $re = _per_req($block, 'response_body_like', $i, $n))) {
        $re = qr/$re/s unless ref $re;
        Test::More::like($body, $re, "$tn - response_body_like - response is expected");
    }
    if (defined(my $re = _per_req($block, 'response_body_unlike', $i, $n))) {
        $re = qr/$re/s unless ref $re;
        Test::More::unlike($body, $re, "$tn - response_body_unlike - response is expected");
    }
    if (defined(my $exp = _per_req($block, 'response_body_json', $i, $n))) {
        json_is($res->{body}, $exp, "$tn - response_body_json - response is expected");
    }
}

1;
