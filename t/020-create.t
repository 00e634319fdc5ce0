# Create: the invite returned and stored, idempotence, and m3o's validation
# order (group_id, then email given, then email valid).
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

my $CONFIG = <<'CONF';
    location /invites/Invites/ { invites_api; }
CONF

# TEST 9's unusual but valid addresses (its request and its expected answers)
sub odd_emails {
    my @ok = ('a@b', "o'reilly+x\@ex-ample.co.uk", 'x@' . ('l' x 63) . '.com',
              ('x' x 64) . '@' . join('.', ('d' x 60) x 3) . '.' . ('e' x 6));
    die "length" unless length($ok[3]) == 254;
    return @ok;
}

plan 'no_plan';
run_tests();

# ---- imperative checks: compare several answers with each other and the table
start_nginx($CONFIG);

sub create {
    my ($group, $email) = @_;
    my $body = JSON::PP->new->canonical->encode({group_id => $group, email => $email});
    return http('POST', '/invites/Invites/Create', $body);
}

my $uuid_v4 = qr/\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\z/;

{
    my $r1 = create('same', 'Same@Example.com');
    my $r2 = create('same', 'same@example.com');
    my $r3 = create('same', 'SAME@EXAMPLE.COM');
    is($r1->{status}, 200, 'repeat create: first create is 200');
    is($r2->{status}, 200, 'repeat create: second create is 200');
    ok($r1->{json} && $r2->{json} && $r3->{json}, 'repeat create: all answers are JSON');
    is_deeply($r2->{json}, $r1->{json},
              'repeat create returns the same invite (same id and code)');
    is_deeply($r3->{json}, $r1->{json},
              'repeat create with the email in another case returns the same invite');
    is(psql("SELECT count(*) FROM invites WHERE group_id = 'same'"), '1',
       'repeat create stores one row');
}

{
    my $a = create('shared', 'a@example.com')->{json}{invite} // {};
    my $b = create('shared', 'b@example.com')->{json}{invite} // {};
    ok($a->{id} && $b->{id} && $a->{id} ne $b->{id},
       'different emails in the same group get different ids');
    ok($a->{code} && $b->{code} && $a->{code} ne $b->{code},
       'different emails in the same group get different codes');
    is($a->{group_id}, 'shared', 'first invite keeps its group');
    is($b->{email}, 'b@example.com', 'second invite has its own email');
}

{
    my (@bad_code, @bad_id, %ids, %codes);
    for my $i (1 .. 30) {
        my $inv = create('many', "user$i\@example.com")->{json}{invite} // {};
        my ($id, $code) = ($inv->{id} // '', $inv->{code} // '');
        push @bad_code, $code
            unless $code =~ /\A[0-9]{8}\z/ && $code >= 10000000 && $code <= 99999999;
        push @bad_id, $id unless $id =~ $uuid_v4;
        $ids{$id}++;
        $codes{$code}++;
    }
    is_deeply(\@bad_code, [], 'every code is 8 digits in 10000000..99999999');
    is_deeply(\@bad_id, [], 'every id is a lowercase UUID v4');
    is(scalar keys %ids, 30, '30 creates give 30 distinct ids');
    is(scalar keys %codes, 30, '30 creates give 30 distinct codes');
}

{
    my $r = create('Stored-Group', 'Stored@Example.COM');
    my $inv = $r->{json}{invite} // {};
    my $id = $inv->{id} // '00000000-0000-4000-8000-000000000000';
    is(psql("SELECT tenant || '|' || group_id || '|' || email || '|' || code"
            . " FROM invites WHERE id = '$id'"),
       "|Stored-Group|stored\@example.com|" . ($inv->{code} // ''),
       'the row is stored: tenant "", group_id as given, email lower-cased, same code');
    is(psql("SELECT count(*) FROM invites WHERE id = '$id' AND created_at <= now()"),
       '1', 'the stored row has a creation time');
}

stop_nginx();

__DATA__

=== TEST 1: create returns the invite, email lower-cased, group_id case kept
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"MyGroup","email":"John@Doe.COM"}
--- response_headers
Content-Type: application/json
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"MyGroup","email":"john@doe.com","code":"<code>"}}
--- no_error_log
[alert]
[crit]



=== TEST 2: groupId is accepted for group_id
--- request
POST /invites/Invites/Create
{"groupId":"camel","email":"camel@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"camel","email":"camel@example.com","code":"<code>"}}



=== TEST 3: unknown fields are ignored, including nested objects and arrays
--- request
POST /invites/Invites/Create
{"x":1,"group_id":"unk","nested":{"a":[1,{"b":null,"c":[true,false]}],"email":"no@no.no"},
 "list":[1,"two",[3,{}],{"group_id":"no"}],"email":"unk@example.com","f":1.5e3,"t":true,"n":null}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"unk","email":"unk@example.com","code":"<code>"}}



=== TEST 4: missing group_id gives MISSING_GROUP_ID even when email is missing
--- request
POST /invites/Invites/Create
{}
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_json
{"id":"MISSING_GROUP_ID","code":400,"detail":"Missing GroupID","status":"Bad Request"}



=== TEST 5: missing group_id gives MISSING_GROUP_ID even when email is invalid
--- request
POST /invites/Invites/Create
{"email":"not-an-address"}
--- error_code: 400
--- response_body_json
{"id":"MISSING_GROUP_ID","code":400,"detail":"Missing GroupID","status":"Bad Request"}



=== TEST 6: missing email gives MISSING_EMAIL
--- request
POST /invites/Invites/Create
{"group_id":"g"}
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_json
{"id":"MISSING_EMAIL","code":400,"detail":"Missing Email","status":"Bad Request"}



=== TEST 7: invalid addresses give INVALID_EMAIL
--- request eval
my @bad = ('no-at-sign.example.com', '@example.com', 'a@-b.com', 'a@b..com',
           'a@' . ('l' x 64) . '.com', "jos\xc3\xa9\@example.com",
           'a b@example.com', ('x' x 243) . '@example.com');
[map { qq{POST /invites/Invites/Create\n{"group_id":"g","email":"$_"}} } @bad]
--- error_code eval
[(400) x 8]
--- response_body_json eval
[({id => 'INVALID_EMAIL', code => 400, detail => 'The email provided was invalid',
   status => 'Bad Request'}) x 8]



=== TEST 8: a 255-byte address is invalid (at most 254 bytes)
--- request eval
my $email = ('x' x 64) . '@' . CORE::join('.', ('d' x 60) x 3) . '.' . ('e' x 7);
die "length " . length($email) unless length($email) == 255;
qq{POST /invites/Invites/Create\n{"group_id":"g","email":"$email"}}
--- error_code: 400
--- response_body_json
{"id":"INVALID_EMAIL","code":400,"detail":"The email provided was invalid","status":"Bad Request"}



=== TEST 9: unusual but valid addresses are accepted (a@b, quote and plus, 63-char label, 254 bytes)
--- request eval
[map { qq{POST /invites/Invites/Create\n{"group_id":"odd","email":"$_"}} }
     main::odd_emails()]
--- error_code eval
[200, 200, 200, 200]
--- response_body_json eval
[map { {invite => {id => '<uuid>', group_id => 'odd', email => $_, code => '<code>'}} }
     main::odd_emails()]



=== TEST 10: an empty group_id counts as absent
--- request
POST /invites/Invites/Create
{"group_id":"","email":"a@example.com"}
--- error_code: 400
--- response_body_json
{"id":"MISSING_GROUP_ID","code":400,"detail":"Missing GroupID","status":"Bad Request"}



=== TEST 11: an empty email counts as absent
--- request
POST /invites/Invites/Create
{"group_id":"g","email":""}
--- error_code: 400
--- response_body_json
{"id":"MISSING_EMAIL","code":400,"detail":"Missing Email","status":"Bad Request"}



=== TEST 12: a null group_id counts as absent
--- request
POST /invites/Invites/Create
{"group_id":null,"email":"a@example.com"}
--- error_code: 400
--- response_body_json
{"id":"MISSING_GROUP_ID","code":400,"detail":"Missing GroupID","status":"Bad Request"}



=== TEST 13: a null email counts as absent
--- request
POST /invites/Invites/Create
{"group_id":"g","email":null}
--- error_code: 400
--- response_body_json
{"id":"MISSING_EMAIL","code":400,"detail":"Missing Email","status":"Bad Request"}



=== TEST 14: a group_id of 255 bytes is accepted
--- request eval
"POST /invites/Invites/Create\n" . '{"group_id":"' . ('g' x 255) . '","email":"long@example.com"}'
--- response_body_json eval
{invite => {id => '<uuid>', group_id => 'g' x 255, email => 'long@example.com',
            code => '<code>'}}



=== TEST 15: a group_id of 256 bytes is a BAD_REQUEST
--- request eval
"POST /invites/Invites/Create\n" . '{"group_id":"' . ('g' x 256) . '","email":"long@example.com"}'
--- error_code: 400
--- response_body_json
{"id":"BAD_REQUEST","code":400,"detail":"Field group_id is longer than 255 bytes","status":"Bad Request"}



=== TEST 16: a multi-byte UTF-8 group_id round-trips
--- request eval
qq{POST /invites/Invites/Create\n{"group_id":"\xc3\xa9quipe-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x98\x80","email":"utf8\@example.com"}}
--- response_body_json eval
{invite => {id => '<uuid>', group_id => "\x{e9}quipe-\x{65e5}\x{672c}-\x{1f600}",
            email => 'utf8@example.com', code => '<code>'}}



=== TEST 17: a \u-escaped group_id is stored decoded
--- request
POST /invites/Invites/Create
{"group_id":"\u00e9t\u00e9","email":"esc@example.com"}
--- response_body_json eval
{invite => {id => '<uuid>', group_id => "\x{e9}t\x{e9}", email => 'esc@example.com',
            code => '<code>'}}



=== TEST 18: of duplicate keys the last one wins
--- request
POST /invites/Invites/Create
{"group_id":"first","email":"first@example.com","group_id":"last","email":"last@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"last","email":"last@example.com","code":"<code>"}}



=== TEST 19: a duplicate key whose last value is empty counts as absent
--- request
POST /invites/Invites/Create
{"group_id":"first","group_id":"","email":"dup@example.com"}
--- error_code: 400
--- response_body_json
{"id":"MISSING_GROUP_ID","code":400,"detail":"Missing GroupID","status":"Bad Request"}
