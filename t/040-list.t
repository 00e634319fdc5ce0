# List: by group, by email (lower-cased), by both, oldest first.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';
run_tests();

__DATA__

=== TEST 1: list by group returns the invites oldest first (creation order, not email order)
--- config
    location /invites/Invites/ { invites_api; }
--- request eval
["POST /invites/Invites/Create\n{\"group_id\":\"order\",\"email\":\"c\@example.com\"}",
 "POST /invites/Invites/Create\n{\"group_id\":\"order\",\"email\":\"a\@example.com\"}",
 "POST /invites/Invites/Create\n{\"group_id\":\"order\",\"email\":\"b\@example.com\"}",
 "POST /invites/Invites/List\n{\"group_id\":\"order\"}"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json",
 "Content-Type: application/json", "Content-Type: application/json"]
--- response_body_json eval
[ignore(), ignore(), ignore(),
 {invites => [map { {id => '<uuid>', group_id => 'order', email => "$_\@example.com",
                     code => '<code>'} } qw(c a b)]}]
--- no_error_log
[alert]
[crit]



=== TEST 2: oldest first follows created_at, not insertion order
--- sql
INSERT INTO invites (tenant, id, group_id, email, code, created_at) VALUES
    ('', '00000000-0000-4000-8000-000000000002', 'ts', 'second@example.com', '20000002', '2024-01-02'),
    ('', '00000000-0000-4000-8000-000000000003', 'ts', 'third@example.com',  '20000003', '2024-01-03'),
    ('', '00000000-0000-4000-8000-000000000001', 'ts', 'first@example.com',  '20000001', '2024-01-01');
--- request
POST /invites/Invites/List
{"group_id":"ts"}
--- response_body_json
{"invites":[
 {"id":"00000000-0000-4000-8000-000000000001","group_id":"ts","email":"first@example.com","code":"20000001"},
 {"id":"00000000-0000-4000-8000-000000000002","group_id":"ts","email":"second@example.com","code":"20000002"},
 {"id":"00000000-0000-4000-8000-000000000003","group_id":"ts","email":"third@example.com","code":"20000003"}]}



=== TEST 3: list by email matches it lower-cased, across groups
--- sql
INSERT INTO invites (tenant, id, group_id, email, code, created_at) VALUES
    ('', '10000000-0000-4000-8000-000000000001', 'g1', 'john@doe.com', '30000001', '2024-02-01'),
    ('', '10000000-0000-4000-8000-000000000002', 'g2', 'john@doe.com', '30000002', '2024-02-02'),
    ('', '10000000-0000-4000-8000-000000000003', 'g1', 'jane@doe.com', '30000003', '2024-02-03');
--- request
POST /invites/Invites/List
{"email":"JOHN@DOE.COM"}
--- response_body_json
{"invites":[
 {"id":"10000000-0000-4000-8000-000000000001","group_id":"g1","email":"john@doe.com","code":"30000001"},
 {"id":"10000000-0000-4000-8000-000000000002","group_id":"g2","email":"john@doe.com","code":"30000002"}]}



=== TEST 4: list by group and email needs both to match
--- request eval
["POST /invites/Invites/List\n{\"group_id\":\"g2\",\"email\":\"John\@Doe.com\"}",
 "POST /invites/Invites/List\n{\"group_id\":\"g2\",\"email\":\"jane\@doe.com\"}"]
--- response_body_json eval
[{invites => [{id => '10000000-0000-4000-8000-000000000002', group_id => 'g2',
               email => 'john@doe.com', code => '30000002'}]},
 {invites => []}]



=== TEST 5: list by group that matches nothing is exactly {"invites":[]}
--- request
POST /invites/Invites/List
{"group_id":"no-such-group"}
--- response_headers
Content-Type: application/json
--- response_body chomp
{"invites":[]}



=== TEST 6: list by email that matches nothing is exactly {"invites":[]}
--- request
POST /invites/Invites/List
{"email":"nobody@example.com"}
--- response_body chomp
{"invites":[]}



=== TEST 7: neither group_id nor email is 400 GROUP_ID_OR_EMAIL_REQUIRED
--- request eval
[map { "POST /invites/Invites/List\n$_" }
     '{}', '{"group_id":"","email":""}', '{"group_id":null,"email":null}', '{"id":"x"}']
--- error_code eval
[(400) x 4]
--- response_body_json eval
[({id => 'GROUP_ID_OR_EMAIL_REQUIRED', code => 400,
   detail => 'An email address or group id is needed to list invites',
   status => 'Bad Request'}) x 4]



=== TEST 8: an empty group_id next to an email lists by email only
--- request
POST /invites/Invites/List
{"group_id":"","email":"jane@doe.com"}
--- response_body_json
{"invites":[{"id":"10000000-0000-4000-8000-000000000003","group_id":"g1","email":"jane@doe.com","code":"30000003"}]}



=== TEST 9: groupId is accepted for group_id in List
--- request
POST /invites/Invites/List
{"groupId":"g2"}
--- response_body_json
{"invites":[{"id":"10000000-0000-4000-8000-000000000002","group_id":"g2","email":"john@doe.com","code":"30000002"}]}



=== TEST 10: an email over 254 bytes in List is 400 BAD_REQUEST
--- request eval
"POST /invites/Invites/List\n" . '{"email":"' . ('x' x 243) . '@example.com"}'
--- error_code: 400
--- response_body_json
{"id":"BAD_REQUEST","code":400,"detail":"Field email is longer than 254 bytes","status":"Bad Request"}



=== TEST 11: a group of 100 invites lists all 100, oldest first
--- sql
INSERT INTO invites (tenant, id, group_id, email, code, created_at)
SELECT '', ('20000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'hundred',
       'user' || i || '@example.com', (40000000 + i)::text,
       '2024-03-01'::timestamptz + i * interval '1 second'
FROM generate_series(1, 100) AS i;
--- request
POST /invites/Invites/List
{"group_id":"hundred"}
--- response_body_json eval
{invites => [map { {id => sprintf('20000000-0000-4000-8000-%012d', $_),
                    group_id => 'hundred', email => "user$_\@example.com",
                    code => 40000000 + $_ . ''} } 1 .. 100]}
