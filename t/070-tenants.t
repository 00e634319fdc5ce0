# Tenants (invites_tenant $http_x_tenant): no tenant ever sees, lists or
# deletes another's invites; the tenant is stored in its own column; a
# request whose variables name no tenant is refused (401), while a constant
# invites_tenant "" is the empty tenant, as no invites_tenant is.
use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

my $HTTP = <<'CONF';
    invites_db "$TEST_NGINX_PG_CONNINFO";
    invites_tenant $http_x_tenant;
CONF
default_http_config($HTTP);

plan 'no_plan';
run_tests();

# ---- imperative: ids across tenants, and the tenant column
start_nginx(<<'CONF');
    location /invites/Invites/ { invites_api; }
    location /empty/Invites/ { invites_api; invites_tenant ""; }
CONF

sub create_as {
    my ($tenant, $group, $email, $path) = @_;
    return http('POST', ($path // '/invites') . '/Invites/Create',
                qq{{"group_id":"$group","email":"$email"}},
                headers => defined $tenant ? ["X-Tenant: $tenant"] : []);
}

my $refused = create_as(undef, 'both', 'both@example.com');
is($refused->{status}, 401, 'without the header, $http_x_tenant names no tenant: 401');
json_is($refused->{body},
        '{"id":"UNAUTHORIZED","code":401,"detail":"No tenant for the request","status":"Unauthorized"}',
        'UNAUTHORIZED, "No tenant for the request"');
ok(!exists $refused->{headers}{'www-authenticate'}, 'and no WWW-Authenticate: no key would help');
is(create_as('', 'both', 'both@example.com')->{status}, 401, 'an empty X-Tenant: 401 too');
is(psql("SELECT count(*) FROM invites WHERE group_id = 'both'"), 0, 'and nothing was stored');

my $ia = create_as('a', 'both', 'both@example.com')->{json}{invite} // {};
my $ib = create_as('b', 'both', 'both@example.com')->{json}{invite} // {};
my $in = create_as(undef, 'both', 'both@example.com', '/empty')->{json}{invite} // {};
ok($ia->{id} && $ib->{id} && $in->{id}, 'same group and email created under a, b and the constant ""');
my %distinct = map { ($_->{id} // '') => 1 } $ia, $ib, $in;
ok(!exists $distinct{''} && keys %distinct == 3,
   'same group and email under different tenants are distinct invites (different ids)');
is_deeply(create_as('a', 'both', 'both@example.com')->{json}{invite}, $ia,
          'repeat create under tenant a returns tenant a\'s invite');
is(psql("SELECT string_agg(tenant, ',' ORDER BY tenant) FROM invites"
        . " WHERE group_id = 'both'"), ',a,b',
   'the tenant column holds "", "a" and "b" for the three invites');
my $none = '00000000-0000-4000-8000-000000000000';   # when Create failed
is(psql("SELECT tenant FROM invites WHERE id = '" . ($ia->{id} // $none) . "'"), 'a',
   'the tenant column of the invite created with X-Tenant: a is "a"');
is(psql("SELECT tenant FROM invites WHERE id = '" . ($ib->{id} // $none) . "'"), 'b',
   'the tenant column of the invite created with X-Tenant: b is "b"');
is(psql("SELECT tenant = '' FROM invites WHERE id = '" . ($in->{id} // $none) . "'"), 't',
   'the tenant column of the invite created where invites_tenant is "" is ""');

my $l = http('POST', '/invites/Invites/List', '{"group_id":"both"}', headers => ['X-Tenant: b']);
is_deeply($l->{json}, {invites => [$ib]}, 'tenant b lists only its own invite of the group');
stop_nginx();

__DATA__

=== TEST 1: tenant a reads its own invite by id
--- sql
INSERT INTO invites (tenant, id, group_id, email, code) VALUES
    ('a', 'a0000000-0000-4000-8000-000000000001', 'tg', 'te@example.com', '70000001'),
    ('a', 'a0000000-0000-4000-8000-000000000002', 'tg', 'te2@example.com', '70000002'),
    ('b', 'b0000000-0000-4000-8000-000000000001', 'other', 'other@example.com', '70000002'),
    ('',  'c0000000-0000-4000-8000-000000000001', 'tg', 'te@example.com', '70000001');
--- config
    location /invites/Invites/ { invites_api; }
--- more_headers
X-Tenant: a
--- request
POST /invites/Invites/Read
{"id":"a0000000-0000-4000-8000-000000000001"}
--- response_body_json
{"invite":{"id":"a0000000-0000-4000-8000-000000000001","group_id":"tg","email":"te@example.com","code":"70000001"}}
--- no_error_log
[alert]
[crit]



=== TEST 2: tenant b cannot read tenant a's invite by id
--- more_headers
X-Tenant: b
--- request
POST /invites/Invites/Read
{"id":"a0000000-0000-4000-8000-000000000001"}
--- error_code: 404
--- response_body_json
{"id":"NOT_FOUND","code":404,"detail":"Invite not found","status":"Not Found"}



=== TEST 3: tenant b cannot read tenant a's invite by code
--- more_headers
X-Tenant: b
--- request
POST /invites/Invites/Read
{"code":"70000001"}
--- error_code: 404
--- response_body_json
{"id":"NOT_FOUND","code":404,"detail":"Invite not found","status":"Not Found"}



=== TEST 4: the same code in two tenants reads each tenant's own invite
--- request eval
["POST /invites/Invites/Read\n{\"code\":\"70000002\"}",
 "POST /invites/Invites/Read\n{\"code\":\"70000002\"}"]
--- more_headers eval
["X-Tenant: a", "X-Tenant: b"]
--- response_body_json eval
[{invite => {id => 'a0000000-0000-4000-8000-000000000002', group_id => 'tg',
             email => 'te2@example.com', code => '70000002'}},
 {invite => {id => 'b0000000-0000-4000-8000-000000000001', group_id => 'other',
             email => 'other@example.com', code => '70000002'}}]
--- error_code eval
[200, 200]



=== TEST 5: tenant b lists nothing in tenant a's group
--- more_headers
X-Tenant: b
--- request
POST /invites/Invites/List
{"group_id":"tg"}
--- response_body chomp
{"invites":[]}



=== TEST 6: tenant b lists nothing for tenant a's email
--- more_headers
X-Tenant: b
--- request
POST /invites/Invites/List
{"email":"te@example.com"}
--- response_body chomp
{"invites":[]}



=== TEST 7: tenant a lists its own group and email
--- more_headers
X-Tenant: a
--- request eval
["POST /invites/Invites/List\n{\"group_id\":\"tg\"}",
 "POST /invites/Invites/List\n{\"email\":\"TE\@example.com\"}"]
--- response_body_json eval
[{invites => bag(
   {id => 'a0000000-0000-4000-8000-000000000001', group_id => 'tg', email => 'te@example.com', code => '70000001'},
   {id => 'a0000000-0000-4000-8000-000000000002', group_id => 'tg', email => 'te2@example.com', code => '70000002'})},
 {invites => [{id => 'a0000000-0000-4000-8000-000000000001', group_id => 'tg',
               email => 'te@example.com', code => '70000001'}]}]
--- error_code eval
[200, 200]



=== TEST 8: tenant b's Delete of tenant a's id answers {} and leaves a's invite
--- request eval
["POST /invites/Invites/Delete\n{\"id\":\"a0000000-0000-4000-8000-000000000001\"}",
 "POST /invites/Invites/Read\n{\"id\":\"a0000000-0000-4000-8000-000000000001\"}"]
--- more_headers eval
["X-Tenant: b", "X-Tenant: a"]
--- error_code eval
[200, 200]
--- response_body_json eval
[{},
 {invite => {id => 'a0000000-0000-4000-8000-000000000001', group_id => 'tg',
             email => 'te@example.com', code => '70000001'}}]



=== TEST 9: where invites_tenant is "", the tenant is "": it sees neither a's nor b's invites
--- config
    location /invites/Invites/ { invites_api; invites_tenant ""; }
--- more_headers
X-Tenant: a
--- request eval
["POST /invites/Invites/Read\n{\"id\":\"a0000000-0000-4000-8000-000000000001\"}",
 "POST /invites/Invites/Read\n{\"code\":\"70000002\"}",
 "POST /invites/Invites/Read\n{\"code\":\"70000001\"}",
 "POST /invites/Invites/List\n{\"group_id\":\"tg\"}"]
--- error_code eval
[404, 404, 200, 200]
--- response_body_json eval
[{id => 'NOT_FOUND', code => 404, detail => 'Invite not found', status => 'Not Found'},
 {id => 'NOT_FOUND', code => 404, detail => 'Invite not found', status => 'Not Found'},
 {invite => {id => 'c0000000-0000-4000-8000-000000000001', group_id => 'tg',
             email => 'te@example.com', code => '70000001'}},
 {invites => [{id => 'c0000000-0000-4000-8000-000000000001', group_id => 'tg',
               email => 'te@example.com', code => '70000001'}]}]



=== TEST 10: tenants a and b cannot see tenant ""'s invite
--- config
    location /invites/Invites/ { invites_api; }
--- request eval
["POST /invites/Invites/Read\n{\"id\":\"c0000000-0000-4000-8000-000000000001\"}",
 "POST /invites/Invites/Read\n{\"id\":\"c0000000-0000-4000-8000-000000000001\"}"]
--- more_headers eval
["X-Tenant: a", "X-Tenant: b"]
--- error_code eval
[404, 404]



=== TEST 11: a tenant of 256 bytes is 400 BAD_REQUEST
--- more_headers eval
"X-Tenant: " . ('t' x 256)
--- request
POST /invites/Invites/Create
{"group_id":"g","email":"long@example.com"}
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body_json
{"id":"BAD_REQUEST","code":400,"detail":"<re:(?i)tenant>","status":"Bad Request"}



=== TEST 12: a tenant of 255 bytes is accepted
--- more_headers eval
"X-Tenant: " . ('t' x 255)
--- request
POST /invites/Invites/Create
{"group_id":"g","email":"long@example.com"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"g","email":"long@example.com","code":"<code>"}}



=== TEST 13: a tenant that is not valid UTF-8 is 400 BAD_REQUEST
--- more_headers eval
"X-Tenant: t\xff"
--- request
POST /invites/Invites/Create
{"group_id":"g","email":"bad@example.com"}
--- error_code: 400
--- response_body_json
{"id":"BAD_REQUEST","code":400,"detail":"<re:(?i)tenant>","status":"Bad Request"}



=== TEST 14: the rejected tenants stored nothing, not even as tenant ""
--- config
    location /invites/Invites/ { invites_api; invites_tenant ""; }
--- request
POST /invites/Invites/List
{"group_id":"g"}
--- response_body chomp
{"invites":[]}



=== TEST 15: no header reads nothing, not even tenant ""'s invites: 401
--- config
    location /invites/Invites/ { invites_api; }
--- more_headers
--- request eval
["POST /invites/Invites/Read\n{\"code\":\"70000001\"}",
 "POST /invites/Invites/List\n{\"group_id\":\"tg\"}",
 "POST /invites/Invites/Delete\n{\"id\":\"c0000000-0000-4000-8000-000000000001\"}"]
--- error_code eval
[401, 401, 401]
--- response_body_json eval
[({id => 'UNAUTHORIZED', code => 401, detail => 'No tenant for the request', status => 'Unauthorized'}) x 3]



=== TEST 16: tenant ""'s invite survived the refused Delete
--- config
    location /invites/Invites/ { invites_api; invites_tenant ""; }
--- request
POST /invites/Invites/Read
{"id":"c0000000-0000-4000-8000-000000000001"}
--- error_code: 200
