# The Debian package as an administrator uses it: ./build.sh deb, dpkg -i,
# `nginx -t` with the system configuration, the schema applied by the
# packaged invites-migrate, the README's first requests served by the
# system nginx, then dpkg --purge, which must leave the machine as it was.
#
# The system nginx runs its own /etc/nginx/nginx.conf, copied to a
# temporary directory with three changes: the sites-enabled include (the
# default site listens on port 80, which may be taken) becomes this test's
# site on a free loopback port, and the pid file and the logs move to the
# temporary directory. The modules-enabled include, which is what loads the
# packaged module, stays as it is. Nothing under /etc is written but by dpkg.

use strict;
use warnings;

use constant PKG => 'libnginx-mod-http-invites';

BEGIN {
    my $why = $> != 0                       ? 'needs root (dpkg -i)'
            : !-f '/etc/debian_version'     ? 'needs Debian'
            : !-x '/usr/bin/dpkg'           ? 'needs dpkg'
            : !-x '/usr/sbin/nginx'         ? "needs Debian's nginx"
            : $ENV{TEST_INVITES_PG_CONNINFO}
                ? 'needs the private cluster (it empties the schema)'
            : $ENV{TEST_NGINX_BINARY} || $ENV{TEST_INVITES_MODULE}
                ? 'tests the package in Debian\'s nginx, not this nginx or'
                  . ' module'
            : undef;

    if (!$why) {
        my $st = `dpkg-query -W -f='\${db:Status-Abbrev}' ${\PKG} 2>/dev/null`;
        $why = PKG . ' is installed already: this test would remove it'
            if $st =~ /^[^u]/;
    }

    if (!$why && system('/usr/sbin/nginx -t -q >/dev/null 2>&1') != 0) {
        $why = '/etc/nginx/nginx.conf fails nginx -t before the package'
               . ' is installed';
    }

    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

plan 'no_plan';

my $ROOT = "$FindBin::Bin/..";
my $NGINX = '/usr/sbin/nginx';
my $SHARE = '/usr/share/' . PKG;
my $SO = '/usr/lib/nginx/modules/ngx_http_invites_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-invites.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-invites.conf';

# directories the package may create, and whether they were there before
my %BEFORE = map { $_ => -e $_ }
    '/usr/lib/nginx', '/usr/lib/nginx/modules',
    '/usr/share/nginx/modules-available';

my ($installed, $nginx_pid, $tmp);

END {
    local $?;
    stop_system_nginx() if $nginx_pid;
    if ($installed) {
        my ($rc, $out) = dpkg('--purge', PKG);
        print STDERR "# dpkg --purge failed:\n$out" if $rc;
    }
    remove_tree($tmp) if $tmp;
}


# cmd(ARGV...): runs a command; returns (exit status, stdout and stderr
# together)
sub cmd {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        exec { $cmd[0] } @cmd or print "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($?, $out);
}

# dpkg, waiting up to two minutes for another dpkg or apt to let go of
# its lock
sub dpkg {
    my @args = @_;
    my $deadline = time + slow(120);
    while (1) {
        my ($rc, $out) = cmd('dpkg', @args);
        return ($rc, $out) if !$rc || $out !~ /locked/ || time > $deadline;
        sleep 1;
    }
}

sub slurp {
    my $file = shift;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh or die "$file: $!";
}

sub port_open {
    my $port = shift;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 1) ? 1 : 0;
}

sub stop_system_nginx {
    kill 'QUIT', $nginx_pid;
    my $deadline = time + slow(10);
    while (time < $deadline) {
        if (waitpid($nginx_pid, WNOHANG) != 0) {
            undef $nginx_pid;
            return 1;
        }
        sleep 0.05;
    }
    kill 'KILL', $nginx_pid;
    waitpid($nginx_pid, 0);
    undef $nginx_pid;
    return 0;
}

sub curl {
    my ($port, $endpoint, $body) = @_;
    my ($rc, $out) = cmd('curl', '-s', '-S', '--max-time', slow(10),
        "http://127.0.0.1:$port/invites/Invites/$endpoint", '-d', $body);
    is($rc, 0, "curl $endpoint exits 0") or diag($out);
    return $out;
}


# ------------------------------------------------------------ the package

my ($rc, $out) = cmd("$ROOT/build.sh", 'deb');
is($rc, 0, './build.sh deb succeeds') or diag($out);

chomp(my $version =
      `dpkg-parsechangelog -l '$ROOT/debian/changelog' -S Version`);
chomp(my $arch = `dpkg-architecture -qDEB_HOST_ARCH`);
(my $file_version = $version) =~ s/^\d+://;
my $deb = "$ROOT/build/" . PKG . "_${file_version}_$arch.deb";
ok(-f $deb, "the package is build/" . PKG . "_${file_version}_$arch.deb")
    or die "no package to test\n";

my $header = slurp("$ROOT/ngx_http_invites_module/ngx_http_invites_version.h");
my ($module_version) = $header =~ /NGX_HTTP_INVITES_VERSION\s+"([^"]+)"/;
is((cmd('dpkg-deb', '-f', $deb, 'Version'))[1], "$version\n",
   'its version is debian/changelog\'s');
like($version, qr/^(?:\d+:)?\Q$module_version\E-[^-]+$/,
     'whose upstream part is NGX_HTTP_INVITES_VERSION');

my ($abi) = slurp('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')
    =~ /^nginx:abi=(\S+)/m;
like((cmd('dpkg-deb', '-f', $deb, 'Depends'))[1], qr/(?:^|, )\Q$abi\E(?:,|$)/m,
     "it depends on the installed nginx's ABI, $abi");

$installed = 1;
($rc, $out) = dpkg('-i', $deb);
is($rc, 0, 'dpkg -i installs it') or die "dpkg -i failed:\n$out";
is(`dpkg-query -W -f='\${Status}' ${\PKG}`, 'install ok installed',
   'dpkg knows it as installed');

ok(-f $SO, "the module is $SO");
is(-f $AVAILABLE ? slurp($AVAILABLE) : undef,
   "load_module modules/ngx_http_invites_module.so;\n",
   "$AVAILABLE loads it");
is(readlink($ENABLED), $AVAILABLE, "$ENABLED links to it");
ok(-f "$SHARE/bin/invites-migrate" && -x _,
   "$SHARE/bin/invites-migrate is executable");
is_deeply([map { s{.*/}{}r } sort glob "$SHARE/sql/*.sql"],
          [map { s{.*/}{}r } sort glob "$ROOT/sql/*.sql"],
          "every migration of sql/ is in $SHARE/sql");
for my $doc (qw(README.md SECURITY.md)) {
    my @found = glob('/usr/share/doc/' . PKG . "/$doc*");
    ok(@found == 1, "$doc is a doc");
}
like(slurp('/usr/share/doc/' . PKG . '/copyright'),
     qr/^License: BSD-2-Clause$/m, 'the copyright file carries the license');


# ------------------------------------------------- the system configuration

($rc, $out) = cmd($NGINX, '-t');
is($rc, 0, 'nginx -t passes with /etc/nginx/nginx.conf') or diag($out);
($rc, $out) = cmd($NGINX, '-T');
like($out, qr{^load_module modules/ngx_http_invites_module\.so;$}m,
     'and loads the module through modules-enabled');


# ------------------------------------------- the schema, by the packaged tool

psql('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
is(psql("SELECT to_regclass('invites') IS NULL"), 't',
   'the database starts without the schema');

{
    local $ENV{INVITES_DB} = pg_conninfo();
    ($rc, $out) = cmd("$SHARE/bin/invites-migrate");
    is($rc, 0, 'the packaged invites-migrate applies the schema') or diag($out);
    ($rc, $out) = cmd("$SHARE/bin/invites-migrate");
    is($rc, 0, 'and succeeds again with nothing left to apply') or diag($out);
}
is(psql("SELECT to_regclass('invites') IS NOT NULL"
        . " AND to_regclass('invites_api_keys') IS NOT NULL"), 't',
   'the database has the invites and invites_api_keys tables');


# ------------------------------------------------------ the system nginx

$tmp = tempdir('invites-deb-XXXXXX', DIR => '/tmp');
my $port = server_port();
my $pg = pg_port();

my $conf = slurp('/etc/nginx/nginx.conf');
like($conf, qr{^\s*include\s+/etc/nginx/modules-enabled/\*\.conf;}m,
     'nginx.conf includes modules-enabled');
ok($conf =~ s{^\s*include\s+/etc/nginx/sites-enabled/\*;}
             {include $tmp/site.conf;}m,
   "nginx.conf's sites-enabled include is replaced by the test's site")
    or die "cannot run the system nginx without its default site\n";
$conf =~ s{^\s*(?:pid|error_log|access_log)\s[^;]*;}{}mg;
spew("$tmp/nginx.conf", "pid $tmp/nginx.pid;\nerror_log $tmp/error.log;\n"
                        . $conf);
spew("$tmp/site.conf", <<"CONF");
server {
    listen 127.0.0.1:$port;
    access_log $tmp/access.log;

    location /invites/Invites/ {
        invites_api;
        invites_db "host=127.0.0.1 port=$pg dbname=invites user=invites";
    }
}
CONF

($rc, $out) = cmd($NGINX, '-t', '-c', "$tmp/nginx.conf");
is($rc, 0, 'nginx -t passes with the site that uses the module') or diag($out);

$nginx_pid = fork // die "fork: $!";
if (!$nginx_pid) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$tmp/stderr";
    open STDERR, '>&', \*STDOUT;
    exec { $NGINX } $NGINX, '-c', "$tmp/nginx.conf", '-g', 'daemon off;'
        or print "exec $NGINX: $!\n";
    POSIX::_exit(127);
}

my $deadline = time + slow(10);
my $up = 0;
while (!$up && time < $deadline) {
    last if waitpid($nginx_pid, WNOHANG) != 0;
    $up = port_open($port) or sleep 0.05;
}
ok($up, "the system nginx serves 127.0.0.1:$port")
    or die "nginx did not start:\n" . slurp("$tmp/stderr")
           . (-f "$tmp/error.log" ? slurp("$tmp/error.log") : '');

my $body = curl($port, 'Create',
                '{"group_id":"mygroup","email":"John@Doe.com"}');
json_is($body,
        '{"invite":{"id":"<uuid>","group_id":"mygroup","email":"john@doe.com",'
        . '"code":"<code>","status":"pending","created_at":"<time>"}}',
        'Create returns the invite');
my $created = eval { JSON::PP->new->decode($body)->{invite} } // {};
my ($id, $code) = map { $created->{$_} // '' } qw(id code);

$body = curl($port, 'Read', qq({"code":"$code"}));
json_is($body, {invite => $created}, 'Read by its code returns it');

$body = curl($port, 'List', '{"group_id":"mygroup"}');
json_is($body, {invites => [$created]}, 'List of its group returns it');

$body = curl($port, 'Delete', qq({"id":"$id"}));
json_is($body, {}, 'Delete returns {}');

$body = curl($port, 'Read', qq({"id":"$id"}));
json_is($body, '{"id":"NOT_FOUND","code":404,"detail":"Invite not found",'
               . '"status":"Not Found"}',
        'Read after Delete finds nothing');

ok(stop_system_nginx(), 'the system nginx stops on QUIT');
ok(!port_open($port), "nothing listens on 127.0.0.1:$port any more");


# ------------------------------------------------------------- the purge

($rc, $out) = dpkg('--purge', PKG);
is($rc, 0, 'dpkg --purge removes the package') or diag($out);
$installed = 0 unless $rc;
like(`dpkg-query -W -f='\${db:Status-Abbrev}' ${\PKG} 2>/dev/null`,
     qr/^(?:un|)\s*$/, 'dpkg no longer knows it as installed');

for my $path ($SO, $AVAILABLE, $ENABLED, "$ENABLED.removed", $SHARE,
              '/usr/share/doc/' . PKG)
{
    ok(!-e $path && !-l $path, "$path is gone");
}

for my $dir (sort keys %BEFORE) {
    is(-e $dir ? 1 : 0, $BEFORE{$dir} ? 1 : 0,
       "$dir is " . ($BEFORE{$dir} ? 'still there' : 'gone again'));
}

($rc, $out) = cmd($NGINX, '-t');
is($rc, 0, 'nginx -t still passes with /etc/nginx/nginx.conf') or diag($out);
($rc, $out) = cmd($NGINX, '-t', '-c', "$tmp/nginx.conf");
like($out, qr/unknown directive "invites_/,
     'the site no longer finds the module: it came from modules-enabled');
