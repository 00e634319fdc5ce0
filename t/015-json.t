# The JSON parser and writer, compiled alone with a small test program:
# they need no running nginx, so a fuzzer can link them the same way.

use strict;
use warnings;
use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";
my $src = "$root/build/nginx";
my $exe = "$root/build/json_test";

plan skip_all => 'build the module first (./build.sh)' unless -d "$src/objs";

my @inc = map { "-I$src/$_" } qw(src/core src/event src/event/modules
                                 src/os/unix objs src/http
                                 src/http/modules src/http/v2);

my $cmd = join ' ', 'cc -Wall -Werror -o', $exe, @inc,
    "-I$root/ngx_http_invites_module",
    map("$root/ngx_http_invites_module/ngx_http_invites_$_.c",
        qw(json errors fields)),
    "$root/t/unit/json_test.c", '-lyajl 2>&1';

my $out = `$cmd`;
is($?, 0, 'json.c and the test program compile and link without nginx')
    or diag($out);

my $cases = <<'CASES';
OK
OK   \x0a
OK {}
OK {"group_id":"g","email":"a@b"}
OK {"groupId":"g"}
OK {"unknown":{"group_id":1,"x":[1,{"y":null}]},"group_id":"g"}
OK {"group_id":"a","group_id":"b"}
OK {"group_id":null}
OK {"group_id":"g"} \x0a\x09
OK {"big":123456789012345678901234567890,"f":1.5e300}
OK {"group_id":"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"}
OK {"group_id":"\ud83d\ude00"}
BAD_JSON {
BAD_JSON {"a":}
BAD_JSON {"a":{}
BAD_JSON {"a":[{"b":1}]
BAD_JSON nul
BAD_JSON {} x
BAD_JSON {}{}
BAD_JSON {}-0
BAD_JSON {}123
BAD_JSON {} 1
BAD_JSON {}0
BAD_JSON {} 7
BAD_JSON {}-1
BAD_JSON {}1e5
BAD_JSON {"code":"12345678"} 7
BAD_JSON {}"}
BAD_JSON {}tru
BAD_JSON {"a":{}}1
BAD_JSON {'a':1}
BAD_JSON {"a":1,}
BAD_JSON {"a":"\x01"}
NOT_OBJECT []
NOT_OBJECT [1,2]
NOT_OBJECT "x"
NOT_OBJECT 1
NOT_OBJECT null
BAD_UTF8 {"group_id":"\xff"}
BAD_UTF8 {"group_id":"\xc0\xaf"}
BAD_UTF8 {"group_id":"\xed\xa0\x80"}
BAD_UTF8 {"group_id":"\xf4\x90\x80\x80"}
BAD_UTF8 {"group_id":"\xe2\x82"}
BAD_UTF8 {"x":1}\xff
BAD_ID {"id":1}
BAD_GROUP_ID {"group_id":true}
BAD_GROUP_ID {"group_id":{}}
BAD_GROUP_ID {"group_id":["g"]}
BAD_EMAIL {"email":1.5}
BAD_CODE {"code":12345678}
NUL_CHAR {"group_id":"a\u0000b"}
NUL_CHAR {"unknown":"\u0000"}
NUL_CHAR {"\u0000":1}
SURROGATE {"group_id":"\ud800"}
SURROGATE {"group_id":"\ud800x"}
SURROGATE {"group_id":"\udc00"}
SURROGATE {"x":"\ud83d\u0041"}
SURROGATE {"x":"\ud83d\ud83d"}
OK {"x":"\\ud800"}
OK {"x":"\u00e9\uD83D\uDE00"}
CASES

my $run = "$exe > $exe.out 2>&1";
open(my $in, '|-', $run) or die "$exe: $!";
print $in $cases;
close $in;
my $status = $?;

open(my $fh, '<', "$exe.out") or die;
my @tap = <$fh>;
close $fh;

for (@tap) {
    chomp;
    if (/^(not )?ok \d+ - (.*)$/) {
        ok(!$1, $2);
    } elsif (/^# (.*)/) {
        note($1);
    }
}

is($status, 0, 'the test program reports no failure');

done_testing();
