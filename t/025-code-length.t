# invites_code_length: longer codes for sites that fear guessing; 8 by
# default, as m3o; bounded to 6..18 digits by nginx -t.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';
run_tests();

__DATA__

=== TEST 1: codes have 8 digits by default, without a leading zero
--- config
    location /invites/Invites/ { invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"g","email":"a@b.c"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"g","email":"a@b.c","code":"<re:^[1-9][0-9]{7}$>"}}

=== TEST 2: invites_code_length 12 makes 12-digit codes
--- config
    location /invites/Invites/ { invites_code_length 12; invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"g12","email":"a@b.c"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"g12","email":"a@b.c","code":"<re:^[1-9][0-9]{11}$>"}}

=== TEST 3: the longest, 18 digits
--- config
    location /invites/Invites/ { invites_code_length 18; invites_api; }
--- request
POST /invites/Invites/Create
{"group_id":"g18","email":"a@b.c"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"g18","email":"a@b.c","code":"<re:^[1-9][0-9]{17}$>"}}

=== TEST 4: a long code reads back like any other
--- config
    location /invites/Invites/ { invites_code_length 18; invites_api; }
--- sql
UPDATE invites SET code = '123456789012345678' WHERE group_id = 'g18';
--- request
POST /invites/Invites/Read
{"code":"123456789012345678"}
--- response_body_json
{"invite":{"id":"<uuid>","group_id":"g18","email":"a@b.c","code":"123456789012345678"}}

=== TEST 5: fewer than 6 digits is refused
--- config
    location /invites/Invites/ { invites_code_length 5; invites_api; }
--- must_die: "invites_code_length" directive must be between 6 and 18

=== TEST 6: more than 18 digits is refused
--- config
    location /invites/Invites/ { invites_code_length 19; invites_api; }
--- must_die: "invites_code_length" directive must be between 6 and 18
