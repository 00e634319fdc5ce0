package Invites::Databases;

# Invites::Databases - databases of a test's own in the private cluster
# (t/085, t/086, t/087), beside the harness's `invites`: made by the
# cluster's superuser postgres, owned by the role invites, reached over TCP
# on the loopback (trust).  Use it after Invites::Test, and skip where the
# server is external (it has no superuser of ours):
#
#     use Invites::Test;
#     use Invites::Databases;
#     plan skip_all => 'needs the private cluster (its postgres superuser)'
#         if $ENV{TEST_INVITES_PG_CONNINFO};
#     new_db('u_old');
#     psql_files('u_old', migrations(0 .. 2));
#     is(sql_in('u_old', 'SELECT count(*) FROM invites'), 0, 'empty');
#
# Exported:
#   @MIGRATIONS            sql/*.sql of this repository, in order.
#   migrations(@versions)  those of @MIGRATIONS whose NNN is one of
#                          @versions; without arguments, all of them.
#   conninfo($db, $user)   a libpq string for $db as $user (default invites).
#   sql_in($db, $sql, $user)  runs $sql in one psql session (-qtAX,
#                          ON_ERROR_STOP); returns its stdout without the
#                          last newline; dies with psql's stderr on error.
#   super_sql($sql)        sql_in('postgres', $sql, 'postgres').
#   new_db($name)          CREATE DATABASE $name OWNER invites; returns $name.
#   psql_files($db, @files)  psql -f each file in turn, as invites; dies on
#                          the first error.
#   module_schema($suffix) the version NGX_HTTP_INVITES_SCHEMA$suffix of
#                          ngx_http_invites_schema.h ('' or '_AUTH'): the
#                          migration the module of this tree needs.

use strict;
use warnings;
use Exporter 'import';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp ();
use POSIX ();

our @EXPORT = qw(@MIGRATIONS migrations conninfo sql_in super_sql new_db
                 psql_files module_schema);

my $REPO = abs_path(dirname(__FILE__) . '/../../..');

our @MIGRATIONS = sort glob "$REPO/sql/*.sql";

sub migrations {
    my %want = map { (0 + $_ => 1) } @_;
    return @MIGRATIONS unless @_;
    return grep { m{/(\d+)_[^/]+\.sql\z} && $want{0 + $1} } @MIGRATIONS;
}

sub conninfo {
    my ($db, $user) = @_;
    return 'host=127.0.0.1 port=' . Invites::Test::pg_port() . " dbname=$db user="
           . ($user // 'invites');
}

# runs psql with these arguments, stdin from $in; (status, stdout, stderr)
sub _psql {
    my ($in, @args) = @_;
    my $dir = File::Temp->newdir('invites-db-XXXXXX', DIR => '/tmp');
    my ($i, $o, $e) = map { "$dir/$_" } qw(in out err);
    open my $fh, '>', $i or die "$i: $!";
    print $fh $in // '';
    close $fh;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', $i or POSIX::_exit(127);
        open STDOUT, '>', $o or POSIX::_exit(127);
        open STDERR, '>', $e or POSIX::_exit(127);
        { no warnings 'exec'; exec 'psql', @args }
        print STDERR "exec psql: $!\n";
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $?;
    my @r = ($rc);
    for my $f ($o, $e) {
        open my $rfh, '<', $f or die "$f: $!";
        local $/;
        push @r, scalar(<$rfh>) // '';
    }
    return @r;
}

sub sql_in {
    my ($db, $sql, $user) = @_;
    my ($rc, $out, $err) = _psql($sql, '-qtAX', '-v', 'ON_ERROR_STOP=1',
                                 '-d', conninfo($db, $user), '-f', '-');
    die "psql in $db failed: $err\n$sql\n" if $rc;
    $out =~ s/\n\z//;
    return $out;
}

sub super_sql { return sql_in('postgres', shift, 'postgres') }

sub new_db {
    my $db = shift;
    super_sql(qq{CREATE DATABASE "$db" OWNER invites});
    return $db;
}

sub psql_files {
    my ($db, @files) = @_;
    for my $f (@files) {
        my ($rc, $out, $err) = _psql('', '-qX', '-v', 'ON_ERROR_STOP=1',
                                     '-d', conninfo($db), '-f', $f);
        die "psql -f $f failed: $err" if $rc;
    }
}

sub module_schema {
    my $suffix = shift // '';
    my $h = "$REPO/ngx_http_invites_module/ngx_http_invites_schema.h";
    open my $fh, '<', $h or die "$h: $!";
    my $text = do { local $/; <$fh> };
    my ($v) = $text =~ /^#define NGX_HTTP_INVITES_SCHEMA\Q$suffix\E\s+(\d+)/m
        or die "$h: no NGX_HTTP_INVITES_SCHEMA$suffix\n";
    return 0 + $v;
}

1;
