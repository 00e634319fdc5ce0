# invites_db_idle_timeout: a pooled connection with nothing to do for that
# long is closed, and opened again when needed; a connection that is busy,
# however long, is not; 0 keeps idle connections for good.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep time);

plan 'no_plan';
workers 1;
default_group('idle');

sub backends { return psql("SELECT count(*) $MODULE_BACKENDS") }

start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_db_pool 4;
        invites_db_idle_timeout 1s;
        invites_api;
    }
CONF

is(create('first@example.com')->{status}, 200, 'a Create opens a connection');
is(backends(), 1, 'one backend');
sleep 0.5;
is(backends(), 1, 'still there after half the idle timeout');
is(wait_backends(sub { $_[0] == 0 }, 5), 0, 'closed once idle for 1s');
like(error_log_text(), qr/closing a PostgreSQL connection idle for 1000 ms/,
     'the error log says why');

is(create('second@example.com')->{status}, 200,
   'the next Create opens another and succeeds');
is(backends(), 1, 'one backend again');

# a Create waiting 2s for a lock is busy, not idle
my $lock = hold_lock();
my $h = create_start('held@example.com', timeout => 10);
is(wait_lock_waiters(1, 5), 1, 'a Create waits for a lock');
sleep 2;
release_lock($lock);
my $r = http_end($h);
is($r->{status}, 200, 'and succeeds after 2s: its connection was not closed');
unlike(error_log_text(), qr/did not answer in time|retrying/,
       'nothing was retried or timed out');

error_log_clean('no alert, crit or crash in error.log');
stop_nginx();

# ---- 0: idle connections stay

start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_db_idle_timeout 0;
        invites_api;
    }
CONF

is(create('third@example.com')->{status}, 200, 'a Create with idle timeout 0');
sleep 1.5;
is(backends(), 1, 'its connection is kept');
stop_nginx();
