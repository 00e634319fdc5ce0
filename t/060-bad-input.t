# Bad input: every error is m3o's JSON error with its HTTP status, whatever
# the body, method, path or framing; nginx survives all of it.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

# Every block: no [alert] or [crit] in the error log; every error answer is
# application/json with exactly the keys id, code, detail, status, in order.
my $ERROR_SHAPE = qr/\A\{"id":"[A-Z_]+","code":[1-5][0-9][0-9],"detail":"[^"\\]*","status":"[A-Za-z ]+"\}\z/;

add_block_preprocessor(sub {
    my $block = shift;
    $block->{no_error_log} //= [['[alert]', '[crit]']];
    my $req = $block->{request} ? $block->{request}[0] : undef;
    my $n = ref $req eq 'ARRAY' ? scalar @$req : 1;
    my $codes = $block->{error_code} ? $block->{error_code}[0] : 200;
    my @codes = ref $codes eq 'ARRAY' ? @$codes : ($codes) x $n;
    return if grep { $_ < 400 } @codes;
    my $per = sub { $n == 1 ? $_[0] : [($_[0]) x $n] };
    $block->{response_headers} //= [$per->('Content-Type: application/json')];
    $block->{response_body_like} //= [$per->($ERROR_SHAPE)];
});

# The expected body of $n requests that all get BAD_REQUEST with $detail.
sub bad_requests {
    my ($detail, $n) = @_;
    return [({id => 'BAD_REQUEST', code => 400, detail => $detail,
              status => 'Bad Request'}) x $n];
}

plan 'no_plan';
run_tests();

__DATA__

=== TEST 1: invalid JSON is 400 BAD_REQUEST "not valid JSON"
--- config
    client_max_body_size 2m;
    location /invites/Invites/ { invites_api; }
    location /v1/invites/ { invites_api; }
--- request eval
[map { "POST /invites/Invites/Create\n$_" } '{', '{"a":}', 'nul', '{"a":1,}', "{'a':1}"]
--- error_code eval
[(400) x 5]
--- response_body_json eval
main::bad_requests('The request body is not valid JSON', 5)



=== TEST 2: a top-level array, string, number, boolean or null is "must be a JSON object"
--- request eval
[map { "POST /invites/Invites/Create\n$_" }
     '[]', '[{"group_id":"g","email":"a@example.com"}]', '"x"', '1', 'true', 'null']
--- error_code eval
[(400) x 6]
--- response_body_json eval
main::bad_requests('The request body must be a JSON object', 6)



=== TEST 3: JSON followed by garbage is "not valid JSON"
--- request eval
[map { "POST /invites/Invites/Create\n$_" }
     '{"group_id":"g","email":"a@example.com"} x', '{}{}', '{} ]', '{"group_id":"g"}}']
--- error_code eval
[(400) x 4]
--- response_body_json eval
main::bad_requests('The request body is not valid JSON', 4)



=== TEST 4: a group_id that is a number, bool, object or array is "must be a string"
--- request eval
[map { qq{POST /invites/Invites/Create\n{"group_id":$_,"email":"a\@example.com"}} }
     '1', 'true', '{"a":"b"}', '["g"]']
--- error_code eval
[(400) x 4]
--- response_body_json eval
main::bad_requests('Field group_id must be a string', 4)



=== TEST 5: an email that is a number, bool, object or array is "must be a string"
--- request eval
[map { qq{POST /invites/Invites/Create\n{"group_id":"g","email":$_}} }
     '1', 'false', '{}', '[]']
--- error_code eval
[(400) x 4]
--- response_body_json eval
main::bad_requests('Field email must be a string', 4)



=== TEST 6: an id that is a number, bool, object or array is "must be a string"
--- request eval
[map { qq{POST /invites/Invites/Read\n{"id":$_}} } '12345678', 'true', '{}', '["x"]']
--- error_code eval
[(400) x 4]
--- response_body_json eval
main::bad_requests('Field id must be a string', 4)



=== TEST 7: a code that is a number, bool, object or array is "must be a string"
--- request eval
[map { qq{POST /invites/Invites/Read\n{"code":$_}} } '12345678', 'false', '{"c":1}', '[1]']
--- error_code eval
[(400) x 4]
--- response_body_json eval
main::bad_requests('Field code must be a string', 4)



=== TEST 8: invalid UTF-8 (0xff, overlong 0xc0 0xaf, encoded surrogate) is "not valid UTF-8"
--- request eval
[map { qq{POST /invites/Invites/Create\n{"group_id":"g$_","email":"a\@example.com"}} }
     "\xff", "\xc0\xaf", "\xed\xa0\x80"]
--- error_code eval
[(400) x 3]
--- response_body_json eval
main::bad_requests('The request body is not valid UTF-8', 3)



=== TEST 9: invalid UTF-8 in an unknown field is "not valid UTF-8" too
--- request eval
[map { qq{POST /invites/Invites/Create\n{"x":"$_","group_id":"g","email":"a\@example.com"}} }
     "\xff", "\xc0\xaf", "\xed\xa0\x80"]
--- error_code eval
[(400) x 3]
--- response_body_json eval
main::bad_requests('The request body is not valid UTF-8', 3)



=== TEST 10: \u0000 in a string value is "contains a NUL character"
--- request eval
['POST /invites/Invites/Create
{"group_id":"a\u0000b","email":"a@example.com"}',
 'POST /invites/Invites/Create
{"group_id":"g","email":"a@example.com\u0000"}',
 'POST /invites/Invites/Read
{"code":"\u000012345678"}']
--- error_code eval
[(400) x 3]
--- response_body_json eval
main::bad_requests('A string in the request body contains a NUL character', 3)



=== TEST 11: \u0000 inside an unknown field is "contains a NUL character" too
--- request
POST /invites/Invites/Create
{"extra":{"deep":["\u0000"]},"group_id":"g","email":"a@example.com"}
--- error_code: 400
--- response_body_json
{"id":"BAD_REQUEST","code":400,"detail":"A string in the request body contains a NUL character","status":"Bad Request"}



=== TEST 12: an empty body is {}: Create says MISSING_GROUP_ID
--- request
POST /invites/Invites/Create
--- error_code: 400
--- response_body_json
{"id":"MISSING_GROUP_ID","code":400,"detail":"Missing GroupID","status":"Bad Request"}



=== TEST 13: an empty body with Content-Length: 0 is {}: List says GROUP_ID_OR_EMAIL_REQUIRED
--- more_headers
Content-Length: 0
--- request
POST /invites/Invites/List
--- error_code: 400
--- response_body_json
{"id":"GROUP_ID_OR_EMAIL_REQUIRED","code":400,"detail":"An email address or group id is needed to list invites","status":"Bad Request"}



=== TEST 14: a whitespace-only body is {}
--- request eval
["POST /invites/Invites/Create", "POST /invites/Invites/List"]
--- request_body eval
["   ", " \r\n\t "]
--- error_code eval
[400, 400]
--- response_body_json eval
[{id => 'MISSING_GROUP_ID', code => 400, detail => 'Missing GroupID', status => 'Bad Request'},
 {id => 'GROUP_ID_OR_EMAIL_REQUIRED', code => 400,
  detail => 'An email address or group id is needed to list invites', status => 'Bad Request'}]



=== TEST 15: a 1 MB body (under client_max_body_size 2m) is 413 REQUEST_TOO_LARGE
--- request eval
"POST /invites/Invites/Create\n" . '{"group_id":"g","email":"a@example.com","pad":"' . ('x' x (1024 * 1024)) . '"}'
--- error_code: 413
--- response_body_json
{"id":"REQUEST_TOO_LARGE","code":413,"detail":"The request body is larger than 65536 bytes","status":"Request Entity Too Large"}



=== TEST 16: a 1 MB chunked body is 413 REQUEST_TOO_LARGE as JSON too
--- raw_request eval
"POST /invites/Invites/Create HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
. "Transfer-Encoding: chunked\r\n\r\n"
. main::chunked('{"group_id":"g","email":"a@example.com","pad":"' . ('x' x (1024 * 1024)) . '"}', 16384)
--- error_code: 413
--- response_body_json
{"id":"REQUEST_TOO_LARGE","code":413,"detail":"The request body is larger than 65536 bytes","status":"Request Entity Too Large"}



=== TEST 17: a body of exactly 65536 bytes is accepted, 65537 bytes is 413
--- request eval
my $head = '{"group_id":"edge","email":"edge@example.com","pad":"';
["POST /invites/Invites/Create\n" . $head . ('x' x (65536 - length($head) - 2)) . '"}',
 "POST /invites/Invites/Create\n" . $head . ('x' x (65537 - length($head) - 2)) . '"}']
--- error_code eval
[200, 413]
--- response_body_json eval
[{invite => {id => '<uuid>', group_id => 'edge', email => 'edge@example.com', code => '<code>'}},
 {id => 'REQUEST_TOO_LARGE', code => 413,
  detail => 'The request body is larger than 65536 bytes', status => 'Request Entity Too Large'}]



=== TEST 18: a small valid chunked body works
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /invites/Invites/Create\n"
. main::chunked('{"group_id":"chunked","email":"chunked@example.com"}', 7)
--- response_headers
Content-Type: application/json
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"chunked","email":"chunked@example.com","code":"<code>"}}



=== TEST 19: an unknown endpoint is 404 NOT_FOUND
--- request eval
["POST /invites/Invites/Foo\n{}", "POST /invites/Invites/Createx\n{}",
 "POST /invites/Invites/Create/\n{}", "POST /invites/Invites/\n{}"]
--- error_code eval
[404, 404, 404, 404]
--- response_body_json eval
[({id => 'NOT_FOUND', code => 404,
   detail => 'Unknown endpoint: use Create, Read, List, Delete, Redeem or Revoke', status => 'Not Found'}) x 4]



=== TEST 20: endpoints are matched case-insensitively on the last path segment
--- request eval
["POST /v1/invites/create\n{\"group_id\":\"case\",\"email\":\"lower\@example.com\"}",
 "POST /invites/Invites/CREATE\n{\"group_id\":\"case\",\"email\":\"upper\@example.com\"}",
 "POST /v1/invites/lIsT\n{\"group_id\":\"case\"}"]
--- response_body_json eval
[{invite => {id => '<uuid>', group_id => 'case', email => 'lower@example.com', code => '<code>'}},
 {invite => {id => '<uuid>', group_id => 'case', email => 'upper@example.com', code => '<code>'}},
 {invites => [{id => '<uuid>', group_id => 'case', email => 'lower@example.com', code => '<code>'},
              {id => '<uuid>', group_id => 'case', email => 'upper@example.com', code => '<code>'}]}]
--- error_code eval
[200, 200, 200]



=== TEST 21: GET, PUT and DELETE are 405 METHOD_NOT_ALLOWED with Allow: POST
--- request eval
["GET /invites/Invites/Read", "PUT /invites/Invites/Create\n{\"group_id\":\"g\",\"email\":\"a\@example.com\"}",
 "DELETE /invites/Invites/Delete\n{\"id\":\"x\"}"]
--- error_code eval
[405, 405, 405]
--- response_headers eval
[("Allow: POST\nContent-Type: application/json") x 3]
--- response_body_json eval
[({id => 'METHOD_NOT_ALLOWED', code => 405, detail => '<re:\S>',
   status => 'Method Not Allowed'}) x 3]



=== TEST 22: a form Content-Type or no Content-Type at all still reads the body as JSON
--- request eval
["POST /invites/Invites/Create\n{\"group_id\":\"ct\",\"email\":\"form\@example.com\"}",
 "POST /invites/Invites/Create\n{\"group_id\":\"ct\",\"email\":\"none\@example.com\"}"]
--- more_headers eval
["Content-Type: application/x-www-form-urlencoded", ""]
--- response_body_json eval
[{invite => {id => '<uuid>', group_id => 'ct', email => 'form@example.com', code => '<code>'}},
 {invite => {id => '<uuid>', group_id => 'ct', email => 'none@example.com', code => '<code>'}}]
--- error_code eval
[200, 200]



=== TEST 23: the query string is ignored
--- request
POST /invites/Invites/Create?x=1&group_id=no
{"group_id":"query","email":"query@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"query","email":"query@example.com","code":"<code>"}}



=== TEST 24: a 40 KB body spilled to a temporary file works
--- config
    client_body_buffer_size 1k;
    location /invites/Invites/ { invites_api; }
--- request eval
"POST /invites/Invites/Create\n" . '{"pad":"' . ('p' x 40000) . '","group_id":"spill","email":"spill@example.com"}'
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"spill","email":"spill@example.com","code":"<code>"}}
--- error_log
a client request body is buffered to a temporary file



=== TEST 25: after bad requests of every kind, a normal request on the same nginx succeeds
--- config
    client_max_body_size 2m;
    location /invites/Invites/ { invites_api; }
--- request eval
["POST /invites/Invites/Create\n{\"a\":}",
 "POST /invites/Invites/Create\n{\"group_id\":\"\xff\",\"email\":\"a\@example.com\"}",
 'POST /invites/Invites/Create
{"group_id":"\u0000","email":"a@example.com"}',
 "POST /invites/Invites/Create\n" . ('x' x 100000),
 "GET /invites/Invites/Create",
 "POST /invites/Invites/Nope\n{}",
 "POST /invites/Invites/Create\n[1,2]",
 "POST /invites/Invites/Create\n{\"group_id\":\"after\",\"email\":\"after\@example.com\"}"]
--- error_code eval
[400, 400, 400, 413, 405, 404, 400, 200]
--- response_body_json eval
[(ignore()) x 7,
 {invite => {id => '<uuid>', group_id => 'after', email => 'after@example.com', code => '<code>'}}]
