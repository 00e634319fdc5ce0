# The invite's lifecycle fields: status, created_at, expires_at, accepted_at,
# revoked_at and metadata after m3o's four, in that order; expiry from
# expires_in_days or invites_expiry; a repeat Create that renews an expired
# or revoked invite; and "invites_fields m3o" writing m3o's four only.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use Time::HiRes qw(sleep);

plan 'no_plan';

my $TIME = '<re:^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$>';

my $LOC = <<'CONF';
    location /invites/Invites/ { invites_api; invites_fields all; }
    location /m3o/Invites/ { invites_api; invites_fields m3o; }
    location /expiring/Invites/ {
        invites_api; invites_fields all; invites_expiry 7d;
    }
CONF

start_nginx($LOC);

sub call {
    my ($path, $body) = @_;
    return http('POST', $path, $body);
}

# ---- the fields of a new invite, in their order
my $c = call('/invites/Invites/Create', '{"group_id":"lc","email":"New@Example.com"}');
is($c->{status}, 200, 'create answers 200');
like($c->{body}, qr/^\{"invite":\{"id":"[0-9a-f-]{36}","group_id":"lc","email":"new\@example.com","code":"\d{8}","status":"pending","created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}\}$/,
     'a new invite: m3o four, then status pending and created_at, nothing unset');
my $inv = $c->{json}{invite};

my $r = call('/invites/Invites/Read', qq{{"id":"$inv->{id}"}});
is($r->{body}, $c->{body}, 'read returns exactly what create returned');

# ---- created_at is the row's, in UTC with milliseconds
my $db = psql(qq{SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM invites WHERE id = '$inv->{id}'});
is($inv->{created_at}, $db, 'created_at is the database time, RFC 3339 UTC, milliseconds');

# ---- invites_fields m3o: byte for byte the four fields
my $m = call('/m3o/Invites/Read', qq{{"id":"$inv->{id}"}});
is($m->{body}, qq({"invite":{"id":"$inv->{id}","group_id":"lc","email":"new\@example.com","code":"$inv->{code}"}}),
   'invites_fields m3o writes the four m3o fields only, byte for byte');
my $ml = call('/m3o/Invites/List', '{"group_id":"lc"}');
is($ml->{body}, qq({"invites":[{"id":"$inv->{id}","group_id":"lc","email":"new\@example.com","code":"$inv->{code}"}]}),
   'a List under invites_fields m3o is m3o\'s shape exactly');

# ---- times before 1970 and at the end of a day are written right
psql(q{INSERT INTO invites (tenant, id, group_id, email, code, created_at, expires_at) VALUES
    ('', 'eeeeeeee-0000-4000-8000-000000000001', 'times', 'old@example.com', '70000001',
     '1969-12-31 23:59:59.999+00', '2000-02-29 12:34:56.789+00')});
$r = call('/invites/Invites/Read', '{"code":"70000001"}');
is($r->{json}{invite}{created_at}, '1969-12-31T23:59:59.999Z', 'a time before the epoch');
is($r->{json}{invite}{expires_at}, '2000-02-29T12:34:56.789Z', 'a leap day');
is($r->{json}{invite}{status}, 'expired', 'a pending invite past expires_at reads as expired');

# ---- expires_in_days, and invites_expiry
$c = call('/invites/Invites/Create', '{"group_id":"exp","email":"d3@example.com","expires_in_days":3}');
is($c->{status}, 200, 'create with expires_in_days');
my $secs = psql(qq{SELECT round(extract(epoch FROM expires_at - created_at)) FROM invites WHERE id = '$c->{json}{invite}{id}'});
is($secs, 3 * 86400, 'expires_in_days 3 expires three days after creation');
like($c->{body}, qr/"created_at":"[^"]+","expires_at":"[^"]+"\}\}$/, 'expires_at follows created_at');

$c = call('/expiring/Invites/Create', '{"group_id":"exp","email":"conf@example.com"}');
$secs = psql(qq{SELECT round(extract(epoch FROM expires_at - created_at)) FROM invites WHERE id = '$c->{json}{invite}{id}'});
is($secs, 7 * 86400, 'invites_expiry 7d is the default expiry');
$c = call('/expiring/Invites/Create', '{"group_id":"exp","email":"own@example.com","expires_in_days":1}');
$secs = psql(qq{SELECT round(extract(epoch FROM expires_at - created_at)) FROM invites WHERE id = '$c->{json}{invite}{id}'});
is($secs, 86400, 'expires_in_days wins over invites_expiry');
$c = call('/invites/Invites/Create', '{"group_id":"exp","email":"never@example.com"}');
ok(!exists $c->{json}{invite}{expires_at}, 'without either, an invite never expires (no expires_at)');

# ---- metadata: stored as jsonb, returned as stored
$c = call('/invites/Invites/Create', '{"group_id":"meta","email":"m@example.com","metadata":{"role":"admin", "n":[1,2.5,{"x":null}],"s":"\u00e9\n"}}');
is($c->{status}, 200, 'create with metadata');
json_is($c->{body}, {invite => {id => '<uuid>', group_id => 'meta', email => 'm@example.com',
                                 code => '<code>', status => 'pending', created_at => $TIME,
                                 metadata => {role => 'admin', n => [1, 2.5, {x => undef}], s => "\x{e9}\n"}}},
        'metadata comes back as stored');
like($c->{body}, qr/,"metadata":\{.*\}\}\}$/, 'metadata is the last field');
is(psql(qq{SELECT metadata->>'role' FROM invites WHERE id = '$c->{json}{invite}{id}'}), 'admin',
   'metadata is a jsonb column');
$c = call('/invites/Invites/Create', '{"group_id":"meta","email":"null@example.com","metadata":null}');
ok(!exists $c->{json}{invite}{metadata}, 'metadata null is no metadata');

# ---- renew: a repeat Create of a revoked or expired invite
$c = call('/invites/Invites/Create', '{"group_id":"renew","email":"r@example.com","metadata":{"v":1}}');
my $first = $c->{json}{invite};
my $again = call('/invites/Invites/Create', '{"group_id":"renew","email":"r@example.com","metadata":{"v":2}}');
is($again->{body}, $c->{body}, 'a repeat Create of a pending invite returns it unchanged');

my $rv = call('/invites/Invites/Revoke', qq{{"id":"$first->{id}"}});
is($rv->{json}{invite}{status}, 'revoked', 'revoked');
my $renewed = call('/invites/Invites/Create', '{"group_id":"renew","email":"r@example.com","metadata":{"v":3}}');
my $ri = $renewed->{json}{invite};
is($ri->{id}, $first->{id}, 'renewing a revoked invite keeps its id');
isnt($ri->{code}, $first->{code}, 'and gives it a new code');
is($ri->{status}, 'pending', 'pending again');
ok(!exists $ri->{revoked_at}, 'revoked_at cleared');
is_deeply($ri->{metadata}, {v => 3}, 'the metadata replaced when given');
is($ri->{created_at}, $first->{created_at}, 'created_at stays: it is the same invite');
is(call('/invites/Invites/Read', qq{{"code":"$first->{code}"}})->{status}, 404, 'the old code stops working');
is(psql(q{SELECT count(*) FROM invites WHERE group_id = 'renew'}), 1, 'still one row');

psql(qq{UPDATE invites SET expires_at = now() - interval '1 hour' WHERE id = '$first->{id}'});
is(call('/invites/Invites/Read', qq{{"id":"$first->{id}"}})->{json}{invite}{status}, 'expired', 'it expired');
$renewed = call('/invites/Invites/Create', '{"group_id":"renew","email":"r@example.com","expires_in_days":2}');
$ri = $renewed->{json}{invite};
is($ri->{id}, $first->{id}, 'renewing an expired invite keeps its id');
is($ri->{status}, 'pending', 'pending again, with');
$secs = psql(qq{SELECT round(extract(epoch FROM expires_at - now())) FROM invites WHERE id = '$first->{id}'});
ok($secs > 2 * 86400 - 60 && $secs <= 2 * 86400, 'a new expiry from now');
is_deeply($ri->{metadata}, {v => 3}, 'the metadata kept when not given');

# ---- a Create racing another renewal of the same revoked invite: a psql
# session renews it and holds its transaction open while the module's
# Create starts (its snapshot sees the invite revoked) and waits for the
# row; once the session commits, the Create answers the renewed invite,
# not the revoked row of its snapshot
my $cr = call('/invites/Invites/Create', '{"group_id":"race","email":"race@example.com"}')->{json}{invite};
call('/invites/Invites/Revoke', qq{{"id":"$cr->{id}"}});
open(my $held, '|-', 'psql', '-qX', '-d', pg_conninfo()) or die "psql: $!";
select((select($held), $| = 1)[0]);
print $held "BEGIN;\nUPDATE invites SET status = 'pending', revoked_at = NULL, code = '77777777' WHERE group_id = 'race';\n";
sleep 0.5;
my $h = http_start('POST', '/invites/Invites/Create', '{"group_id":"race","email":"race@example.com"}',
                   timeout => slow(10));
sleep 0.5;
print $held "COMMIT;\n";
close $held;
my $raced = http_end($h);
is($raced->{status}, 200, 'a Create that raced another renewal: 200');
is($raced->{json}{invite}{status}, 'pending', 'it answers the invite pending, as renewed');
is($raced->{json}{invite}{code}, '77777777', 'with the code the other renewal gave it');
is($raced->{json}{invite}{id}, $cr->{id}, 'the same invite');

my $red = call('/invites/Invites/Redeem', qq{{"code":"$ri->{code}"}});
is($red->{json}{invite}{status}, 'accepted', 'redeemed');
my $acc = call('/invites/Invites/Create', '{"group_id":"renew","email":"r@example.com"}');
is($acc->{body}, $red->{body}, 'a repeat Create of an accepted invite returns it as it is');

stop_nginx();

run_tests();

__DATA__

=== TEST 1: expires_in_days must be an integer from 1 to 365
--- config
    location /invites/Invites/ { invites_api; invites_fields all; }
--- request eval
[map { "POST /invites/Invites/Create\n{\"group_id\":\"bad\",\"email\":\"b\@example.com\",\"expires_in_days\":$_}" }
     0, 366, -1, '1.5', '1e2', '"7"', 'true', '[7]', '{}', '99999999999999999999']
--- error_code eval
[(400) x 10]
--- response_body_json eval
[({id => 'BAD_REQUEST', code => 400, detail => 'Field expires_in_days must be an integer from 1 to 365',
   status => 'Bad Request'}) x 10]



=== TEST 2: metadata must be a JSON object
--- request eval
[map { "POST /invites/Invites/Create\n{\"group_id\":\"bad\",\"email\":\"b\@example.com\",\"metadata\":$_}" }
     '"x"', '1', '[]', 'true']
--- error_code eval
[(400) x 4]
--- response_body_json eval
[({id => 'BAD_REQUEST', code => 400, detail => 'Field metadata must be a JSON object',
   status => 'Bad Request'}) x 4]



=== TEST 3: metadata of more than 4096 bytes, nested too deep or with a number numeric cannot hold is refused
--- request eval
["POST /invites/Invites/Create\n{\"group_id\":\"bad\",\"email\":\"b\@example.com\",\"metadata\":{\"k\":\"" . ('x' x 4090) . "\"}}",
 "POST /invites/Invites/Create\n{\"group_id\":\"bad\",\"email\":\"b\@example.com\",\"metadata\":" . ('{"a":' x 33) . '1' . ('}' x 33) . "}",
 "POST /invites/Invites/Create\n{\"group_id\":\"bad\",\"email\":\"b\@example.com\",\"metadata\":{\"n\":1e1001}}",
 "POST /invites/Invites/Create\n{\"group_id\":\"ok\",\"email\":\"b\@example.com\",\"metadata\":{\"k\":\"" . ('x' x 4086) . "\"}}",
 "POST /invites/Invites/Create\n{\"group_id\":\"ok\",\"email\":\"c\@example.com\",\"metadata\":" . ('{"a":' x 32) . '1e-1000' . ('}' x 32) . "}"]
--- error_code eval
[400, 400, 400, 200, 200]
--- response_body_json eval
[({id => 'BAD_REQUEST', code => 400,
   detail => 'Field metadata is larger than 4096 bytes, nested deeper than 32 levels, or holds a number out of range',
   status => 'Bad Request'}) x 3, ignore(), ignore()]
--- no_error_log
[error]



=== TEST 4: invites_expiry takes a time or off, and nginx -t says what is wrong
--- config
    location /invites/Invites/ { invites_api; invites_expiry never; }
--- must_die: invalid value "never" in "invites_expiry"



=== TEST 5: invites_expiry is not set twice
--- config
    location /invites/Invites/ { invites_api; invites_expiry 1d; invites_expiry off; }
--- must_die: "invites_expiry" directive is duplicate



=== TEST 6: invites_fields takes all or m3o
--- config
    location /invites/Invites/ { invites_api; invites_fields some; }
--- must_die: invalid value "some"
