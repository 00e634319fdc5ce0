# invites_db_pipeline on: one PostgreSQL connection carries the queries of
# many concurrent requests, each in its own Sync segment, so that one
# request's error or timeout answers that request only.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Invites::Scenario;
use Time::HiRes qw(sleep);

plan 'no_plan';
workers 1;

default_group('pipe');

start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_db_pool 1;
        invites_db_pipeline on;
        invites_db_timeout 1s;
        invites_api;
    }
CONF

my $r = create('warm@example.com');
is($r->{status}, 200, 'a Create through the pipeline');

# ---- many requests at once, one connection

my @h = map { create_start("many$_\@example.com", timeout => 10) } 1 .. 40;
my @r = map { http_end($_) } @h;
is(scalar(grep { $_->{status} == 200 } @r), 40, '40 concurrent Creates: all 200');
my %emails = map { ($_->{json}{invite}{email} // '') => 1 } @r;
is(scalar(keys %emails), 40, 'each got its own invite back');
is(psql("SELECT count(*) FROM invites WHERE email LIKE 'many%'"), '40',
   'and all 40 are stored');
is(psql("SELECT count(*) $MODULE_BACKENDS"), '1', 'over one connection');

my @reads = map {
    http_start('POST', "$API/Read",
               qq({"id":"$_->{json}{invite}{id}"}), timeout => 10)
} @r;
my $same = 0;
for my $i (0 .. $#reads) {
    my $x = http_end($reads[$i]);
    $same++ if $x->{status} == 200
               && $x->{json}{invite}{id} eq $r[$i]{json}{invite}{id};
}
is($same, 40, '40 concurrent Reads each get their own invite');

# ---- an error in one request leaves its neighbours alone

psql(q{ALTER TABLE invites ADD CONSTRAINT pipe_no_evil
       CHECK (group_id <> 'evil')});

my @mixed = map {
    $_ % 5 == 0
        ? http_start('POST', "$API/Create",
                     qq({"group_id":"evil","email":"e$_\@x.y"}), timeout => 10)
        : create_start("good$_\@example.com", timeout => 10)
} 1 .. 30;
my %st;
for my $i (0 .. $#mixed) {
    my $x = http_end($mixed[$i]);
    my $want = ($i + 1) % 5 == 0 ? 500 : 200;
    $st{$x->{status} == $want ? 'as expected' : "got $x->{status}"}++;
}
is_deeply(\%st, {'as expected' => 30},
          'failing statements answer 500 DB_ERROR, the others 200');
is(psql("SELECT count(*) FROM invites WHERE email LIKE 'good%'"), '24',
   'every good Create is stored');
like(error_log_text(), qr/invites_create failed: ERROR:  new row .* violates check constraint "pipe_no_evil"/,
     'the error log says why');

psql('ALTER TABLE invites DROP CONSTRAINT pipe_no_evil');

# ---- a statement that times out answers 504; those behind it go on

my $lock = hold_lock();
my $stuck = create_start('stuck@example.com', timeout => 10);
wait_lock_waiters(1, 5);
my $behind = http_start('POST', "$API/Read", '{"code":"12345678"}',
                        timeout => 10);
my $s = http_end($stuck);
is($s->{status}, 504, 'the statement stuck behind a lock: 504');
is($s->{json}{id}, 'DB_TIMEOUT', 'DB_TIMEOUT');
release_lock($lock);
my $b = http_end($behind);
ok($b->{status} == 404 || $b->{status} == 504,
   "the query behind it answers by itself ($b->{status})");

$r = create('after@example.com');
is($r->{status}, 200, 'the pipeline serves again');

stop_nginx();

# ---- with more connections: reads pile up on one, writes spread over all

my $POOL = 4;
my $POOLED = <<"CONF";
    location /invites/Invites/ {
        invites_db_pool $POOL;
        invites_db_pipeline on;
        invites_api;
    }
CONF
start_nginx($POOLED);

# more Creates than one connection carries (32), held behind a lock, open
# every connection
$lock = hold_lock();
@h = map { create_start("open$_\@example.com", timeout => 10) } 1 .. 100;
my $waiting = wait_lock_waiters($POOL, 10);
release_lock($lock);
@r = map { http_end($_) } @h;
is($waiting, $POOL, "100 Creates wait for a lock, on $POOL connections");
is(scalar(grep { $_->{status} == 200 } @r), 100, 'and all succeed');
is(psql("SELECT count(*) $MODULE_BACKENDS"), $POOL,
   "over all $POOL connections");

sub used_since {
    my $since = shift;
    return psql("SELECT count(*) $MODULE_BACKENDS AND query_start > '$since'");
}

# 20 concurrent Reads of the invites @r made: how many answer 200
sub read_20 {
    my @reads = map {
        http_start('POST', "$API/Read", qq({"id":"$r[$_]{json}{invite}{id}"}),
                   timeout => 10)
    } 0 .. 19;
    return scalar(grep { http_end($_)->{status} == 200 } @reads);
}

my $since = psql('SELECT clock_timestamp()');
is(read_20(), 20, '20 concurrent Reads succeed');
is(used_since($since), 1, 'all on one connection, whose backend batches them');

$since = psql('SELECT clock_timestamp()');
@h = map { create_start("spread$_\@example.com", timeout => 10) } 1 .. 8;
is(scalar(grep { http_end($_)->{status} == 200 } @h), 8,
   '8 concurrent Creates succeed');
is(used_since($since), $POOL, "spread over the $POOL connections, whose "
   . 'backends commit side by side');

stop_nginx();

# ---- writes open the connections they need; reads do not

start_nginx($POOLED);

is(http('POST', "$API/Read", qq({"id":"$r[0]{json}{invite}{id}"}))->{status},
   200, 'a Read opens the first connection');
is(read_20(), 20, '20 concurrent Reads succeed');
is(psql("SELECT count(*) $MODULE_BACKENDS"), 1, 'over one connection');

# Creates of an invite that another transaction is inserting wait for it,
# so each finds the connections before it busy (a row lock: a table lock
# would stop the new connections' PREPARE too)
my $dbh = DBI->connect('dbi:Pg:dbname=invites;host=127.0.0.1;port='
    . Invites::Test::pg_port(), 'invites', '',
    {AutoCommit => 0, RaiseError => 1, PrintError => 0});
$dbh->do(q{INSERT INTO invites (tenant, id, group_id, email, code) VALUES
           ('', 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee', 'pipe',
            'grow@example.com', '99999999')});
@h = ();
for (1 .. 12) {
    push @h, create_start('grow@example.com', timeout => 10);
    sleep 0.2;
}
$waiting = wait_lock_waiters($POOL, 10);
$dbh->rollback;
$dbh->disconnect;
is(scalar(grep { http_end($_)->{status} == 200 } @h), 12,
   '12 Creates of an invite being inserted elsewhere succeed');
is($waiting, $POOL, "they waited on $POOL connections, opened for them");

error_log_clean('no alert, crit or crash in error.log');
stop_nginx();

# ---- a List or a write waits behind one query at most, so never behind a
# batch; Reads pile up behind anything.  The queue (here 1) bounds the
# requests that wait for a connection with room for them.

start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_db_pool 1;
        invites_db_queue 1;
        invites_db_pipeline on;
        invites_api;
    }
CONF

is(create('first@example.com')->{status}, 200, 'warm-up Create (pool 1, queue 1)');

$lock = hold_lock();
my $held = create_start('held@example.com', timeout => 10);
is(wait_lock_waiters(1, 5), 1, 'a Create waits for a lock on the one connection');
my $list1 = http_start('POST', "$API/List", '{"group_id":"pipe"}', timeout => 10);
sleep 0.2;
my @piled = map {
    http_start('POST', "$API/Read", qq({"code":"0000000$_"}), timeout => 10)
} 1 .. 5;
sleep 0.2;
my $list2 = http_start('POST', "$API/List", '{"group_id":"pipe"}', timeout => 10);
sleep 0.2;
my $refused = http('POST', "$API/Read", '{"code":"00000009"}', timeout => 5);
is($refused->{status}, 503,
   'behind the second List, which waits, a Read is refused: the queue of 1 is full');
is($refused->{json}{id}, 'DB_UNAVAILABLE', 'DB_UNAVAILABLE');
release_lock($lock);

is(http_end($held)->{status}, 200, 'the held Create completes');
my $l1 = http_end($list1);
is($l1->{status}, 200, 'the first List, sent behind the Create, is answered');
is(scalar(grep { http_end($_)->{status} == 404 } @piled), 5,
   '5 Reads piled behind them answer (404: no such code), none refused');
my $l2 = http_end($list2);
is($l2->{status}, 200, 'the waiting List is answered');
ok(grep({ $_->{email} eq 'held@example.com' }
        @{ $l2->{json}{invites} // [] }),
   'after the Create ahead of it had committed');
like(error_log_text(), qr/already wait for a database connection, rejecting/,
     'the error log says why the Read was refused');

error_log_clean('no alert, crit or crash in error.log');
stop_nginx();
