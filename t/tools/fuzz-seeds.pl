#!/usr/bin/env perl
#
# Writes the seed corpus of the fuzz targets: t/fuzz/corpus/parse/seed-*
# (request bodies) and t/fuzz/corpus/write/seed-* (writer inputs, in the
# layout fuzz_write.c reads). Run it again after changing the lists; the
# files it writes are committed. Files not named seed-* (crashes kept as
# regression cases, inputs a fuzzer found) are left alone.

use strict;
use warnings;
use FindBin;

my $dir = "$FindBin::Bin/../fuzz/corpus";

# name => body; \xHH escapes are bytes
my @parse = (
    empty             => '',
    blank             => "  \n\t ",
    object            => '{}',
    create            => '{"group_id":"g","email":"a@b"}',
    camel             => '{"groupId":"g","email":"john@doe.com"}',
    read_id           => '{"id":"5f0b8a64-8b63-4a3a-9d1a-0a6f1c2d3e4f"}',
    read_code         => '{"code":"12345678"}',
    all_four          => '{"id":"i","group_id":"g","email":"e@x","code":"c"}',
    unknown_nested    => '{"unknown":{"group_id":1,"x":[1,{"y":null}]},"group_id":"g"}',
    duplicate         => '{"group_id":"a","group_id":"b","groupId":"c"}',
    null_field        => '{"group_id":null,"email":""}',
    numbers           => '{"big":123456789012345678901234567890,"f":1.5e300,"n":-0}',
    utf8              => '{"group_id":"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"}',
    pair_escape       => '{"group_id":"\\ud83d\\ude00","email":"\\u00e9@x"}',
    escapes           => '{"email":"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"}',
    truncated         => '{"group_id":"g"',
    trailing          => '{} x',
    two_values        => '{}{}',
    comment           => '{/* c */"group_id":"g"}',
    array             => '[1,2]',
    string            => '"x"',
    bad_utf8          => '{"group_id":"\xff"}',
    overlong          => '{"group_id":"\xc0\xaf"}',
    utf8_surrogate    => '{"group_id":"\xed\xa0\x80"}',
    above_max         => '{"group_id":"\xf4\x90\x80\x80"}',
    short_seq         => '{"group_id":"\xe2\x82"}',
    wrong_type        => '{"id":1,"group_id":true,"email":{},"code":[]}',
    nul_escape        => '{"group_id":"a\\u0000b"}',
    nul_key           => '{"\\u0000":1}',
    nul_raw           => "{\"group_id\":\"a\x00b\"}",
    lone_high         => '{"group_id":"\\ud800"}',
    lone_low          => '{"group_id":"\\udc00"}',
    high_high         => '{"x":"\\ud83d\\ud83d"}',
    escaped_backslash => '{"x":"\\\\ud800"}',
    group_255         => '{"group_id":"' . ('g' x 255) . '"}',
    group_256         => '{"group_id":"' . ('g' x 256) . '"}',
    email_254         => '{"email":"' . ('e' x 250) . '@x.y"}',
    email_255         => '{"email":"' . ('e' x 251) . '@x.y"}',
    multibyte_long    => '{"code":"' . ("\xe2\x82\xac" x 86) . '"}',
    nested_deep       => ('[' x 200) . (']' x 200),
    nested_object     => '{"a":' . ('{"a":' x 100) . '1' . ('}' x 100) . '}',
);

# name => [selector byte, id, group_id, email, code]
# selector & 3: 0 or 3 invite, 1 list of (b >> 2) % 4, 2 error (b >> 2)
my @write = (
    invite         => [0, 'id1', 'group', 'john@doe.com', '12345678'],
    invite_escapes => [0, "x\"y\\z", "line\nbreak\x01", "\xc3\xa9\@e", "\x7f\x00"],
    invite_empty   => [0, '', '', '', ''],
    invite_utf8    => [0, "\xf0\x9f\x98\x80", "\xe2\x82\xac", "\xc3\xa9", "\xef\xbf\xbf"],
    invite_bad     => [0, 'ok', "\xff", 'ok', 'ok'],
    invite_cut     => [0, "\xe2\x82", 'g', 'e', 'c'],
    list_0         => [1, 'a', 'b', 'c', 'd'],
    list_1         => [1 | 4, 'a', 'b', 'c', 'd'],
    list_3         => [1 | 12, 'a', "</script>", "\x{2028}", 'd'],
    error_400      => [2 | (2 << 2), '', '', '', ''],
    error_404      => [2 | (7 << 2), '', '', '', ''],
    error_past     => [2 | (60 << 2), '', '', '', ''],
);

# writer inputs yajl's lax UTF-8 check let through (the writer wrote them
# until 0858633, found by fuzz_write; kept as regression cases)
my @lax = (
    'lax-utf8-above-max' => [0, 'i', 'g', 'e', "\xf4\x90\x80\x80"],
    'lax-utf8-overlong'  => [0, "\xc0\xaf", 'g', 'e', 'c'],
    'lax-utf8-surrogate' => [1 | 4, 'i', "\xed\xa0\x80", 'e', 'c'],
);

sub unescape {
    my $s = shift;
    $s =~ s/\\x([0-9a-fA-F]{2})/chr hex $1/ge;
    return $s;
}

for my $sub (qw(parse write)) {
    mkdir "$dir/$sub";
    unlink glob "$dir/$sub/seed-*";
}

while (my ($name, $body) = splice @parse, 0, 2) {
    open my $fh, '>:raw', "$dir/parse/seed-$name" or die "$name: $!";
    print $fh unescape($body);
    close $fh or die $!;
}

push @write, @lax;

while (my ($name, $v) = splice @write, 0, 2) {
    my ($sel, @s) = @$v;
    utf8::encode($_) for grep { /[^\x00-\xff]/ } @s;
    my $file = $name =~ /^lax-/ ? $name : "seed-$name";
    open my $fh, '>:raw', "$dir/write/$file" or die "$name: $!";
    print $fh pack('C v4', $sel, map { length } @s), @s;
    close $fh or die $!;
}
