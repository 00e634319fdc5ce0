# Read: by id or by code (id wins), not found, and what counts as no id.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';
run_tests();

# ---- imperative: what Create returned reads back the same, by id and by code
start_nginx("    location /invites/Invites/ { invites_api; }\n");
my $c = http('POST', '/invites/Invites/Create', '{"group_id":"rt","email":"Rt@Example.com"}');
my $inv = $c->{json}{invite} // {};
my $by_id = http('POST', '/invites/Invites/Read', qq{{"id":"$inv->{id}"}});
my $by_code = http('POST', '/invites/Invites/Read', qq{{"code":"$inv->{code}"}});
is($by_id->{status}, 200, 'read by the id Create returned is 200');
is_deeply($by_id->{json}, $c->{json}, 'read by id returns exactly what Create returned');
is($by_code->{status}, 200, 'read by the code Create returned is 200');
is_deeply($by_code->{json}, $c->{json}, 'read by code returns exactly what Create returned');
stop_nginx();

__DATA__

=== TEST 1: read by id returns the invite
--- sql
INSERT INTO invites (tenant, id, group_id, email, code) VALUES
    ('', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'groupA', 'a@example.com', '11111111'),
    ('', 'bbbbbbbb-bbbb-4bbb-9bbb-bbbbbbbbbbbb', 'groupB', 'b@example.com', '22222222');
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Read
{"id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"}
--- response_headers
Content-Type: application/json
--- response_body_json
{"invite":{"id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","group_id":"groupA","email":"a@example.com","code":"11111111"}}
--- no_error_log
[alert]
[crit]



=== TEST 2: read by code returns the invite
--- request
POST /invites/Invites/Read
{"code":"22222222"}
--- response_body_json
{"invite":{"id":"bbbbbbbb-bbbb-4bbb-9bbb-bbbbbbbbbbbb","group_id":"groupB","email":"b@example.com","code":"22222222"}}



=== TEST 3: id wins when both id and code are given (id of A, code of B gives A)
--- request
POST /invites/Invites/Read
{"code":"22222222","id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"}
--- response_body_json
{"invite":{"id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","group_id":"groupA","email":"a@example.com","code":"11111111"}}



=== TEST 4: id wins even when it finds nothing and the code exists
--- request
POST /invites/Invites/Read
{"id":"cccccccc-cccc-4ccc-8ccc-cccccccccccc","code":"22222222"}
--- error_code: 404
--- response_body_json
{"id":"NOT_FOUND","code":404,"detail":"Invite not found","status":"Not Found"}



=== TEST 5: an unknown (valid, random) uuid is 404 NOT_FOUND
--- request
POST /invites/Invites/Read
{"id":"3f1c9a2e-7b4d-4e8f-9a6b-5c2d1e0f9a8b"}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body_json
{"id":"NOT_FOUND","code":404,"detail":"Invite not found","status":"Not Found"}



=== TEST 6: malformed ids ("x", "123", 37 chars) find nothing: 404, never 500
--- request eval
[map { qq{POST /invites/Invites/Read\n{"id":"$_"}} }
     'x', '123', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaaa',
     'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa', 'zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz',
     "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' OR '1'='1"]
--- error_code eval
[(404) x 6]
--- response_body_json eval
[({id => 'NOT_FOUND', code => 404, detail => 'Invite not found', status => 'Not Found'}) x 6]
--- no_error_log
[alert]
[crit]



=== TEST 7: a malformed id wins over an existing code: 404
--- request
POST /invites/Invites/Read
{"id":"x","code":"22222222"}
--- error_code: 404
--- response_body_json
{"id":"NOT_FOUND","code":404,"detail":"Invite not found","status":"Not Found"}



=== TEST 8: the uppercase form of an existing id finds it
--- request
POST /invites/Invites/Read
{"id":"AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA"}
--- response_body_json
{"invite":{"id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","group_id":"groupA","email":"a@example.com","code":"11111111"}}



=== TEST 9: an unknown code is 404 NOT_FOUND
--- request eval
[map { qq{POST /invites/Invites/Read\n{"code":"$_"}} } '99999999', 'abc', '1111111']
--- error_code eval
[404, 404, 404]
--- response_body_json eval
[({id => 'NOT_FOUND', code => 404, detail => 'Invite not found', status => 'Not Found'}) x 3]



=== TEST 10: neither id nor code is 400 ID_OR_CODE_REQUIRED
--- request eval
[map { "POST /invites/Invites/Read\n$_" }
     '{}', '{"id":"","code":""}', '{"id":null,"code":null}', '{"email":"a@example.com"}']
--- error_code eval
[(400) x 4]
--- response_body_json eval
[({id => 'ID_OR_CODE_REQUIRED', code => 400,
   detail => 'An id or code is required to read an invite', status => 'Bad Request'}) x 4]



=== TEST 11: a code of 256 bytes is 400 BAD_REQUEST
--- request eval
"POST /invites/Invites/Read\n" . '{"code":"' . ('1' x 256) . '"}'
--- error_code: 400
--- response_body_json
{"id":"BAD_REQUEST","code":400,"detail":"Field code is longer than 255 bytes","status":"Bad Request"}



=== TEST 12: a code of 255 bytes is simply not found
--- request eval
"POST /invites/Invites/Read\n" . '{"code":"' . ('1' x 255) . '"}'
--- error_code: 404
--- response_body_json
{"id":"NOT_FOUND","code":404,"detail":"Invite not found","status":"Not Found"}



=== TEST 13: a null id with an existing code reads by code
--- request
POST /invites/Invites/Read
{"id":null,"code":"22222222"}
--- response_body_json
{"invite":{"id":"bbbbbbbb-bbbb-4bbb-9bbb-bbbbbbbbbbbb","group_id":"groupB","email":"b@example.com","code":"22222222"}}



=== TEST 14: an empty id with an existing code reads by code
--- request
POST /invites/Invites/Read
{"id":"","code":"11111111"}
--- response_body_json
{"invite":{"id":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","group_id":"groupA","email":"a@example.com","code":"11111111"}}
