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
    hold_lock release_lock wait_lock_waiters
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

sub wait_lock_waiters {
    my ($n, $secs) = @_;
    my $deadline = time + ($secs // 5);
    my $got;
    while (1) {
        $got = Invites::Test::psql("SELECT count(*) $MODULE_BACKENDS"
                                   . " AND wait_event_type = 'Lock'");
        return $got if $got >= $n || time > $deadline;
        sleep 0.05;
    }
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

1;
