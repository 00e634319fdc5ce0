# The shell examples of README.md, run as a user would type them.
#
# The "Try it" and "Calling with a key" blocks are taken from the README
# byte for byte; only the port of `./build.sh run` (8080) becomes this
# test's nginx port, and a separator is printed after each step so that
# every response can be compared with the "# →" line the README shows.

use FindBin;
use lib "$FindBin::Bin/lib";
use Invites::Test;

plan 'no_plan';

my $root = "$FindBin::Bin/..";

open(my $fh, '<', "$root/README.md") or die "README.md: $!";
my $readme = do { local $/; <$fh> };
close $fh;

# ./build.sh key, as the key block calls it, works on this test's database
$ENV{INVITES_DB} = pg_conninfo();

# as ./build.sh run serves them: every field (the harness says m3o)
start_nginx(<<'CONF');
    location /invites/Invites/ {
        invites_fields all;
        invites_api;
    }

    location /v1/invites/ {
        invites_fields all;
        invites_auth key;
        invites_api;
    }
CONF

readme_block('Try it');
readme_block('Calling with a key');

is(psql(q{SELECT count(*) FROM invites WHERE group_id = 'mygroup'
          AND tenant = ''}), '1',
   'after the sessions one invite of mygroup is left without a tenant');
is(psql(q{SELECT count(*) FROM invites WHERE tenant = 'mytenant'}), '1',
   'and one was made with the key, for its tenant');


sub readme_block {
    my ($title) = @_;

    my ($block) = $readme =~ /^#+ \Q$title\E\n.*?^```sh\n(.*?)^```$/ms;
    ok(defined $block, "README has a \"$title\" shell block");
    return unless defined $block;

    my $port = server_port();
    my $sep = '--- step ---';
    my @expected;
    my $script = "set -e\ncd '$root'\n";

    for my $line (split /\n/, $block) {
        if ($line =~ /^# → (.*)$/) {
            push @expected, $1;
            $script .= "printf '\\n%s\\n' '$sep'\n";
            next;
        }

        next if $line =~ /^\s*$/;

        like($line, qr{^(?:[A-Z]+=\$\()?(?:curl -s http://127\.0\.0\.1:8080/|\./build\.sh key )},
             "$title: a curl call to ./build.sh run's nginx, or build.sh"
             . " key: $line");

        (my $run = $line) =~ s/127\.0\.0\.1:8080/127.0.0.1:$port/g;
        $script .= "$run\n";
    }

    cmp_ok(scalar @expected, '>=', 4, "$title: responses are shown");

    my $file = servroot() . '/readme.sh';
    open(my $sh, '>', $file) or die "$file: $!";
    print $sh $script;
    close $sh;

    my $out = `bash '$file' 2>&1` // '';
    is($?, 0, "$title: the block runs without error") or diag($out);

    my @got = split /\n\Q$sep\E\n/, $out;

    is(scalar @got, scalar @expected, "$title: one response per shown one");

    for my $i (0 .. $#expected) {
        json_is($got[$i], $expected[$i], "$title, step " . ($i + 1)
                . " answers as shown: $expected[$i]");
    }
}
