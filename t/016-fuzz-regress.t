# Replays the fuzz corpus (t/fuzz/corpus/parse and write: the seeds, the
# crashes the fuzzers found, the inputs they kept) through the fuzz targets
# built without libFuzzer, with gcc's ASan and UBSan: every input must keep
# every invariant the target checks, without a sanitizer report.

use strict;
use warnings;
use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";
my $out = "$root/build/fuzz-replay";

plan skip_all => 'build the module first (./build.sh)'
    unless -f "$root/build/nginx/objs/ngx_auto_config.h";

my @inc = split /\n/, `bash -c '. "\$1"; nginx_inc "\$2" && printf "%s\\n" "\${NGINX_INC[@]}"' _ "$root/t/tools/nginx-inc.sh" "$out/inc"`;
BAIL_OUT('no nginx include flags') unless @inc;

# the sanitizers when the compiler has them, plain otherwise
my $san = '-fsanitize=address,undefined -fno-sanitize-recover=undefined'
        . ' -fno-omit-frame-pointer';
system("echo 'int main(void){return 0;}' | cc $san -x c - -o $out/probe"
       . ' >/dev/null 2>&1') == 0 or $san = '';
note("sanitizers: " . ($san || 'none'));

for my $t (qw(parse write)) {
    my $cmd = join ' ', "cc -g -O1 -Wall -Werror $san", @inc,
        "-I$root/ngx_http_invites_module -I$root/t/fuzz",
        "$root/t/fuzz/fuzz_$t.c $root/t/fuzz/replay.c",
        map("$root/ngx_http_invites_module/ngx_http_invites_$_.c",
            qw(json errors fields)),
        "-lyajl -o $out/replay_$t 2>&1";
    my $msg = `$cmd`;
    is($?, 0, "fuzz_$t.c builds without libFuzzer") or diag($msg);
}

local $ENV{ASAN_OPTIONS} = 'detect_leaks=1:abort_on_error=1';
local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1';

# seed-* (t/tools/fuzz-seeds.pl) and kept crashes one test each; found-*
# (what the fuzzers found, merged: one file per new coverage) in one run
for my $t (qw(parse write)) {
    my @files = sort glob "$root/t/fuzz/corpus/$t/*";
    ok(@files > 0, "t/fuzz/corpus/$t has inputs");

    my @found = grep { m{/found-[^/]*\z} } @files;
    for my $f ((grep { !m{/found-[^/]*\z} } @files), @found ? \@found : ()) {
        my @args = ref $f ? @$f : ($f);
        my $name = ref $f ? scalar(@args) . ' found-* inputs'
                 : $f =~ s{.*/}{}r;
        my $msg = `$out/replay_$t @args 2>&1`;
        my $n = @args;
        ok($? == 0 && $msg =~ /replayed $n inputs/, "fuzz_$t replays $name")
            or diag(join "\n", grep { !/^replay: / } split /\n/, $msg),
               diag(($msg =~ /.*^(replay: .*?)$/ms)[0] // '');
    }
}

done_testing();
