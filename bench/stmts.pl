#!/usr/bin/perl
#
# stmts.pl OPS_C: prints the statements the module prepares, one per line,
# as "name<TAB>SQL", read from the C source itself so that pgbench always
# runs what the module runs.  Fails when the source no longer has the
# shape this expects.

use strict;
use warnings;

my $file = shift or die "usage: $0 ngx_http_invites_ops.c\n";
open my $fh, '<', $file or die "$file: $!\n";
my $src = do { local $/; <$fh> };

# string macros: literals and earlier macros, over continued lines
my %macro;
while ($src =~ /^#define\s+(NGX_HTTP_INVITES_\w+)[ \t]+((?:[^\n]*\\\n)*[^\n]*)$/mg) {
    my ($name, $body) = ($1, $2);
    $body =~ s/\\\n/ /g;
    next unless $body =~ /^\s*"/;
    my $v = '';
    while ($body =~ /\G\s*(?:"((?:[^"\\]|\\.)*)"|(NGX_HTTP_INVITES_\w+))/gc) {
        if (defined $1) {
            $v .= $1;
        } else {
            defined $macro{$2} or die "$file: unknown macro $2\n";
            $v .= $macro{$2};
        }
    }
    $body =~ /\G\s*$/gc or die "$file: cannot read macro $name\n";
    $macro{$name} = $v;
}

$src =~ /ngx_http_invites_prepare\[\]\s*=\s*(.*?;)\s*$/ms
    or die "$file: no ngx_http_invites_prepare[] string\n";
my $init = $1;

# the initializer up to the ';' outside string literals
my $text = '';
while ($init =~ /\G\s*(?:"((?:[^"\\]|\\.)*)"|(NGX_HTTP_INVITES_\w+)|;)/gc) {
    last if !defined $1 && !defined $2;
    if (defined $1) {
        $text .= $1;
    } else {
        defined $macro{$2} or die "$file: unknown macro $2\n";
        $text .= $macro{$2};
    }
}

my $n = 0;
for my $stmt (split /;/, $text) {
    next if $stmt !~ /\S/;
    $stmt =~ /^\s*PREPARE\s+(\w+)\s*\([^)]*\)\s+AS\s+(.*)$/s
        or die "$file: not a PREPARE: $stmt\n";
    print "$1\t$2\n";
    $n++;
}

$n > 0 or die "$file: no statements\n";
