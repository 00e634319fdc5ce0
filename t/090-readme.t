# The curl examples of README.md, run as a user would type them.
#
# The "## Try it" block is taken from the README byte for byte; only the
# port of `./build.sh run` (8080) is replaced by this test's nginx port,
# and a separator is printed after each step so that every response can be
# compared with the "# →" line the README shows for it.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';

open(my $fh, '<', "$FindBin::Bin/../README.md") or die "README.md: $!";
my $readme = do { local $/; <$fh> };
close $fh;

my ($block) = $readme =~ /^## Try it\n.*?^```sh\n(.*?)^```$/ms;
ok(defined $block, 'README has a "Try it" shell block');

start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_api;
    }
CONF

my $port = server_port();
my $sep = '--- step ---';
my (@expected, $script);

$script = "set -e\n";

for my $line (split /\n/, $block) {
    if ($line =~ /^# → (.*)$/) {
        push @expected, $1;
        $script .= "printf '\\n%s\\n' '$sep'\n";
        next;
    }

    next if $line =~ /^\s*$/;

    like($line, qr/^(?:[A-Z]+=\$\()?curl -s http:\/\/127\.0\.0\.1:8080\//,
         "README line is a curl call to ./build.sh run's nginx: $line");

    (my $run = $line) =~ s/127\.0\.0\.1:8080/127.0.0.1:$port/g;
    $script .= "$run\n";
}

cmp_ok(scalar @expected, '>=', 8, 'README shows the response of each step');

my $file = servroot() . '/readme.sh';
open(my $sh, '>', $file) or die "$file: $!";
print $sh $script;
close $sh;

my $out = `bash '$file' 2>&1` // '';
is($?, 0, 'the README block runs without error') or diag($out);

my @got = split /\n\Q$sep\E\n/, $out;

is(scalar @got, scalar @expected, 'one response per shown response');

for my $i (0 .. $#expected) {
    json_is($got[$i], $expected[$i], "README step " . ($i + 1) . " answers"
            . " as shown: $expected[$i]");
}

is(psql(q{SELECT count(*) FROM invites WHERE group_id = 'mygroup'}), '1',
   'after the README session one invite of mygroup is left (jane)');
