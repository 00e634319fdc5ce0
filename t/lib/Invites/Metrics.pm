package Invites::Metrics;

# Invites::Metrics - reading the module's Prometheus metrics in tests
# (t/16N-*.t).  Use it after Invites::Test:
#
#     use Invites::Test;
#     use Invites::Metrics;
#     my $m = scrape();                  # GET /metrics
#     is(metric($m, 'nginx_invites_requests_total',
#               endpoint => 'create', status => 200), 3, ...);
#
# Exported:
#   $METRICS           '/metrics', where the tests put `invites_status;`.
#   scrape($uri, %http_opts)  GETs the metrics; returns the answer of
#                      http() plus samples: {"name{k="v",...}" => value},
#                      labels sorted by name, values unescaped.  Dies on a
#                      line that is neither a comment nor a sample.
#   metric($m, $name, %labels)  the sample's value, or undef if absent.
#   metric_sum($m, $name, %labels)  the sum of the samples of $name that
#                      have at least these labels (0 if none).
#   promtool_check($text)  runs `promtool check metrics` on the text;
#                      returns (exit status, output), or () when promtool
#                      is not installed.

use strict;
use warnings;
use Exporter 'import';
use File::Temp ();

our @EXPORT = qw($METRICS scrape metric metric_sum promtool_check);

our $METRICS = '/metrics';

sub _key {
    my ($name, %l) = @_;
    return $name . '{' . join(',', map { qq($_="$l{$_}") } sort keys %l) . '}';
}

sub _unescape {
    my $v = shift;
    $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
    return $v;
}

sub parse {
    my $text = shift;
    my %s;
    for my $line (split /\n/, $text) {
        next if $line =~ /^#/ || $line eq '';
        my ($name, $labels, $value) =
            $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
            or die "Invites::Metrics: not a sample: $line\n";
        my %l;
        while (($labels // '') =~ /\G([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)",?/gc) {
            $l{$1} = _unescape($2);
        }
        $s{_key($name, %l)} = $value;
    }
    return \%s;
}

sub scrape {
    my ($uri, %o) = @_;
    my $r = Invites::Test::http('GET', $uri // $METRICS, undef, %o);
    $r->{samples} = parse($r->{body} // '');
    return $r;
}

sub metric {
    my ($m, $name, %l) = @_;
    return $m->{samples}{_key($name, %l)};
}

sub metric_sum {
    my ($m, $name, %l) = @_;
    my $sum = 0;
    KEY: for my $k (keys %{$m->{samples}}) {
        next unless $k =~ /^\Q$name\E\{/;
        for my $label (keys %l) {
            next KEY unless index($k, qq($label="$l{$label}")) >= 0;
        }
        $sum += $m->{samples}{$k};
    }
    return $sum;
}

sub promtool_check {
    my $text = shift;
    my ($bin) = grep { -x } map { "$_/promtool" }
                split(/:/, $ENV{PATH} // ''), '/usr/bin';
    return () unless $bin;
    my $in = File::Temp->new;
    print $in $text;
    close $in;
    my $out = `$bin check metrics < "$in" 2>&1`;
    return ($? >> 8, $out);
}

1;
