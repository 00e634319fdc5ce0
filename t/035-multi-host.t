# invites_db with several hosts, or a name with several addresses: every
# address is resolved when nginx reads its configuration, and the module
# follows libpq from one address to the next, even when the next socket
# gets the number of the one libpq just closed.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';
run_tests();

__DATA__

=== TEST 1: the first host refuses, the second serves
--- http_config
    invites_db "host=::1,127.0.0.1 port=$TEST_NGINX_PG_PORT dbname=invites user=invites";
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"multi","email":"a@b.c"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"multi","email":"a@b.c","code":"<code>"}}
--- debug_log
libpq moved to another socket

=== TEST 2: one port per host
--- http_config
    invites_db "host=127.0.0.2,127.0.0.1 port=1,$TEST_NGINX_PG_PORT dbname=invites user=invites";
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/List
{"group_id":"multi"}
--- response_body_json
{"invites":[{"id":"<uuid>","group_id":"multi","email":"a@b.c","code":"<code>"}]}

=== TEST 3: a name is resolved at configuration time
--- http_config
    invites_db "host=localhost port=$TEST_NGINX_PG_PORT dbname=invites user=invites";
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/List
{"group_id":"multi"}
--- response_body_json
{"invites":[{"id":"<uuid>","group_id":"multi","email":"a@b.c","code":"<code>"}]}

=== TEST 4: a name that does not resolve fails nginx -t
--- http_config
    invites_db "host=no-such-host.invalid port=5432 dbname=invites";
--- config
    location /invites/Invites/ { invites_api; }
--- must_die: invites_db host "no-such-host.invalid" not found
