# Self-test of t/lib/Invites/Test.pm: plain nginx, no invites module.
BEGIN { $ENV{TEST_INVITES_NO_MODULE} = 1 }
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use IO::Socket::INET;

plan 'no_plan';
run_tests();

# ---- imperative API: the database
is(psql('SELECT count(*) FROM harness_fixture'), '2', '--- sql fixture persisted');
is(psql("SELECT 'x' || 1"), 'x1', 'psql returns tuples only, unaligned');
ok(!eval { psql('SELECT * FROM no_such_table'); 1 }, 'psql dies on an error');
like($@, qr/no_such_table/, 'with the server message');

pg_stop();
ok(!eval { psql('SELECT 1'); 1 }, 'psql fails while PostgreSQL is stopped');
pg_start();
is(psql('SELECT count(*) FROM harness_fixture'), '2', 'same data after pg_start');
is(pg_conninfo(), 'host=127.0.0.1 port=' . pg_port() . ' dbname=invites user=invites',
   'pg_conninfo');
is($ENV{TEST_INVITES_PG_PORT}, pg_port(), 'TEST_INVITES_PG_PORT exported');

# ---- imperative API: nginx, a stuck request and a reload
my $upstream = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 5, Proto => 'tcp', ReuseAddr => 1)
    or die "listen: $!";
my $up = $upstream->sockport;
start_nginx(<<"CONF", workers => 2);
    location = /fast { return 200 "fast\\n"; }
    location = /stuck { proxy_pass http://127.0.0.1:$up; proxy_read_timeout 30s; }
    location = /json { default_type application/json; return 200 '{"a":[1,true,null]}'; }
CONF

my $stuck = http_start('GET', '/stuck', undef, timeout => 0.3);
my $r = http('GET /fast');
is($r->{status}, 200, 'a request answers while another one is stuck');
is($r->{body}, "fast\n", 'with its body');
cmp_ok($r->{elapsed}, '<', 1, 'and did not wait for the stuck one');
my $s = http_end($stuck);
is($s->{error}, 'client socket timed out', 'http_end reports the client timeout');
ok(!defined $s->{status}, 'and no status');
close $upstream;

$r = http('POST', '/json', '{"x":1}', headers => ['X-A: 1']);
is($r->{headers}{'content-type'}, 'application/json', 'headers have lowercase names');
is_deeply($r->{json}, {a => [1, JSON::PP::true(), undef]}, 'json is decoded');
json_is($r->{body}, '{"a":["<any>",true,null]}', 'json_is with a placeholder');

my @workers = worker_pids();
is(scalar @workers, 2, 'two workers');
my @old = reload_nginx();
is_deeply([sort @old], [sort @workers], 'reload_nginx returns the old workers');
ok(wait_pids_gone(\@old, 5), 'old workers are gone after the reload');
is(http('GET /fast')->{status}, 200, 'new workers answer');
like(error_log_text(), qr/reconfiguring/, 'error_log_text sees the reload');

ok(!eval { start_nginx('location / { bogus_directive; }'); 1 },
   'start_nginx dies on a bad config');
like($@, qr/unknown directive "bogus_directive"/, 'with the [emerg] line');
stop_nginx();

__DATA__

=== TEST 1: status, headers and exact body
--- config
    location = /t {
        add_header X-Test yes;
        return 200 "hello\n";
    }
--- request
GET /t
--- error_code: 200
--- response_headers
X-Test: yes
Content-Type: text/plain
! X-Missing
--- response_headers_like
Server: nginx/[\d.]+
--- response_body
hello



=== TEST 2: other status codes, default error_code is 200 otherwise
--- config
    location = /created { return 201 "made"; }
    location = /gone { return 404; }
--- request eval
["GET /created", "GET /gone", "GET /nothing"]
--- error_code eval
[201, 404, 404]
--- response_body_like eval
["^made\\z", "404 Not Found", "404"]



=== TEST 3: JSON body with placeholders
--- config
    location = /invite {
        default_type application/json;
        return 200 '{"invite":{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","group_id":"g1","email":"a@example.com","code":"01234567","created":"2024-01-01T00:00:00Z"}}';
    }
--- request
POST /invite
{"group_id":"g1","email":"A@Example.com"}
--- response_headers
Content-Type: application/json
--- response_body_json
{"invite": {"id": "<uuid>", "group_id": "g1", "email": "a@example.com",
            "code": "<code>", "created": "<re:^[0-9]{4}-[0-9]{2}-[0-9]{2}T>"}}



=== TEST 4: JSON body against Test::Deep matchers
--- config
    location = /list {
        default_type application/json;
        return 200 '{"invites":[{"id":1},{"id":2}],"next":null}';
    }
--- request
GET /list
--- response_body_json eval
{ invites => bag({id => 2}, {id => 1}), next => undef }



=== TEST 5: the request body is sent with its Content-Length
--- config
    location = /echo { return 200 "len=$content_length te=$http_transfer_encoding"; }
--- request
POST /echo
   {"email":"x@example.com"}

--- response_body chomp
len=25 te=



=== TEST 6: more_headers, chunked request bodies get no Content-Length
--- config
    location = /echo { return 200 "foo=$http_x_foo cl=$http_content_length te=$http_transfer_encoding"; }
--- more_headers
X-Foo: bar
Transfer-Encoding: chunked
--- request eval
"POST /echo\n5\r\nhello\r\n0\r\n\r\n"
--- response_body chomp
foo=bar cl= te=chunked



=== TEST 7: raw requests, chunked responses
--- config
    location = /ssi { default_type text/html; ssi on; return 200 "chunk"; }
--- raw_request eval
["GET /ssi HTTP/1.1\r\nHost: x\r\n", "Connection: close\r\n\r\n"]
--- response_headers
Transfer-Encoding: chunked
! Content-Length
--- response_body chomp
chunk



=== TEST 8: a malformed request is answered 400
--- config
    location / { return 200; }
--- raw_request eval
"BAD\r\n\r\n"
--- error_code: 400



=== TEST 9: error_log and no_error_log, $TEST_NGINX_SERVROOT expansion
--- config
    location /files/ { root $TEST_NGINX_SERVROOT/html; }
--- request
GET /files/missing.json
--- error_code: 404
--- error_log
open() "
No such file or directory
--- no_error_log eval
[qr/\[(alert|crit)\]/, "[emerg]"]



=== TEST 10: --- sql runs before the requests
--- sql
CREATE TABLE harness_fixture (n int);
INSERT INTO harness_fixture VALUES (1), (2);
--- config
    location = /port { return 200 "$TEST_NGINX_PG_PORT $TEST_NGINX_SERVER_PORT"; }
--- request
GET /port
--- response_body_like: ^\d+ \d+$



=== TEST 11: a configuration error is the expected outcome
--- config
    location / { return abc; }
--- must_die: invalid return code "abc"
--- error_log
[emerg]
