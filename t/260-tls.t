# TLS to PostgreSQL: the harness's cluster gets a throwaway CA and a server
# certificate for "localhost", and a role that pg_hba.conf lets in over TLS
# only.  sslmode=verify-full works through the module's non-blocking connect
# (the host name is resolved when nginx reads its configuration and stays
# the name the certificate is checked against); a wrong CA or a name the
# certificate does not carry is a 503 with a clear error-log line.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use File::Temp qw(tempdir);
use Socket qw(getaddrinfo getnameinfo NI_NUMERICHOST SOCK_STREAM);

plan skip_all => 'needs the private cluster (its postgres superuser)'
    if $ENV{TEST_INVITES_PG_CONNINFO};
plan skip_all => 'needs openssl' if system('openssl version >/dev/null 2>&1');
plan 'no_plan';
log_level('info');

my $ROLE = 'invites_tls';
my $SCRIPT = "$FindBin::Bin/../sql/roles/least_privilege.sql";

# runs a command (no shell); dies with its output if it fails
sub run_ok {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or die "exec $cmd[0]: $!";
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    die "failed: @cmd\n$out" if $?;
    return $out;
}

sub super_psql {
    my @args = @_;
    my $conn = 'host=127.0.0.1 port=' . pg_port() . ' dbname=invites user=postgres';
    open my $fh, '-|', 'psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-d', $conn, @args
        or die "psql: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh or die "psql as postgres failed ($?): @args\n";
    $out =~ s/\s+\z//;
    return $out;
}

sub create {
    my ($email) = @_;
    return http('POST', '/invites/Invites/Create',
                qq{{"group_id":"tls","email":"$email"}});
}

# the module's backends, with their TLS state
sub module_ssl {
    return super_psql('-c', "SELECT string_agg(s.ssl || ' ' || coalesce(s.version, '-'), ',')"
        . ' FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)'
        . " WHERE a.usename = '$ROLE' AND a.backend_type = 'client backend'");
}

sub start_with {
    my ($conninfo) = @_;
    start_nginx("    location /invites/Invites/ { invites_api; }\n",
                http_config => qq{invites_db "$conninfo";\n});
}


# ------------------------------------------------- a CA and certificates

my $dir = tempdir('invites-tls-XXXXXX', DIR => '/tmp', CLEANUP => 1);
chmod 0755, $dir;       # nginx's workers (nobody) read the CA file

for my $ca (qw(ca wrong-ca)) {
    run_ok('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
           'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
           '-subj', "/CN=Invites test $ca", '-keyout', "$dir/$ca.key",
           '-out', "$dir/$ca.crt",
           '-addext', 'basicConstraints=critical,CA:TRUE',
           '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

open my $ext, '>', "$dir/server.ext" or die $!;
print $ext "subjectAltName = DNS:localhost\n"
         . "extendedKeyUsage = serverAuth\n";
close $ext;
run_ok('openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt',
       'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
       '-keyout', "$dir/server.key", '-out', "$dir/server.csr");
run_ok('openssl', 'x509', '-req', '-in', "$dir/server.csr", '-CA', "$dir/ca.crt",
       '-CAkey', "$dir/ca.key", '-CAcreateserial', '-days', '2',
       '-extfile', "$dir/server.ext", '-out', "$dir/server.crt");
like(run_ok('openssl', 'verify', '-CAfile', "$dir/ca.crt", "$dir/server.crt"),
     qr/OK/, 'the server certificate is signed by the CA');

# PostgreSQL wants its key owned by itself, 0600
my (undef, undef, $pg_uid, $pg_gid) = getpwnam('postgres');
if (defined $pg_uid && $> == 0) {
    chown $pg_uid, $pg_gid, "$dir/server.key", "$dir/server.crt"
        or die "chown: $!";
}
chmod 0600, "$dir/server.key";
chmod 0644, "$dir/ca.crt", "$dir/wrong-ca.crt", "$dir/server.crt";


# ----------------------------------------- PostgreSQL: ssl on, TLS-only role

super_psql('-c', 'ALTER SYSTEM SET ssl = on');
super_psql('-c', "ALTER SYSTEM SET ssl_cert_file = '$dir/server.crt'");
super_psql('-c', "ALTER SYSTEM SET ssl_key_file = '$dir/server.key'");

# the role may come in over TCP only with TLS (first matching line wins)
my $hba = super_psql('-c', 'SHOW hba_file');
open my $in, '<', $hba or die "$hba: $!";
my $rules = do { local $/; <$in> };
close $in;
open my $out, '>', $hba or die "$hba: $!";
print $out "hostnossl all $ROLE 127.0.0.1/32 reject\n"
         . "hostssl   all $ROLE 127.0.0.1/32 trust\n" . $rules;
close $out;

super_psql('-c', 'SELECT pg_reload_conf()');
my $on;
for (1 .. 50) {
    $on = super_psql('-c', 'SHOW ssl');
    last if $on eq 'on';
    sleep 0.1;
}
is($on, 'on', 'PostgreSQL serves TLS after a reload');

super_psql('-v', "app_role=$ROLE", '-f', $SCRIPT);

my ($err, @ai) = getaddrinfo('localhost', undef, {socktype => SOCK_STREAM});
my (undef, $first) = @ai ? getnameinfo($ai[0]{addr}, NI_NUMERICHOST) : ();
# the module connects to the first address; the cluster listens on 127.0.0.1
my $addr = ($first // '') eq '127.0.0.1' ? '' : ' hostaddr=127.0.0.1';
note("localhost resolves first to " . ($first // '?') . "; using '$addr'");

my $base = 'host=localhost port=' . pg_port() . " dbname=invites user=$ROLE$addr";


# ------------------------------------------------------------- the checks

# TEST: verify-full with the right CA
start_with("$base sslmode=verify-full sslrootcert=$dir/ca.crt");
my $r = create('full@example.com');
is($r->{status}, 200, 'verify-full: Create works') or diag($r->{body});
like(module_ssl(), qr/^true TLSv1\.[23]$/, "verify-full: the module's backend uses TLS");
is(create('full2@example.com')->{status}, 200, 'verify-full: the pooled connection serves again');
unlike(error_log_text(), qr/sslrootcert|\Q$dir\E/, 'the conninfo is not logged');
stop_nginx();

# TEST: verify-full with another CA
start_with("$base sslmode=verify-full sslrootcert=$dir/wrong-ca.crt");
$r = create('wrong@example.com');
is($r->{status}, 503, 'a wrong CA: 503');
is($r->{json} && $r->{json}{id}, 'DB_UNAVAILABLE', 'a wrong CA: DB_UNAVAILABLE');
unlike($r->{body}, qr/certificate|SSL|localhost/i, 'the answer says nothing of why');
like(error_log_text(),
     qr/\[error\].*invites: cannot connect to PostgreSQL .*certificate verify failed/,
     'a wrong CA: the error log says the certificate did not verify');
stop_nginx();

# TEST: verify-full against a name the certificate does not carry
start_with('host=127.0.0.1 port=' . pg_port()
           . " dbname=invites user=$ROLE sslmode=verify-full sslrootcert=$dir/ca.crt");
$r = create('name@example.com');
is($r->{status}, 503, 'a host the certificate does not name: 503');
like(error_log_text(),
     qr/invites: cannot connect to PostgreSQL .*does not match host name "127\.0\.0\.1"/,
     'a host the certificate does not name: the error log says so');
stop_nginx();

# TEST: sslmode=require encrypts without checking the certificate
start_with("$base sslmode=require");
$r = create('require@example.com');
is($r->{status}, 200, 'require: Create works') or diag($r->{body});
like(module_ssl(), qr/^true TLSv1\.[23]$/, "require: the module's backend uses TLS");
stop_nginx();

# TEST: without TLS the TLS-only role is refused
start_with("$base sslmode=disable");
$r = create('plain@example.com');
is($r->{status}, 503, 'sslmode=disable for a TLS-only role: 503');
like(error_log_text(), qr/invites: cannot connect to PostgreSQL .*no encryption/,
     'sslmode=disable: the error log has the server\'s refusal');
stop_nginx();

is(psql("SELECT string_agg(email, ',' ORDER BY email) FROM invites WHERE group_id = 'tls'"),
   'full2@example.com,full@example.com,require@example.com',
   'exactly the invites made over TLS were stored');
