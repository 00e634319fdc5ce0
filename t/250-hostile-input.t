# Hostile input, table-driven: each case is one request on one nginx; each
# gets the answer it should (a JSON 4xx from the module, or nginx's own 400
# or 413 for broken HTTP framing), and after each:
#   - a normal request on the same worker still works, and the worker's pid
#     is the one it was (nothing crashed or was restarted);
#   - a rejected request left the invites table as it was, and PostgreSQL
#     ran no statement for it (log_statement = all, counted in its log).
# t/060-bad-input.t has the ordinary bad bodies; these are the nasty ones.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;
use JSON::PP ();

use Time::HiRes qw(time);

plan 'no_plan';
log_level('info');

my $API = '/invites/Invites';
my $JSON = JSON::PP->new->utf8->canonical;


# ----------------------------------------------------------------- helpers

# psql as the cluster's superuser (trust over TCP in the harness's cluster)
sub super_psql {
    my ($sql) = @_;
    my $conn = 'host=127.0.0.1 port=' . pg_port() . ' dbname=invites user=postgres';
    open my $fh, '-|', 'psql', '-qtAX', '-v', 'ON_ERROR_STOP=1', '-d', $conn,
        '-c', $sql or die "psql: $!";
    local $/;
    my $out = <$fh> // '';
    close $fh or die "psql as postgres failed ($?): $sql\n";
    chomp $out;
    return $out;
}

# A request as raw HTTP/1.1: Content-Length unless the headers frame it.
sub post {
    my ($endpoint, $body, @headers) = @_;
    my $uri = $endpoint =~ m{^/} ? $endpoint : "$API/$endpoint";
    my $framed = grep { /^(?:content-length|transfer-encoding):/i } @headers;
    my $head = "POST $uri HTTP/1.1\r\nHost: localhost\r\n";
    $head .= "Connection: close\r\n" unless grep { /^connection:/i } @headers;
    $head .= "$_\r\n" for @headers;
    $head .= 'Content-Length: ' . length($body) . "\r\n" unless $framed;
    return "$head\r\n$body";
}

sub create_body {
    my ($group, $email) = @_;
    return $JSON->encode({group_id => $group, email => $email});
}

# the statuses of every response in a raw stream (pipelined requests)
sub statuses {
    my ($raw) = @_;
    return [$raw =~ m{HTTP/1\.[01] (\d{3}) }g];
}

my %DETAIL = (
    json      => 'The request body is not valid JSON',
    object    => 'The request body must be a JSON object',
    utf8      => 'The request body is not valid UTF-8',
    nul       => 'A string in the request body contains a NUL character',
    surrogate => 'A string in the request body holds a lone UTF-16 surrogate',
    long_group => 'Field group_id is longer than 255 bytes',
    long_email => 'Field email is longer than 254 bytes',
    long_code  => 'Field code is longer than 255 bytes',
    too_large  => 'The request body is larger than 65536 bytes',
);

sub bad { return ['BAD_REQUEST', $DETAIL{$_[0]}] }

# an invite answer whose group_id is exactly $group (and email $email)
sub invite_is {
    my ($group, $email) = @_;
    return sub {
        my ($res, $name) = @_;
        my $inv = $res->{json} && $res->{json}{invite};
        is($inv && $inv->{group_id}, $group, "$name - group_id stored as sent");
        is($inv && $inv->{email}, $email, "$name - email") if defined $email;
        return $inv;
    };
}


# ------------------------------------------------------------- the cases

my $deep = 10_000;
my $nested_arrays = ('[' x $deep) . (']' x $deep);
my $nested_objects = ('{"a":' x $deep) . '{}' . ('}' x $deep);
my $keys_100k = '{' . join(',', map { qq{"k$_":0} } 1 .. 100_000) . '}';
my $keys_max = '{' . join(',', map { qq{"$_":0} } 1 .. 6_000)
             . ',"group_id":"many-keys","email":"keys@example.com"}';
my $dup_keys_50k = '{' . ('"group_id":"x",' x 50_000) . '"email":"d@example.com"}';
my $long_email = ('a' x (10_000 - length '@example.com')) . '@example.com';
my $injection = "g\r\nX-Injected: 1";
my $sqlish = q{g'; DROP TABLE invites; --};

# [name, raw request, expected status, expectation, options]
# expectation: [error id, detail] | coderef($res, $name) | undef (status only)
# options: {statements => N} when a 4xx legitimately asks PostgreSQL
# status 'closed': nginx closes the connection without an answer.
my @CASES = (

    # deep nesting: yajl keeps its own stack, the parser only counts depth
    ['10,000 nested arrays under an unknown key are walked and ignored',
     post('List', qq{{"x":$nested_arrays}}), 400,
     ['GROUP_ID_OR_EMAIL_REQUIRED',
      'An email address or group id is needed to list invites']],
    ['10,000 nested objects under an unknown key are walked and ignored',
     post('List', qq{{"x":$nested_objects}}), 400,
     ['GROUP_ID_OR_EMAIL_REQUIRED',
      'An email address or group id is needed to list invites']],
    ['10,000 nested arrays at the top are not an object',
     post('Create', $nested_arrays), 400, bad('object')],
    ['10,000 nested objects at the top: every key unknown',
     post('Create', $nested_objects), 400,
     ['MISSING_GROUP_ID', 'Missing GroupID']],
    ['32,000 nested arrays (as deep as 64 KiB allows) are walked and ignored',
     post('List', '{"x":' . ('[' x 32_000) . (']' x 32_000) . '}'), 400,
     ['GROUP_ID_OR_EMAIL_REQUIRED',
      'An email address or group id is needed to list invites']],
    ['10,000 unclosed arrays under an unknown key are not valid JSON',
     post('Create', '{"x":' . ('[' x $deep)), 400, bad('json')],
    ['a valid Create beside 10,000 nested arrays succeeds',
     post('Create', qq{{"x":$nested_arrays,"group_id":"deep","email":"deep\@example.com"}}),
     200, invite_is('deep', 'deep@example.com')],

    # many keys: 100,000 do not fit in 64 KiB; as many as fit are fine
    ['100,000 keys (588 KB) are over the module limit: 413 JSON',
     post('Create', $keys_100k), 413, ['REQUEST_TOO_LARGE', $DETAIL{too_large}]],
    ['6,000 unknown keys within 64 KiB are ignored',
     post('Create', $keys_max), 200, invite_is('many-keys', 'keys@example.com')],
    ['50,000 duplicate group_id keys are over the limit: 413 JSON',
     post('Create', $dup_keys_50k), 413, ['REQUEST_TOO_LARGE', $DETAIL{too_large}]],

    # duplicate keys: the last string wins; null or "" last means absent
    ['duplicate group_id: the last one is stored',
     post('Create', '{"group_id":"first","email":"dup@example.com","group_id":"last"}'),
     200, invite_is('last', 'dup@example.com')],
    ['duplicate email: the last one is stored',
     post('Create', '{"group_id":"dup2","email":"one@example.com","email":"two@example.com"}'),
     200, invite_is('dup2', 'two@example.com')],
    ['groupId then group_id: the last spelling wins',
     post('Create', '{"groupId":"camel","group_id":"snake","email":"sp@example.com"}'),
     200, invite_is('snake', 'sp@example.com')],
    ['duplicate group_id whose last value is null is absent',
     post('Create', '{"group_id":"g","group_id":null,"email":"n@example.com"}'),
     400, ['MISSING_GROUP_ID', 'Missing GroupID']],
    ['duplicate group_id whose last value is "" is absent',
     post('Create', '{"group_id":"g","group_id":"","email":"e@example.com"}'),
     400, ['MISSING_GROUP_ID', 'Missing GroupID']],
    ['a non-string duplicate is refused wherever it stands',
     post('Create', '{"group_id":1,"group_id":"g","email":"t@example.com"}'),
     400, ['BAD_REQUEST', 'Field group_id must be a string']],

    # long strings
    ['a 60 KB unknown string field is ignored',
     post('Create', '{"pad":"' . ('p' x 60_000) . '","group_id":"pad","email":"pad@example.com"}'),
     200, invite_is('pad', 'pad@example.com')],
    ['a 300-byte group_id is refused',
     post('Create', create_body('g' x 300, 'a@example.com')), 400, bad('long_group')],
    ['a 256-byte group_id is refused',
     post('Create', create_body('g' x 256, 'a@example.com')), 400, bad('long_group')],
    ['a 255-byte group_id is stored whole',
     post('Create', create_body('h' x 255, 'edge@example.com')), 200,
     invite_is('h' x 255, 'edge@example.com')],
    ['a 300-byte group_id in List is refused',
     post('List', $JSON->encode({group_id => 'g' x 300})), 400, bad('long_group')],
    ['a 300-byte code in Read is refused',
     post('Read', $JSON->encode({code => '1' x 300})), 400, bad('long_code')],
    ['a 300-byte id in Read finds nothing, without asking PostgreSQL',
     post('Read', $JSON->encode({id => 'f' x 300})), 404,
     ['NOT_FOUND', 'Invite not found']],
    ['an email of 10,000 characters is INVALID_EMAIL in Create',
     post('Create', create_body('g', $long_email)), 400,
     ['INVALID_EMAIL', 'The email provided was invalid']],
    ['an email of 10,000 characters is refused in List',
     post('List', $JSON->encode({email => $long_email})), 400, bad('long_email')],
    ['a 255-byte email is INVALID_EMAIL (over 254)',
     post('Create', create_body('g', ('a' x 243) . '@example.com')), 400,
     ['INVALID_EMAIL', 'The email provided was invalid']],

    # numbers where strings belong
    ['a huge number as group_id is refused as a non-string',
     post('Create', '{"group_id":1e999999,"email":"a@example.com"}'), 400,
     ['BAD_REQUEST', 'Field group_id must be a string']],
    ['a negative zero as email is refused as a non-string',
     post('Create', '{"group_id":"g","email":-0.0e-0}'), 400,
     ['BAD_REQUEST', 'Field email must be a string']],
    ['a 20,000-digit number in an unknown field is ignored',
     post('List', '{"n":' . ('9' x 20_000) . ',"group_id":"nobody"}'), 200,
     sub { is_deeply($_[0]{json}, {invites => []}, "$_[1] - empty list") }],
    ['an 8-digit number as Read code is refused as a non-string',
     post('Read', '{"code":12345678}'), 400,
     ['BAD_REQUEST', 'Field code must be a string']],
    ['a number as Delete id is refused as a non-string',
     post('Delete', '{"id":0}'), 400, ['BAD_REQUEST', 'Field id must be a string']],

    # NUL
    ['\u0000 in a known key is refused',
     post('Create', '{"group_\u0000id":"g","email":"a@example.com"}'), 400, bad('nul')],
    ['\u0000 in an unknown nested key is refused',
     post('Create', '{"x":{"a\u0000":1},"group_id":"g","email":"a@example.com"}'),
     400, bad('nul')],
    ['\u0000 as the whole Delete id is refused',
     post('Delete', '{"id":"\u0000"}'), 400, bad('nul')],
    ['a raw NUL byte inside a string is not valid JSON',
     post('Create', qq{{"group_id":"a\0b","email":"a\@example.com"}}), 400, bad('json')],

    # UTF-16 surrogates
    ['a lone high surrogate \ud800 is refused',
     post('Create', '{"group_id":"\ud800","email":"a@example.com"}'), 400,
     bad('surrogate')],
    ['a lone low surrogate \udc00 is refused',
     post('Create', '{"group_id":"x\udc00","email":"a@example.com"}'), 400,
     bad('surrogate')],
    ['a high surrogate followed by a non-surrogate escape is refused',
     post('Create', '{"group_id":"\ud800\u0041","email":"a@example.com"}'), 400,
     bad('surrogate')],
    ['two high surrogates are refused',
     post('Create', '{"group_id":"\uD800\uDBFF","email":"a@example.com"}'), 400,
     bad('surrogate')],
    ['a lone surrogate in an unknown field is refused',
     post('Create', '{"x":["\udfff"],"group_id":"g","email":"a@example.com"}'), 400,
     bad('surrogate')],
    ['a lone surrogate in a key is refused',
     post('Create', '{"\ud800":1,"group_id":"g","email":"a@example.com"}'), 400,
     bad('surrogate')],
    ['a surrogate pair is one character, stored as UTF-8',
     post('Create', '{"group_id":"smile-\ud83d\ude00","email":"pair@example.com"}'),
     200, invite_is("smile-\x{1F600}", 'pair@example.com')],
    ['an escaped backslash before "ud800" is plain text',
     post('Create', '{"group_id":"bs-\\\\ud800","email":"bs@example.com"}'), 200,
     invite_is('bs-\\ud800', 'bs@example.com')],

    # invalid UTF-8
    ['an overlong NUL (C0 80) is not valid UTF-8',
     post('Create', qq{{"group_id":"\xc0\x80","email":"a\@example.com"}}), 400, bad('utf8')],
    ['an overlong slash in 3 bytes (E0 80 AF) is not valid UTF-8',
     post('Create', qq{{"group_id":"\xe0\x80\xaf","email":"a\@example.com"}}), 400, bad('utf8')],
    ['an overlong slash in 4 bytes (F0 80 80 AF) is not valid UTF-8',
     post('Create', qq{{"group_id":"\xf0\x80\x80\xaf","email":"a\@example.com"}}), 400, bad('utf8')],
    ['a code point over U+10FFFF (F4 90 80 80) is not valid UTF-8',
     post('Create', qq{{"group_id":"\xf4\x90\x80\x80","email":"a\@example.com"}}), 400, bad('utf8')],
    ['a sequence cut by the end of the body is not valid UTF-8',
     post('Create', qq{{"group_id":"g","email":"a\@example.com"}\xe2\x82}), 400, bad('utf8')],
    ['a UTF-16 body (with BOM) is not valid UTF-8',
     post('Create', "\xff\xfe{\0}\0"), 400, bad('utf8')],

    # valid JSON followed by garbage
    ['JSON followed by a NUL byte is not valid JSON',
     post('Create', qq{{"group_id":"g","email":"a\@example.com"}\0}), 400, bad('json')],
    ['JSON followed by a comment is not valid JSON',
     post('Create', qq{{"group_id":"g","email":"a\@example.com"} // x}), 400, bad('json')],
    ['JSON followed by a request line in the body is not valid JSON',
     post('Create', qq{{"group_id":"g","email":"a\@example.com"}\r\nGET / HTTP/1.1\r\n\r\n}),
     400, bad('json')],
    ['JSON followed by whitespace only is fine',
     post('List', qq{{"group_id":"nobody"} \r\n\t }), 200,
     sub { is_deeply($_[0]{json}, {invites => []}, "$_[1] - empty list") }],

    # chunked bodies
    ['a chunked body in 1-byte chunks works',
     post('Create', chunked(create_body('chunky', 'chunky@example.com'), 1),
          'Transfer-Encoding: chunked'), 200, invite_is('chunky', 'chunky@example.com')],
    ['a chunked body with chunk extensions and a trailer works',
     post('List', sprintf("%x;ext=1\r\n%s\r\n%x;x=\"y\"\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n",
                          length('{"group_id":'), '{"group_id":',
                          length('"nobody"}'), '"nobody"}'),
          'Transfer-Encoding: chunked'), 200,
     sub { is_deeply($_[0]{json}, {invites => []}, "$_[1] - empty list") }],
    ['a chunked body holding a lone surrogate is refused',
     post('Create', chunked('{"group_id":"\ud800","email":"a@example.com"}', 3),
          'Transfer-Encoding: chunked'), 400, bad('surrogate')],
    ['a chunk size that is not hex is nginx\'s 400',
     post('Create', "zz\r\n{}\r\n0\r\n\r\n", 'Transfer-Encoding: chunked'), 400, undef],
    ['a chunk size that overflows is nginx\'s 400',
     post('Create', "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
          'Transfer-Encoding: chunked'), 400, undef],
    ['a chunk longer than its size is nginx\'s 400',
     post('Create', "2\r\n{}xx\r\n0\r\n\r\n", 'Transfer-Encoding: chunked'), 400, undef],
    ['Content-Length and Transfer-Encoding together are nginx\'s 400',
     post('Create', chunked('{}', 1), 'Transfer-Encoding: chunked',
          'Content-Length: 5'), 400, undef],
    ['70 KB chunked is 413 JSON, read through to the end',
     post('Create', chunked('{"pad":"' . ('x' x 70_000) . '"}', 4096),
          'Transfer-Encoding: chunked'), 413, ['REQUEST_TOO_LARGE', $DETAIL{too_large}]],

    # bodies spilled to temp files (this location: client_body_buffer_size 1k)
    ['a 50 KB body in a temp file is parsed whole',
     post('/spill/Create', '{"pad":"' . ('s' x 50_000) . '","group_id":"spilled","email":"sp@example.com"}'),
     200, invite_is('spilled', 'sp@example.com')],
    ['a lone surrogate at the end of a 50 KB temp-file body is found',
     post('/spill/Create', '{"pad":"' . ('s' x 50_000) . '","group_id":"\ud800","email":"a@example.com"}'),
     400, bad('surrogate')],
    ['invalid UTF-8 at the end of a 60 KB temp-file body is found',
     post('/spill/Create', '{"pad":"' . ('s' x 60_000) . "\",\"group_id\":\"\xc0\xaf\"}"),
     400, bad('utf8')],
    ['a chunked body in a temp file is parsed whole',
     post('/spill/Create', chunked('{"pad":"' . ('c' x 30_000) . '","group_id":"spill-chunked","email":"spc@example.com"}', 1000),
          'Transfer-Encoding: chunked'), 200, invite_is('spill-chunked', 'spc@example.com')],
    ['a 70 KB body in a temp file is 413 JSON',
     post('/spill/Create', '{"pad":"' . ('s' x 70_000) . '"}'), 413,
     ['REQUEST_TOO_LARGE', $DETAIL{too_large}]],

    # Content-Length that does not match the body
    ['Content-Length longer than the body: client_body_timeout closes it',
     post('Create', '{"group_id":"g","email":"a@example.com"}', 'Content-Length: 100'),
     'closed', sub {
        my ($res, $name) = @_;
        ok($res->{elapsed} >= 0.9 && $res->{elapsed} < 4,
           "$name - closed after client_body_timeout (1s)")
            or diag("elapsed $res->{elapsed}");
     }],
    ['Content-Length shorter: the module answers its part, nginx 400s the rest',
     post('List', '{"group_id":"nobody"}' . "garbage\r\n\r\n",
          'Content-Length: ' . length('{"group_id":"nobody"}'),
          'Connection: keep-alive'), 200, sub {
        my ($res, $name) = @_;
        is_deeply(statuses($res->{raw}), [200, 400],
                  "$name - two answers: 200, then nginx's 400")
            or diag($res->{raw});
        is_deeply($res->{json}, {invites => []}, "$name - the first is the list");
     }],
    ['Content-Length shorter, cutting the JSON: 400 JSON, then nginx 400',
     post('Create', '{"group_id":"cut","email":"cut@example.com"}' . "\r\n\r\n",
          'Content-Length: 20', 'Connection: keep-alive'), 400, sub {
        my ($res, $name) = @_;
        is_deeply(statuses($res->{raw}), [400, 400],
                  "$name - two answers, both 400") or diag($res->{raw});
        is($res->{json} && $res->{json}{detail}, $DETAIL{json},
           "$name - the first is the module's");
     }],
    ['a negative Content-Length is nginx\'s 400',
     post('Create', '{}', 'Content-Length: -1'), 400, undef],
    ['a Content-Length over client_max_body_size is nginx\'s 413',
     post('Create', '{}', 'Content-Length: 99999999999'), 413, undef],
    ['a Content-Length over 64 KiB is 413 JSON before the body is read',
     post('Create', '{}', 'Content-Length: 70000'), 413,
     ['REQUEST_TOO_LARGE', $DETAIL{too_large}]],

    # values are data: never headers, never SQL, never echoed in errors
    ['CR LF in group_id is stored and returned as data, never a header',
     post('Create', create_body($injection, 'inj@example.com')), 200, sub {
        my ($res, $name) = @_;
        invite_is($injection, 'inj@example.com')->($res, $name);
        ok(!exists $res->{headers}{'x-injected'}, "$name - no X-Injected header");
        like($res->{body}, qr/"g\\r\\nX-Injected: 1"/, "$name - escaped in JSON");
     }],
    ['the injected group_id lists back as data',
     post('List', $JSON->encode({group_id => $injection})), 200, sub {
        my ($res, $name) = @_;
        ok(!exists $res->{headers}{'x-injected'}, "$name - no X-Injected header");
        is($res->{json} && $res->{json}{invites}[0]{group_id}, $injection,
           "$name - group_id as stored");
     }],
    ['CR LF in an email is INVALID_EMAIL',
     post('Create', create_body('g', "a\@example.com\r\nX-Injected: 1")), 400,
     ['INVALID_EMAIL', 'The email provided was invalid']],
    ['SQL in group_id is stored verbatim',
     post('Create', create_body($sqlish, 'sql@example.com')), 200,
     invite_is($sqlish, 'sql@example.com')],
    ['SQL in a code finds nothing (one parameterised SELECT)',
     post('Read', q{{"code":"' OR '1'='1"}}), 404, ['NOT_FOUND', 'Invite not found'],
     {statements => 1}],
    ['an error never echoes the request',
     post('Create', '{"group_id":"ECHO-MARKER","email":"ECHO-MARKER"}'), 400, sub {
        my ($res, $name) = @_;
        unlike($res->{body}, qr/ECHO-MARKER/, "$name - the body does not echo it");
        is($res->{json} && $res->{json}{id}, 'INVALID_EMAIL', "$name - INVALID_EMAIL");
     }],
);


# ------------------------------------------------------------- the runner

my $CONF = <<'CONF';
    client_max_body_size 2m;
    client_body_timeout 1s;
    lingering_timeout 1s;

    location /invites/Invites/ { invites_api; }
    location /spill/ { client_body_buffer_size 1k; invites_api; }
CONF

# Every statement PostgreSQL runs is logged; the module's EXECUTEs are
# counted in the server's log (stderr of pg_ctl, beside its data dir).
my $pg_log;
if (!$ENV{TEST_INVITES_PG_CONNINFO}) {
    super_psql("ALTER SYSTEM SET log_statement = 'all'");
    super_psql('SELECT pg_reload_conf()');
    my $data = super_psql('SHOW data_directory');
    ($pg_log = $data) =~ s{/[^/]+/?\z}{/server.log};
    -r $pg_log or undef $pg_log;
}
sleep 0.2;

sub executes {
    return undef unless $pg_log;
    open my $fh, '<', $pg_log or return undef;
    my $n = 0;
    while (<$fh>) { $n++ if /execute invites_/ }
    return $n;
}

sub rows { return psql('SELECT count(*) FROM invites') }

start_nginx($CONF);
my @workers = worker_pids();
is(scalar @workers, 1, 'one worker');

# the statement count sees the module's statements, or the checks are void
SKIP: {
    skip 'no PostgreSQL log to count statements in', 1 unless defined executes();
    my $before = executes();
    http('POST', "$API/List", '{"group_id":"warm-up"}');
    is(executes() - $before, 1, 'a List is one logged EXECUTE');
}

my $canary = 0;
for my $case (@CASES) {
    my ($name, $raw, $status, $expect, $opt) = @$case;

    my ($rows0, $exec0) = (rows(), executes());
    my $res = http($raw, undef, undef, raw => 1, timeout => 8);

    if ($status eq 'closed') {
        ok(!defined $res->{status}, "$name - no answer, connection closed")
            or diag("status $res->{status}");
    } else {
        is($res->{status}, $status, "$name - status $status")
            or diag($res->{error} // $res->{raw});
    }

    if (ref $expect eq 'ARRAY') {
        is($res->{headers}{'content-type'}, 'application/json',
           "$name - application/json");
        my $e = $res->{json} // {};
        is_deeply([sort keys %$e], [qw(code detail id status)],
                  "$name - m3o's error shape") or diag($res->{body});
        is_deeply([@$e{qw(id code detail)}], [$expect->[0], $status, $expect->[1]],
                  "$name - $expect->[0]: $expect->[1]") or diag($res->{body});
    } elsif (ref $expect eq 'CODE') {
        $expect->($res, $name);
    }

    if ($status eq 'closed' || $status >= 400) {
        is(rows(), $rows0, "$name - no row added or removed");
        # the server writes its log line before it answers
        my $exec1 = executes();
        my $want = $opt->{statements} // 0;
        is($exec1 - $exec0, $want, "$name - PostgreSQL ran $want statement(s)")
            if defined $exec0;
    }

    # the same worker still serves a normal request
    $canary++;
    my $ok = http('POST', "$API/Create",
                  create_body('canary', "canary$canary\@example.com"));
    is($ok->{status}, 200, "$name - then a normal Create works");
    is_deeply([worker_pids()], \@workers, "$name - same worker pid");
}

my $log = error_log_text();
unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'no alert, crit or emerg in the error log');
unlike($log, qr/exited on signal/, 'no worker died');
open my $access, '<', servroot() . '/logs/access.log' or die "access.log: $!";
my $access_log = do { local $/; <$access> };
like($access_log, qr/"POST \S+ HTTP\/1\.1" 408 /,
     'the body shorter than its Content-Length was logged as 408');
like($log, qr/a client request body is buffered to a temporary file/,
     'the spill location used temp files');
unlike($log, qr/ECHO-MARKER|X-Injected|ud800/,
       'the error log does not hold request bodies');
is(psql("SELECT count(*) FROM invites WHERE group_id IN ('first', 'g', 'x', 'cut')"),
   0, 'no row for any rejected or overridden value');

stop_nginx();


# ------------------------------------------ hostile Authorization headers

# invites_auth key: whatever the header holds, a refused request runs no
# statement but the key lookup, and touches no row of any tenant.
my $key = psql("SELECT invites_key_create('acme', 'hostile')");
my $revoked = psql("SELECT invites_key_create('acme', 'revoked')");
psql("SELECT invites_key_revoke(max(id)) FROM invites_api_keys");

# /cached/ has a pool (and so a key cache) of its own: another conninfo
start_nginx(<<'CONF');
    location /keyed/ { invites_auth key; invites_auth_cache_ttl 0; invites_api; }
    location /cached/ {
        invites_db "$TEST_NGINX_PG_CONNINFO application_name=cached";
        invites_auth key;
        invites_auth_cache_ttl 60s;
        invites_api;
    }
    location /shared/ { invites_auth key; invites_auth_cache_ttl 60s; invites_api; }
CONF
@workers = worker_pids();

my $UNAUTH = ['UNAUTHORIZED', 'A valid API key is required: Authorization: Bearer <key>'];
my $FORBID = ['FORBIDDEN', "The namespace is not the API key's tenant"];

# [name, uri, headers, status, expectation, statements the server may run]
my @AUTH = (
    ['no Authorization header', '/keyed/Create', [], 401, $UNAUTH, 0],
    ['Basic instead of Bearer', '/keyed/Create',
     ['Authorization: Basic YWRtaW46YWRtaW4='], 401, $UNAUTH, 0],
    ['Bearer and nothing', '/keyed/Create', ['Authorization: Bearer '], 401, $UNAUTH, 0],
    ['a 600-byte key', '/keyed/Create', ['Authorization: Bearer ' . ('k' x 600)],
     401, $UNAUTH, 0],
    ['a key with a space and SQL in it', '/keyed/Create',
     [q{Authorization: Bearer ' OR '1'='1}], 401, $UNAUTH, 0],
    ['a key with a tab in it', '/keyed/Create', ["Authorization: Bearer inv_a\tb"],
     401, $UNAUTH, 0],
    ['a key with bytes over 0x7f', '/keyed/Create', ["Authorization: Bearer inv_\xff\xfe"],
     401, $UNAUTH, 0],
    ['two Authorization headers are nginx\'s 400', '/keyed/Create',
     ["Authorization: Bearer $key", "Authorization: Bearer $key"], 400, undef, 0],
    ['an unknown key', '/keyed/Create', ['Authorization: Bearer inv_' . ('A' x 43)],
     401, $UNAUTH, 1],
    ['a revoked key', '/keyed/Create', ["Authorization: Bearer $revoked"], 401, $UNAUTH, 1],
    ['a valid key naming another tenant', '/keyed/Create',
     ["Authorization: Bearer $key", 'Micro-Namespace: globex'], 403, $FORBID, 1],
    ['a cached key naming another tenant', '/cached/Create',
     ["Authorization: Bearer $key", 'Micro-Namespace: globex'], 403, $FORBID, 0],
);

# the key is cached in /cached/ first; the sanity check that keys work
my $warm = http('POST', '/cached/List', '{"group_id":"none"}',
                headers => ["Authorization: Bearer $key"]);
is($warm->{status}, 200, 'a valid key works (and is cached)');

for my $case (@AUTH) {
    my ($name, $uri, $headers, $status, $expect, $statements) = @$case;
    my ($rows0, $exec0) = (rows(), executes());
    my $body = create_body('victim', 'victim' . ++$canary . '@example.com');
    my $res = http(post($uri, $body, @$headers), undef, undef, raw => 1);
    is($res->{status}, $status, "$name - status $status") or diag($res->{raw});
    if ($expect) {
        is_deeply([@{$res->{json} // {}}{qw(id detail)}], $expect,
                  "$name - $expect->[0]") or diag($res->{body});
    }
    sleep 0.2;    # anything the request set off has reached the server
    is(rows(), $rows0, "$name - no row added");
    is(executes() - $exec0, $statements,
       "$name - PostgreSQL ran $statements statement(s)")
        if defined $exec0;
    my $ok = http('POST', '/keyed/List', '{"group_id":"victim"}',
                  headers => ["Authorization: Bearer $key"]);
    is($ok->{status}, 200, "$name - then a valid key still works");
    is_deeply([worker_pids()], \@workers, "$name - same worker pid");
}

# invites_auth_cache_ttl 0 promises that a revoked key stops at once; a
# location with a longer ttl on the same invites_db shares the cache
my $third = psql("SELECT invites_key_create('acme', 'third')");
my $via_shared = http('POST', '/shared/List', '{"group_id":"none"}',
                      headers => ["Authorization: Bearer $third"]);
is($via_shared->{status}, 200, 'a key used through a cached location');
psql("SELECT invites_key_revoke(max(id)) FROM invites_api_keys");
my $after = http('POST', '/keyed/List', '{"group_id":"none"}',
                 headers => ["Authorization: Bearer $third"]);
is($after->{status}, 401,
   'once revoked, it is refused at once where invites_auth_cache_ttl is 0');

is(psql("SELECT count(*) FROM invites WHERE group_id = 'victim'"), 0,
   'no refused request wrote a row, in any tenant');
unlike(error_log_text(), qr/header already sent/,
       'no refused request tried to answer twice');
# nginx itself, at info, quotes a duplicated header line whole (SECURITY.md)
my @leaks = grep { /\Q$key\E/ } split /\n/, error_log_text();
is_deeply([grep { !/client sent duplicate header line/ } @leaks], [],
          'the module writes no key to the error log');
is(scalar @leaks, 1, "only nginx's own duplicate-header line quotes it");

stop_nginx();


# ---------------------------------- limit_req against code guessing

# Keyed by the raw header, the limit is dodged by respelling it ("bearer",
# more spaces), which the module accepts as the same key; keyed by the key
# as the module reads it (SECURITY.md's map), it holds.
start_nginx(<<'CONF', http_config => default_http_config() . <<'HTTP');
    limit_req_status 429;
    location /raw/ { limit_req zone=raw; invites_auth key; invites_api; }
    location /norm/ { limit_req zone=norm; invites_auth key; invites_api; }
CONF
    map $http_authorization $invites_api_key {
        "~*^bearer +(?<k>[!-~]+) *$"  $k;
        default                       "";
    }
    limit_req_zone $http_authorization zone=raw:1m rate=1r/m;
    limit_req_zone $invites_api_key zone=norm:1m rate=1r/m;
HTTP

my @spellings = ("Bearer $key", "bearer $key", "BEARER  $key", "Bearer   $key");
for my $where (qw(raw norm)) {
    my @got = map {
        http('POST', "/$where/List", '{"group_id":"none"}',
             headers => ["Authorization: $_"])->{status}
    } @spellings;
    is_deeply(\@got, $where eq 'raw' ? [200, 200, 200, 200] : [200, 429, 429, 429],
              $where eq 'raw'
              ? 'limit_req on $http_authorization: each spelling has its own bucket'
              : 'limit_req on the key as the module reads it: one bucket');
}
stop_nginx();
super_psql('ALTER SYSTEM RESET log_statement') unless $ENV{TEST_INVITES_PG_CONNINFO};
