# Delete: removes exactly one invite; deleting what is not there is {} too.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';
run_tests();

# after TEST 7 and TEST 8 (5 rows, e...3 and e...4 deleted)
is(psql("SELECT count(*) FROM invites WHERE group_id = 'only'"), '3',
   'delete removes only that row: 3 of 5 rows are left');
is(psql("SELECT string_agg(right(id::text, 1), ',' ORDER BY id) FROM invites"
        . " WHERE group_id = 'only'"), '1,2,5',
   'delete removes only that row: the others are untouched');

__DATA__

=== TEST 1: delete then read gives 404
--- sql
INSERT INTO invites (tenant, id, group_id, email, code) VALUES
    ('', 'd0000000-0000-4000-8000-000000000001', 'del', 'one@example.com',   '50000001'),
    ('', 'd0000000-0000-4000-8000-000000000002', 'del', 'two@example.com',   '50000002'),
    ('', 'd0000000-0000-4000-8000-000000000003', 'del', 'three@example.com', '50000003');
--- config
    location /invites/Invites/ { invites_api; }
--- request eval
["POST /invites/Invites/Read\n{\"id\":\"d0000000-0000-4000-8000-000000000001\"}",
 "POST /invites/Invites/Delete\n{\"id\":\"d0000000-0000-4000-8000-000000000001\"}",
 "POST /invites/Invites/Read\n{\"id\":\"d0000000-0000-4000-8000-000000000001\"}",
 "POST /invites/Invites/Read\n{\"code\":\"50000001\"}"]
--- error_code eval
[200, 200, 404, 404]
--- response_headers eval
[("Content-Type: application/json") x 4]
--- response_body eval
[qr/"id":"d0000000-0000-4000-8000-000000000001"/, "{}",
 qr/\A\{"id":"NOT_FOUND","code":404,"detail":"Invite not found","status":"Not Found"\}\z/,
 qr/"NOT_FOUND"/]
--- no_error_log
[alert]
[crit]



=== TEST 2: deleting the same invite twice answers {} both times
--- request eval
["POST /invites/Invites/Delete\n{\"id\":\"d0000000-0000-4000-8000-000000000002\"}",
 "POST /invites/Invites/Delete\n{\"id\":\"d0000000-0000-4000-8000-000000000002\"}"]
--- error_code eval
[200, 200]
--- response_body eval
["{}", "{}"]



=== TEST 3: deleting an unknown uuid answers {}
--- request
POST /invites/Invites/Delete
{"id":"3f1c9a2e-7b4d-4e8f-9a6b-5c2d1e0f9a8b"}
--- response_headers
Content-Type: application/json
--- response_body chomp
{}



=== TEST 4: deleting a malformed id answers {} (never 500)
--- request eval
[map { qq{POST /invites/Invites/Delete\n{"id":"$_"}} }
     'x', '123', 'd0000000-0000-4000-8000-0000000000033', 'not-a-uuid-at-all']
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
["{}", "{}", "{}", "{}"]
--- no_error_log
[alert]
[crit]



=== TEST 5: delete without an id is 400 MISSING_ID
--- request eval
[map { "POST /invites/Invites/Delete\n$_" }
     '{}', '{"id":""}', '{"id":null}', '{"code":"50000003"}']
--- error_code eval
[(400) x 4]
--- response_body_json eval
[({id => 'MISSING_ID', code => 400, detail => 'Missing ID', status => 'Bad Request'}) x 4]



=== TEST 6: the invite survives a Delete that was missing its id
--- request
POST /invites/Invites/Read
{"code":"50000003"}
--- response_body_json
{"invite":{"id":"d0000000-0000-4000-8000-000000000003","group_id":"del","email":"three@example.com","code":"50000003"}}



=== TEST 7: delete removes only that row
--- sql
TRUNCATE invites;
INSERT INTO invites (tenant, id, group_id, email, code)
SELECT '', ('e0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'only',
       'u' || i || '@example.com', (60000000 + i)::text
FROM generate_series(1, 5) AS i;
--- request
POST /invites/Invites/Delete
{"id":"e0000000-0000-4000-8000-000000000003"}
--- response_body chomp
{}



=== TEST 8: an uppercase id deletes the invite too
--- request eval
["POST /invites/Invites/Delete\n{\"id\":\"E0000000-0000-4000-8000-000000000004\"}",
 "POST /invites/Invites/Read\n{\"id\":\"e0000000-0000-4000-8000-000000000004\"}"]
--- error_code eval
[200, 404]
