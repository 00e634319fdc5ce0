# Configuration: directive errors fail at start (as `nginx -t` would), and the
# accepted forms of invites_db and its companions work.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';
run_tests();

__DATA__

=== TEST 1: invites_api without invites_db anywhere fails with "requires invites_db"
--- http_config
    # no invites_db
--- config
    location /invites/Invites/ { invites_api; }
--- must_die: "invites_api" requires "invites_db"



=== TEST 2: invites_db_pool 0 is rejected: must be greater than zero
--- config
    location /invites/Invites/ {
        invites_db_pool 0;
        invites_api;
    }
--- must_die: "invites_db_pool" directive must be greater than zero



=== TEST 3: invites_db_pool abc is rejected as an invalid number
--- config
    location /invites/Invites/ {
        invites_db_pool abc;
        invites_api;
    }
--- must_die: invalid number



=== TEST 4: an invalid conninfo is rejected at configuration time
--- http_config
    invites_db "host=127.0.0.1 bogus=1";
--- config
    location /invites/Invites/ { invites_api; }
--- must_die: invalid connection string



=== TEST 5: a duplicate invites_api in one location is rejected
--- config
    location /invites/Invites/ {
        invites_api;
        invites_api;
    }
--- must_die: "invites_api" directive is duplicate



=== TEST 6: invites_api takes no argument
--- config
    location /invites/Invites/ { invites_api on; }
--- must_die: invalid number of arguments in "invites_api" directive



=== TEST 7: invites_api is not allowed at server level
--- config
    invites_api;
    location / { return 200; }
--- must_die: "invites_api" directive is not allowed here



=== TEST 8: two locations sharing invites_db with different pool sizes conflict
--- config
    location /a/ {
        invites_db_pool 2;
        invites_api;
    }
    location /b/ {
        invites_db_pool 3;
        invites_api;
    }
--- must_die: conflicting



=== TEST 9: invites_db at http level is inherited by the location
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"cfg9","email":"a@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"cfg9","email":"a@example.com","code":"<code>"}}
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 10: invites_db in the location itself works
--- http_config
    # invites_db only in the location
--- config
    location /invites/Invites/ {
        invites_db "$TEST_NGINX_PG_CONNINFO";
        invites_api;
    }
--- request
POST /invites/Invites/Create
{"group_id":"cfg10","email":"a@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"cfg10","email":"a@example.com","code":"<code>"}}



=== TEST 11: a URI conninfo (postgresql://user@host:port/db) works
--- http_config
    invites_db "postgresql://invites@127.0.0.1:$TEST_NGINX_PG_PORT/invites";
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"cfg11","email":"a@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"cfg11","email":"a@example.com","code":"<code>"}}



=== TEST 12: host name localhost is resolved at configuration time and works
--- http_config
    invites_db "host=localhost port=$TEST_NGINX_PG_PORT dbname=invites user=invites";
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"cfg12","email":"a@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"cfg12","email":"a@example.com","code":"<code>"}}



=== TEST 13: invites_db_timeout 1s and invites_db_connect_timeout in ms are accepted
--- config
    location /invites/Invites/ {
        invites_db_timeout 1s;
        invites_db_connect_timeout 3000ms;
        invites_api;
    }
--- request
POST /invites/Invites/Create
{"group_id":"cfg13","email":"a@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"cfg13","email":"a@example.com","code":"<code>"}}



=== TEST 14: two locations sharing invites_db with the same pool size are fine
--- config
    location /a/ {
        invites_db_pool 2;
        invites_api;
    }
    location /b/ {
        invites_db_pool 2;
        invites_api;
    }
--- request eval
["POST /a/Create\n{\"group_id\":\"cfg14\",\"email\":\"a\@example.com\"}",
 "POST /b/Read\n{\"code\":\"00000000\"}"]
--- error_code eval
[200, 404]



=== TEST 15: invites_db_idle_timeout takes a time
--- config
    location /invites/Invites/ {
        invites_db_idle_timeout soon;
        invites_api;
    }
--- must_die: "invites_db_idle_timeout" directive invalid value



=== TEST 16: two locations sharing invites_db with different idle timeouts conflict
--- config
    location /a/ {
        invites_db_idle_timeout 10s;
        invites_api;
    }
    location /b/ {
        invites_api;
    }
--- must_die: "invites_db_idle_timeout"
