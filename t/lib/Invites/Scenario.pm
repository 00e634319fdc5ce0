package Invites::Scenario;

# Invites::Scenario - helpers for the imperative scenario tests (t/1NN-*.t)
# that drive nginx and PostgreSQL by hand: a table lock held from another
# session, requests started now and finished later, the module's backends in
# pg_stat_activity.  Use it after Invites::Test:
#
#     use Invites::Test;
#     use Invites::Scenario;
#     default_group('nb');
#
# Exported:
#   $API               '/invites/Invites', the usual invites_api location.
#   $MODULE_BACKENDS   "FROM pg_stat_activity WHERE ...": the module's own
#                      backends (user invites, no application_name; psql
#                      says 'psql', hold_lock's session invites-test-locker).
#                      Use as "SELECT count(*) $MODULE_BACKENDS".
#   default_group($name)  set (or, without argument, get) the group_id that
#                      create_start, create and invite_json use by default.
#   hold_lock()        another session takes ACCESS EXCLUSIVE on the table and
#                      keeps it; returns its DBI handle.
#   release_lock($dbh) commits (ending the lock) and disconnects.
#   wait_lock_waiters($n, $secs)  polls (default 5 s) until $n module
#                      backends wait for a lock; returns how many do.
#   wait_backends($done, $secs, $where)  polls the count of module backends
#                      (narrowed by the SQL $where, "AND ...") every 50 ms
#                      until $done->($count) or $secs pass; returns the
#                      last count.
#   create_start($email, %opts) -> http_start handle of a Create;
#   create($email, %opts) -> its answer (as http()).  opts: group (default
#                      default_group()), prefix (default $API), and any
#                      http_start option (timeout ...).
#   still_waiting($h)  true while no answer (nor EOF) has arrived on a
#                      started request.
#   disconnect($h)     the client goes away without reading anything.
#   invite_json($email, $group)  the expected Create answer, for json_is.
#   rows_for($email)   how many rows the table holds for that email.
#   body_of($r)        "error: ... body: ..." of an answer, for diag().
#   error_log_clean($name, $bad_re)  one test: error.log has no line matching
#                      $bad_re (default: a crash, alert, crit or emerg); the
#                      offending lines are diag'ed.
#
# Fault helpers (t/2NN-*.t; the private cluster only, not an external one):
#   pg_dir()           the cluster's directory (socket, server.log, data/),
#                      read from its socket lock file.
#   postmaster_pid()   the running postmaster's pid (undef when down).
#   pg_super($sql)     psql as the superuser postgres (ALTER SYSTEM ...);
#                      stdout, dies on error.
#   server_log_size()  server.log's size now; server_log_since($size) its
#                      text written after that.
#   pg_start_retry($secs)  pg_start() until it succeeds (a killed
#                      postmaster's orphans may hold shared memory a while).
#   module_backends()  the module's backend pids (sorted).
#   micro_5xx($r)      the error id when $r is a 5xx whose body is m3o's
#                      JSON error ({id, code = status, detail, status}) with
#                      a database id (DB_UNAVAILABLE, DB_TIMEOUT, DB_ERROR);
#                      undef otherwise.
#   load_start(%o)     forks clients (default 20) that each send up to
#                      `requests` (100) sequential requests, one connection
#                      each (http()), with `pace` seconds (0) between them,
#                      stopping early after `duration` seconds when given:
#                      a mix of Create ("keep-" emails), Read by id and by
#                      code, List, and Create+Delete of "del-" emails, in
#                      group "$group-$client" (group default 'load').
#                      `timeout` is each request's client timeout (10 s).
#                      Every answer is a line in the client's file; returns
#                      the load's handle.
#   load_done($load)   how many answers the clients have recorded so far.
#   load_wait($load, $secs)  waits for the clients (killing them after
#                      $secs, default 60); returns the records: hashes with
#                      client, n, op, email, status, err (5xx error id or
#                      4xx id), id, code, t0, t1 (epoch), elapsed, worker
#                      (X-Worker header, when the config adds it), error
#                      (client side), deleted (for Delete: the id).
#   load_figures($records, $title)  notes and returns a summary: counts by
#                      op and status, by error id, client errors.
#   acknowledged_creates_check($records, $what)  tests that every Create
#                      answered 200 is in the table with that id, code,
#                      group and email, and that every acknowledged Delete's
#                      row is gone; returns (acknowledged, found).

use strict;
use warnings;
use parent 'Exporter';

use DBI;
use IO::Select;
use Invites::Test ();
use Test::More ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    $API $MODULE_BACKENDS default_group
    hold_lock release_lock wait_lock_waiters wait_backends
    create_start create still_waiting disconnect
    invite_json rows_for body_of error_log_clean
);

our $API = '/invites/Invites';

our $MODULE_BACKENDS = "FROM pg_stat_activity WHERE usename = 'invites'"
    . " AND backend_type = 'client backend' AND application_name = ''"
    . " AND pid <> pg_backend_pid()";

my $BAD_LOG = qr/exited on signal|\[(?:alert|crit|emerg)\]/;
my $GROUP = 'scenario';

sub default_group {
    $GROUP = shift if @_;
    return $GROUP;
}

sub hold_lock {
    my $dbh = DBI->connect('dbi:Pg:dbname=invites;host=127.0.0.1;port='
        . Invites::Test::pg_port() . ';application_name=invites-test-locker',
        'invites', '', {AutoCommit => 0, RaiseError => 1, PrintError => 0});
    $dbh->do('LOCK TABLE invites IN ACCESS EXCLUSIVE MODE');
    return $dbh;
}

sub release_lock {
    my $dbh = shift;
    $dbh->commit;
    $dbh->disconnect;
}

sub wait_backends {
    my ($done, $secs, $where) = @_;
    my $deadline = time + $secs;
    my $sql = "SELECT count(*) $MODULE_BACKENDS" . ($where // '');
    my $got;
    while (1) {
        $got = Invites::Test::psql($sql);
        return $got if $done->($got) || time > $deadline;
        sleep 0.05;
    }
}

sub wait_lock_waiters {
    my ($n, $secs) = @_;
    return wait_backends(sub { $_[0] >= $n }, $secs // 5,
                         " AND wait_event_type = 'Lock'");
}

sub create_start {
    my ($email, %o) = @_;
    my $group = delete $o{group} // $GROUP;
    my $prefix = delete $o{prefix} // $API;
    return Invites::Test::http_start('POST', "$prefix/Create",
        qq({"group_id":"$group","email":"$email"}), %o);
}

sub create { return Invites::Test::http_end(create_start(@_)) }

sub still_waiting {
    my $h = shift;
    return 0 unless $h->{sock};
    return !IO::Select->new($h->{sock})->can_read(0);
}

sub disconnect {
    my $h = shift;
    my $sock = delete $h->{sock} or return 0;
    return close $sock;
}

sub invite_json {
    my ($email, $group) = @_;
    $group //= $GROUP;
    return qq({"invite":{"id":"<uuid>","group_id":"$group","email":"$email","code":"<code>"}});
}

sub rows_for {
    my $email = shift;
    return Invites::Test::psql(
        "SELECT count(*) FROM invites WHERE email = '$email'");
}

sub body_of {
    my $r = shift;
    return "error: " . ($r->{error} // '') . " body: " . ($r->{body} // '');
}

sub error_log_clean {
    my ($name, $bad) = @_;
    $bad //= $BAD_LOG;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $log = Invites::Test::error_log_text();
    my $ok = Test::More::unlike($log, $bad, $name);
    Test::More::diag(join "\n", grep { $_ =~ $bad } split /\n/, $log)
        unless $ok;
    return $ok;
}



# ------------------------------------------------ fault helpers (t/2NN-*.t)

use File::Temp ();
use JSON::PP ();
use POSIX ();

push @EXPORT, qw(
    pg_dir postmaster_pid pg_super server_log_size server_log_since
    pg_start_retry module_backends micro_5xx
    load_start load_done load_wait load_figures acknowledged_creates_check
);

my %DB_ERRORS = map { $_ => 1 } qw(DB_UNAVAILABLE DB_TIMEOUT DB_ERROR);

sub pg_dir {
    my $port = Invites::Test::pg_port();
    my ($lock) = glob "/tmp/invites-pg-*/.s.PGSQL.$port.lock";
    my $dir = $lock ? $lock =~ s{/[^/]+\z}{}r : undef;
    our $PG_DIR = $dir if $dir;     # the lock file goes away with the server
    return $PG_DIR // die "pg_dir: no socket lock file for port $port\n";
}

sub postmaster_pid {
    my $port = Invites::Test::pg_port();
    open my $fh, '<', pg_dir() . "/.s.PGSQL.$port.lock" or return undef;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid && kill(0, $pid) ? $pid : undef;
}

sub pg_super {
    my $sql = shift;
    my $tmp = File::Temp->new(DIR => '/tmp', TEMPLATE => 'invites-su-XXXXXX');
    print $tmp $sql;
    close $tmp;
    my @cmd = ('psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-h', pg_dir(),
               '-p', Invites::Test::pg_port(), '-U', 'postgres',
               '-d', 'invites', '-f', $tmp->filename);
    my $out = `@cmd 2>&1`;
    die "pg_super failed: $out$sql\n" if $?;
    chomp $out;
    return $out;
}

sub server_log_size { return -s (pg_dir() . '/server.log') // 0 }

sub server_log_since {
    my $from = shift // 0;
    open my $fh, '<', pg_dir() . '/server.log' or return '';
    seek $fh, $from, 0;
    local $/;
    return scalar(<$fh>) // '';
}

sub pg_start_retry {
    my $secs = shift // 15;
    my $deadline = time + $secs;
    while (1) {
        my $ok = eval { Invites::Test::pg_start(); 1 };
        return 1 if $ok;
        die $@ if time > $deadline;
        sleep 0.5;
    }
}

sub module_backends {
    return sort { $a <=> $b }
           split /\n/, Invites::Test::psql("SELECT pid $MODULE_BACKENDS");
}

sub micro_5xx {
    my $r = shift;
    my $s = $r->{status} // 0;
    return undef unless $s >= 500 && $s <= 599;
    my $j = $r->{json};
    return undef unless ref $j eq 'HASH'
        && join(',', sort keys %$j) eq 'code,detail,id,status'
        && defined $j->{code} && $j->{code} == $s
        && $DB_ERRORS{$j->{id} // ''};
    return undef unless ($r->{headers}{'content-type'} // '')
        =~ m{\Aapplication/json};
    return $j->{id};
}

sub _load_client {
    my ($o, $c, $file) = @_;
    open my $out, '>', $file or POSIX::_exit(2);
    $out->autoflush(1);
    my $json = JSON::PP->new->canonical;
    my $group = "$o->{group}-$c";
    my ($keep, $del);
    my $end = $o->{duration} ? time + $o->{duration} : undef;
    for my $i (1 .. $o->{requests}) {
        last if $end && time > $end;
        my $k = $i % 10;
        my ($op, $body, $email);
        if ($k == 5 && $keep) {
            ($op, $body) = ('Read', qq({"id":"$keep->{id}"}));
        } elsif ($k == 0 && $keep) {
            ($op, $body) = ('Read', qq({"code":"$keep->{code}"}));
        } elsif ($k == 7 || (($k == 0 || $k == 9) && !$keep)) {
            ($op, $body) = ('List', qq({"group_id":"$group"}));
        } elsif ($k == 9 && $del) {
            ($op, $body) = ('Delete', qq({"id":"$del->{id}"}));
        } elsif ($k == 9) {
            ($op, $body) = ('List', qq({"group_id":"$group"}));
        } else {
            my $kind = $k == 8 ? 'del' : 'keep';
            $email = "$kind-$o->{tag}-$c-$i\@load.test";
            ($op, $body) = ('Create', qq({"group_id":"$group","email":"$email"}));
        }
        my $t0 = time;
        my $r = Invites::Test::http('POST', "$o->{prefix}/$op", $body,
                                    timeout => $o->{timeout});
        my %rec = (client => $c, n => $i, op => $op, status => $r->{status},
                   t0 => $t0, t1 => time, elapsed => $r->{elapsed},
                   error => $r->{error}, worker => $r->{headers}{'x-worker'},
                   group => $group);
        my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
        $rec{err} = $j->{id} if ($r->{status} // 0) >= 400 && !ref $j->{id};
        $rec{bad_5xx} = 1 if ($r->{status} // 0) >= 500 && !micro_5xx($r);
        if ($op eq 'Create') {
            $rec{email} = $email;
            my $inv = $j->{invite};
            if (($r->{status} // 0) == 200 && ref $inv eq 'HASH') {
                @rec{qw(id code)} = @$inv{qw(id code)};
                my $kind = $email =~ /\Adel-/ ? \$del : \$keep;
                $$kind = {id => $inv->{id}, code => $inv->{code}};
            } elsif ($email =~ /\Adel-/) {
                $del = undef;
            }
        } elsif ($op eq 'Read' && ($r->{status} // 0) == 200) {
            $rec{id} = ref $j->{invite} eq 'HASH' ? $j->{invite}{id} : undef;
            $rec{wanted} = $keep->{id};
        } elsif ($op eq 'Delete') {
            $rec{deleted} = $del->{id};
            $del = undef;
        }
        print $out $json->encode(\%rec), "\n";
        sleep $o->{pace} if $o->{pace};
    }
    close $out;
    POSIX::_exit(0);
}

sub load_start {
    my %o = (clients => 20, requests => 100, pace => 0, timeout => 10,
             group => 'load', tag => 'l', prefix => $API, @_);
    my $dir = File::Temp::tempdir('invites-load-XXXXXX', DIR => '/tmp',
                                  CLEANUP => 1);
    my %load = (opts => \%o, dir => $dir, pids => [], t0 => time);
    for my $c (1 .. $o{clients}) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
            _load_client(\%o, $c, "$dir/client-$c.jsonl");
        }
        push @{$load{pids}}, $pid;
    }
    return \%load;
}

sub load_done {
    my $load = shift;
    my $n = 0;
    for my $f (glob "$load->{dir}/client-*.jsonl") {
        open my $fh, '<', $f or next;
        $n++ while <$fh>;
    }
    return $n;
}

sub load_wait {
    my ($load, $secs) = @_;
    my $deadline = time + ($secs // 60);
    my %left = map { $_ => 1 } @{$load->{pids}};
    while (%left && time < $deadline) {
        for my $pid (keys %left) {
            delete $left{$pid} if waitpid($pid, POSIX::WNOHANG()) != 0;
        }
        sleep 0.05 if %left;
    }
    if (%left) {
        Test::More::diag('load clients still running after ' . ($secs // 60)
                         . 's, killed: ' . join ' ', sort keys %left);
        kill 'KILL', keys %left;
        waitpid($_, 0) for keys %left;
    }
    $load->{killed} = [sort keys %left];
    $load->{t1} = time;
    my $json = JSON::PP->new;
    my @recs;
    for my $f (sort glob "$load->{dir}/client-*.jsonl") {
        open my $fh, '<', $f or next;
        while (my $line = <$fh>) {
            my $rec = eval { $json->decode($line) } or next;
            push @recs, $rec;
        }
    }
    return \@recs;
}

sub load_figures {
    my ($recs, $title) = @_;
    my (%by_status, %by_op, %by_err, %client_err, %by_worker);
    my $max = 0;
    for my $r (@$recs) {
        my $s = $r->{status} // 'none';
        $by_status{$s}++;
        $by_op{$r->{op}}{$s}++;
        $by_err{$r->{err}}++ if defined $r->{err};
        $client_err{$r->{error}}++ if defined $r->{error};
        $by_worker{$r->{worker} // '?'}{$s}++;
        $max = $r->{elapsed} if ($r->{elapsed} // 0) > $max;
    }
    my $fmt = sub { my $h = shift;
                    join ', ', map { "$_: $h->{$_}" } sort keys %$h };
    my @lines = ("$title: " . scalar(@$recs) . ' answers recorded',
        '  by status: ' . $fmt->(\%by_status),
        (map { "  $_: " . $fmt->($by_op{$_}) } sort keys %by_op),
        '  error ids: ' . ($fmt->(\%by_err) || 'none'),
        '  client-side errors: ' . ($fmt->(\%client_err) || 'none'),
        sprintf('  slowest answer: %.2fs', $max));
    push @lines, map { "  worker $_: " . $fmt->($by_worker{$_}) }
                 sort keys %by_worker
        if keys %by_worker > 1 || !$by_worker{'?'};
    Test::More::diag($_) for @lines;
    return {status => \%by_status, op => \%by_op, err => \%by_err,
            client_err => \%client_err, worker => \%by_worker,
            max_elapsed => $max, lines => \@lines};
}

sub acknowledged_creates_check {
    my ($recs, $what) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @acked = grep { $_->{op} eq 'Create' && ($_->{status} // 0) == 200
                       && $_->{id} } @$recs;
    my %deleted = map { $_->{deleted} => 1 }
                  grep { $_->{op} eq 'Delete' && ($_->{status} // 0) == 200
                         && $_->{deleted} } @$recs;
    my @want = grep { !$deleted{$_->{id}} } @acked;
    my %row;
    if (@acked) {
        my $ids = join ',', map { "'$_->{id}'" } @acked;
        for (split /\n/, Invites::Test::psql(
                 "SELECT id, group_id, email, code FROM invites"
                 . " WHERE id IN ($ids)")) {
            my ($id, @f) = split /\|/;
            $row{$id} = \@f;
        }
    }
    my (@missing, @differ);
    for my $c (@want) {
        my $f = $row{$c->{id}};
        if (!$f) { push @missing, $c; next }
        push @differ, $c unless $f->[0] eq $c->{group}
            && $f->[1] eq $c->{email} && $f->[2] eq $c->{code};
    }
    my @undeleted = grep { $row{$_} } keys %deleted;
    my $found = @want - @missing;
    Test::More::diag(sprintf '%s: %d Creates acknowledged (%d of them'
        . ' deleted later by an acknowledged Delete), %d of %d found'
        . ' with the same id, code, group and email',
        $what, scalar @acked, scalar(keys %deleted), $found - @differ,
        scalar @want);
    Test::More::is(scalar @missing, 0,
                   "$what: every Create answered 200 is in the table")
        or Test::More::diag(join "\n", map {
            "missing: $_->{email} id $_->{id} answered at "
            . sprintf('%.3f', $_->{t1}) } @missing[0 .. ($#missing > 19 ? 19 : $#missing)]);
    Test::More::is(scalar @differ, 0,
                   "$what: each with the acknowledged code, group and email")
        or Test::More::diag(join "\n", map {
            "differs: $_->{email} id $_->{id} code $_->{code} vs "
            . join('|', @{$row{$_->{id}}}) } @differ);
    Test::More::is(scalar @undeleted, 0,
                   "$what: every Delete answered 200 removed its row")
        or Test::More::diag("still there: @undeleted");
    return (scalar @want, $found - @differ);
}

1;
