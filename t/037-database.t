# invites_database NAME { ... }: a database declared once at http level,
# used by name from any location, labelling the pool's log lines; the old
# unnamed "invites_db conninfo" keeps working beside it.  Configuration
# mistakes in either form fail at start, as `nginx -t` would, with a
# message that names what is wrong.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';
run_tests();

__DATA__

=== TEST 1: a named database serves the locations that name it
--- http_config
    invites_database main {
        conninfo "$TEST_NGINX_PG_CONNINFO";
        pool 2; queue 64; pipeline off; idle_timeout 30s;
        connect_timeout 3s; timeout 2s;
    }
--- config
    location /a/ { invites_db main; invites_api; }
    location /b/ { invites_db main; invites_api; }
--- request eval
["POST /a/Create\n{\"group_id\":\"db1\",\"email\":\"a\@example.com\"}",
 "POST /b/List\n{\"group_id\":\"db1\"}"]
--- response_body_json eval
[{invite => {id => re(qr/^[0-9a-f-]{36}$/), group_id => 'db1',
             email => 'a@example.com', code => re(qr/^\d{8}$/)}},
 {invites => [{id => re(qr/^[0-9a-f-]{36}$/), group_id => 'db1',
               email => 'a@example.com', code => re(qr/^\d{8}$/)}]}]
--- no_error_log
[warn]
[error]



=== TEST 2: the block may come after the location that names it; invites_db NAME is inherited
--- http_config
    invites_db later;
    invites_database later {
        conninfo "$TEST_NGINX_PG_CONNINFO";
        pipeline on;
    }
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/List
{"group_id":"db1"}
--- response_body_json
{"invites":[{"id":"<uuid>","group_id":"db1","email":"a@example.com","code":"<code>"}]}



=== TEST 3: a named and an unnamed database side by side
--- http_config
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; }
--- config
    location /named/ { invites_db main; invites_api; }
    location /unnamed/ { invites_db "$TEST_NGINX_PG_CONNINFO"; invites_api; }
--- request eval
["POST /named/Read\n{\"code\":\"00000000\"}",
 "POST /unnamed/Read\n{\"code\":\"00000000\"}"]
--- error_code eval
[404, 404]



=== TEST 4: a name no invites_database declares fails
--- http_config
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; }
--- config
    location /invites/Invites/ { invites_db mian; invites_api; }
--- must_die: no invites_database "mian" for "invites_db"



=== TEST 5: a database declared twice fails
--- http_config
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; }
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; }
--- config
    location /invites/Invites/ { invites_db main; invites_api; }
--- must_die: duplicate invites_database "main"



=== TEST 6: a block without conninfo fails
--- http_config
    invites_database main { pool 2; }
--- config
    location /invites/Invites/ { invites_db main; invites_api; }
--- must_die: invites_database "main" has no "conninfo"



=== TEST 7: an unknown setting in the block fails and lists the known ones
--- http_config
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; size 2; }
--- config
    location /invites/Invites/ { invites_db main; invites_api; }
--- must_die: unknown "size" in invites_database: conninfo, pool, queue



=== TEST 8: a bad value in the block names the setting
--- http_config
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; pool 0; }
--- config
    location /invites/Invites/ { invites_db main; invites_api; }
--- must_die: "pool" of invites_database must be greater than zero



=== TEST 9: a pool setting beside a named database fails: the block owns it
--- http_config
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; }
--- config
    location /invites/Invites/ {
        invites_db main;
        invites_db_pool 8;
        invites_api;
    }
--- must_die: have no effect with "invites_db main": set them in its invites_database block



=== TEST 10: an invalid name fails
--- http_config
    invites_database "my db" { conninfo "$TEST_NGINX_PG_CONNINFO"; }
--- config
    location /invites/Invites/ { invites_api; }
--- must_die: invalid invites_database name "my db"



=== TEST 11: a bad connection string in the block is caught, without libpq's newline
--- http_config
    invites_database main { conninfo "host=127.0.0.1 bogus=1"; }
--- config
    location /invites/Invites/ { invites_db main; invites_api; }
--- must_die: invalid connection string in "conninfo": invalid connection option "bogus" in \S+:\d+



=== TEST 12: a bad unnamed connection string: the same message on one line
--- http_config
    invites_db "host=127.0.0.1 bogus=1";
--- config
    location /invites/Invites/ { invites_api; }
--- must_die: invalid connection string in "invites_db": invalid connection option "bogus" in \S+:\d+



=== TEST 13: a failed connect names the host, address, port, database, user and pool, never the password
--- http_config
    invites_database main {
        conninfo "host=127.0.0.1 port=1 dbname=invites user=invites password=s3cret";
        connect_timeout 2s;
    }
--- config
    location /invites/Invites/ { invites_db main; invites_api; }
--- request
POST /invites/Invites/Read
{"code":"00000000"}
--- error_code: 503
--- error_log eval
[qr/cannot connect to PostgreSQL at host "127\.0\.0\.1" \(127\.0\.0\.1\) port 1, database "invites", user "invites": .*, invites database: main$/]
--- no_error_log
s3cret



=== TEST 14: an unnamed database is labelled by its place in the configuration
--- http_config
    invites_db "host=127.0.0.1 port=1 dbname=invites user=invites";
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Read
{"code":"00000000"}
--- error_code: 503
--- error_log eval
[qr/cannot connect to PostgreSQL at host "127\.0\.0\.1" .*, invites database: db1$/]



=== TEST 15: invites_tenant beside invites_auth key warns that the key's tenant wins
--- config
    location /invites/Invites/ {
        invites_auth key;
        invites_tenant acme;
        invites_api;
    }
--- request
POST /invites/Invites/Read
{"code":"00000000"}
--- error_code: 401
--- error_log
"invites_tenant" is ignored where "invites_auth key" is on: the key's tenant wins



=== TEST 16: the names label the metrics: a named database, and an unnamed one as db1
--- http_config
    invites_database main { conninfo "$TEST_NGINX_PG_CONNINFO"; }
--- config
    location /named/ { invites_db main; invites_api; }
    location /unnamed/ { invites_db "$TEST_NGINX_PG_CONNINFO"; invites_api; }
    location /metrics { invites_status; }
--- request eval
["POST /named/Read\n{\"code\":\"00000000\"}",
 "POST /unnamed/Read\n{\"code\":\"00000000\"}",
 "GET /metrics"]
--- error_code eval
[404, 404, 200]
--- response_body_like eval
[qr/NOT_FOUND/, qr/NOT_FOUND/,
 qr/^nginx_invites_db_connects_total\{db="main",result="ok"\} 1\n(?s:.*)^nginx_invites_db_connects_total\{db="db1",result="ok"\} 1\n/m]
