#!/usr/bin/perl
#
# report.pl DIR: the Markdown report of a bench/run.sh run, from the
# files it left in DIR (machine.tsv, results.tsv, callgrind.tsv, rss.tsv,
# notes.txt).  Medians over the repetitions, with min..max; ratios are
# taken within each repetition, then medianed.

use strict;
use warnings;

my $dir = shift or die "usage: $0 DIR\n";

sub rows {
    my ($file) = @_;
    open my $fh, '<', "$dir/$file" or return ();
    return map { chomp; [split /\t/] } grep { /\S/ } <$fh>;
}

my %m = map { $_->[0] => $_->[1] } rows('machine.tsv');

# results: rep kind endpoint workers conns rps p50_us p99_us errors
# p99_corrected_us (wrk's p99 as it prints it; "-" for pgbench)
my (%r, %reps, %err);
for (rows('results.tsv')) {
    my ($rep, $kind, $ep, $w, $c, $rps, $p50, $p99, $e, $p99c) = @$_;
    $p99c = undef if defined $p99c && $p99c eq '-';
    $r{$kind}{$ep}{$w}{$c}{$rep} = { rps => $rps, p50 => $p50, p99 => $p99,
                                     p99c => $p99c };
    $reps{$rep} = 1;
    $err{"$kind $ep w$w c=$c"} += $e if $e;
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub stat3 {
    my @v = grep { defined } @_;
    return @v ? (median(@v), (sort { $a <=> $b } @v)[0, -1]) : ();
}

sub fmt_rate {
    my ($med, $min, $max) = stat3(@_);
    return '—' unless defined $med;
    return sprintf '%.0f', $med if @_ == 1;
    return sprintf '%.0f (%.0f..%.0f)', $med, $min, $max;
}

sub fmt_ratio {
    my ($med, $min, $max) = stat3(@_);
    return '—' unless defined $med;
    return sprintf '%.2f', $med if @_ == 1;
    return sprintf '%.2f (%.2f..%.2f)', $med, $min, $max;
}

sub fmt_lat {
    my ($pts) = @_;
    my @p = grep { defined } @$pts;
    return '—' unless @p;
    my $lat = sprintf '%.2f / %.2f', median(map { $_->{p50} } @p) / 1000,
        median(map { $_->{p99} } @p) / 1000;
    my @c = grep { defined } map { $_->{p99c} } @p;
    return @c ? sprintf('%s (%.2f)', $lat, median(@c) / 1000) : $lat;
}

my @reps = sort { $a <=> $b } keys %reps;

# the module's ratios are to pgbench over the module's own transport
my $unix = ($m{db_transport} // 'tcp') eq 'unix';
my ($same, $tr) = $unix ? ('pg_unix', 'Unix') : ('pg_tcp', 'TCP');
my @conns = split ' ', $m{conns} // '1 16 64';
my @workers = split ' ', $m{workers} // '1 2';
my @all_eps = qw(read_code read_id list create create_repeat delete redeem
                 revoke);
my @eps = grep { $r{module}{$_} } @all_eps;
my %label = (
    static        => 'return 200',
    read_code     => 'Read by code',
    read_id       => 'Read by id',
    list          => 'List by group',
    create        => 'Create (new)',
    create_repeat => 'Create (repeat)',
    delete        => 'Delete',
    redeem        => 'Redeem (by code)',
    revoke        => 'Revoke',
);

sub pts {
    my ($kind, $ep, $w, $c) = @_;
    return [map { $r{$kind}{$ep}{$w}{$c}{$_} } @reps];
}

sub rates { return map { defined $_ ? $_->{rps} : undef } @{ $_[0] } }

# module / baseline, per repetition
sub ratios {
    my ($num, $den) = @_;
    my @q;
    for my $i (0 .. $#reps) {
        my ($n, $d) = ($num->[$i], $den->[$i]);
        push @q, $n->{rps} / $d->{rps} if $n && $d && $d->{rps} > 0;
    }
    return @q;
}

my $out = '';
sub say { $out .= join('', @_) . "\n" }

say '# ngx_http_invites_module: benchmark results';
say '';
say $m{smoke} ? '**Smoke run (1 s points, 1 repetition): the figures mean '
              . 'nothing, the run only proves the benchmark works.**'
              : '';
say '| | |';
say '|---|---|';
say "| $_->[0] | $_->[1] |" for
    ['Date', $m{date}],
    ['CPU', "$m{cpu}, $m{cores} cores"],
    ['Memory', $m{memory}],
    ['System', "$m{os}, $m{kernel}"],
    ['nginx', $m{nginx}],
    ['PostgreSQL', $m{postgres}],
    ['Clients', "wrk $m{wrk}, $m{pgbench}"],
    ['Valgrind', $m{valgrind}],
    ['Module', "commit $m{module}"],
    ['Points', "$m{seconds} s each, $m{reps} repetitions, "
               . "clients $m{conns}, worker_processes $m{workers}"],
    ['Pool', "invites_db_pool $m{db_pool} per worker, over "
             . ($unix ? 'the Unix socket' : 'TCP') . ', invites_db_pipeline '
             . ($m{pipeline} // 'off')],
    ['Responses', 'invites_fields ' . ($m{fields} // 'all')
                  . (($m{fields} // 'all') eq 'm3o'
                     ? " (m3o's four fields)" : ' (every field)')],
    ['Load average', ($m{load_start} // '?') . ' at the start, '
                     . ($m{load_end} // '?') . ' at the end (1, 5, 15 min; '
                     . 'anything above the clients\' own share is other work)'];
say '';
say 'Clients and servers share the machine. pgbench\'s p50 comes from its '
  . 'sampled transaction log and, with more clients than cores, is bimodal '
  . '(a query either runs at once or waits a scheduler slice): compare p99s. '
  . 'Each cell is the median over the '
  . 'repetitions with (min..max); latencies are wrk\'s (module, return 200) '
  . 'or pgbench\'s per-transaction log (pgbench), medians of p50 / p99 in ms. '
  . 'wrk\'s are the latencies it measured, as pgbench\'s are; in brackets, '
  . 'the p99 wrk itself prints, which adds made-up samples for the requests '
  . 'a stalled connection would have sent (its correction for coordinated '
  . 'omission) and so weighs every stall by its length. '
  . "Ratios are module ÷ pgbench over $tr (the module's transport) with "
  . 'the same statement and clients, and module ÷ `return 200` on the same '
  . 'nginx and clients, '
  . 'each taken within one repetition and then medianed.';
say '';

for my $w (@workers) {
    say "## worker_processes $w";
    say '';
    say '| endpoint | clients | module req/s | p50 / p99 ms | pgbench TCP tps '
      . '| p50 / p99 ms | pgbench Unix tps | p50 / p99 ms '
      . "| ÷ pgbench $tr | ÷ return 200 |";
    say '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
    for my $c (@conns) {
        my $st = pts('static', 'static', $w, $c);
        say "| $label{static} | $c | " . fmt_rate(rates($st)) . ' | '
          . fmt_lat($st) . ' | | | | | | |';
    }
    for my $ep (@eps) {
        for my $c (@conns) {
            my $mod = pts('module', $ep, $w, $c);
            my $tcp = pts('pg_tcp', $ep, '-', $c);
            my $sock = pts('pg_unix', $ep, '-', $c);
            my $st = pts('static', 'static', $w, $c);
            say "| $label{$ep} | $c | " . fmt_rate(rates($mod)) . ' | '
              . fmt_lat($mod) . ' | ' . fmt_rate(rates($tcp)) . ' | '
              . fmt_lat($tcp) . ' | ' . fmt_rate(rates($sock)) . ' | '
              . fmt_lat($sock) . ' | '
              . fmt_ratio(ratios($mod, pts($same, $ep, '-', $c)))
              . ' | ' . fmt_ratio(ratios($mod, $st)) . ' |';
        }
    }
    say '';
}

# pgbench with \startpipeline, when the run had it
my @pipe_eps = grep { $r{pg_pipe}{$_} } @eps;

if (@pipe_eps) {
    say "## Against pgbench's own pipelining";
    say '';
    say "pgbench -M prepared over TCP sending $m{pgbench_pipeline} reads per "
      . 'transaction between `\startpipeline` and `\endpipeline`, each with '
      . 'its own parameters; its rate here is reads per second, its '
      . 'latencies are of a whole batch. Ratios are module ÷ pgbench within '
      . 'each repetition, as above.';
    say '';
    say '| endpoint | clients | workers | module req/s | pgbench TCP tps '
      . '| pgbench pipelined reads/s | p50 / p99 ms of a batch '
      . '| ÷ pgbench TCP | ÷ pgbench pipelined |';
    say '|---|--:|--:|--:|--:|--:|--:|--:|--:|';
    for my $ep (@pipe_eps) {
        for my $c (@conns) {
            for my $w (@workers) {
                my $mod = pts('module', $ep, $w, $c);
                my $tcp = pts('pg_tcp', $ep, '-', $c);
                my $pipe = pts('pg_pipe', $ep, '-', $c);
                say "| $label{$ep} | $c | $w | " . fmt_rate(rates($mod))
                  . ' | ' . fmt_rate(rates($tcp)) . ' | '
                  . fmt_rate(rates($pipe)) . ' | ' . fmt_lat($pipe) . ' | '
                  . fmt_ratio(ratios($mod, $tcp)) . ' | '
                  . fmt_ratio(ratios($mod, $pipe)) . ' |';
            }
        }
    }
    say '';
}

my %cg = map { $_->[0] => { n => $_->[1], ir => $_->[2] } } rows('callgrind.tsv');
my %ipr = map { $_ => $cg{$_}{n} ? $cg{$_}{ir} / $cg{$_}{n} : 0 } keys %cg;

if (%cg) {
    say '## Instructions per request (callgrind)';
    say '';
    say 'One nginx process (`master_process off`) under '
      . '`valgrind --tool=callgrind`; for each endpoint, '
      . 'a warm-up, the counters zeroed, a fixed number of requests sent one '
      . 'after another on one keep-alive connection, the counters dumped: '
      . 'startup and connecting are left out. Everything the worker executes '
      . 'counts (nginx, the module, libpq, yajl, libc).';
    say '';
    say '| endpoint | requests | instructions / request | ÷ return 200 |';
    say '|---|--:|--:|--:|';
    for my $ep ('static', @all_eps) {
        next unless $cg{$ep};
        say "| $label{$ep} | $cg{$ep}{n} | " . sprintf('%.0f', $ipr{$ep})
          . ' | ' . ($ipr{static} ? sprintf('%.2f', $ipr{$ep} / $ipr{static})
                                  : '—') . ' |';
    }
    say '';
}

# perf: the rate of each run, then per command its share and kernel share
my %prate = map { $_->[0] => { ep => $_->[1], c => $_->[2], rps => $_->[3] } }
            rows('perf-rate.tsv');
my %pshare;
$pshare{$_->[0]}{$_->[1]} = { all => $_->[2], kernel => $_->[3] }
    for rows('perf.tsv');

# a command's share in a run, without creating it
sub pshare {
    my ($who, $cmd) = @_;
    my $x = $pshare{$who}{$cmd};
    return $x ? $x->{all} : 0;
}

if (%pshare) {
    my @who = qw(module pgbench);
    my %us = map {
        my $rps = $prate{$_}{rps} // 0;
        $_ => sub { $rps ? $m{cores} * 1e6 * $_[0] / 100 / $rps : 0 }
    } @who;
    my %busy;
    for my $w (@who) {
        $busy{$w} += $pshare{$w}{$_}{all}
            for grep { $_ ne 'swapper' } keys %{ $pshare{$w} };
    }
    my %seen;
    my @cmds = grep { !$seen{$_}++ }
               sort { pshare('module', $b) + pshare('pgbench', $b)
                      <=> pshare('module', $a) + pshare('pgbench', $a)
                      or $a cmp $b }
               map { keys %{ $pshare{$_} } } @who;

    say '## Where the CPU goes (perf)';
    say '';
    say "Read by code at $prate{module}{c} clients, once through a one-worker "
      . "nginx (wrk) and once as pgbench -M prepared over $tr, each for one "
      . 'point: `perf record -e cpu-clock -a` (a software event, sampled on '
      . 'every CPU), the samples of each command, the part of them in the '
      . 'kernel, and what that is in CPU microseconds per request or '
      . 'transaction (cores × share ÷ rate). `swapper` is idle time.';
    say '';
    say '| command | module run: share | kernel | µs per request '
      . '| pgbench run: share | kernel | µs per transaction |';
    say '|---|--:|--:|--:|--:|--:|--:|';
    for my $cmd (@cmds) {
        next unless grep { pshare($_, $cmd) >= 0.5 } @who;
        say "| $cmd | " . join(' | ', map {
            my $x = $pshare{$_}{$cmd};
            $x ? sprintf('%.1f%% | %.1f%% | %s', $x->{all}, $x->{kernel},
                         $cmd eq 'swapper' ? '' : sprintf('%.1f', $us{$_}->($x->{all})))
               : ' | | ';
        } @who) . ' |';
    }
    say sprintf '| all but idle | %.1f%% | | %.1f | %.1f%% | | %.1f |',
        $busy{module}, $us{module}->($busy{module}),
        $busy{pgbench}, $us{pgbench}->($busy{pgbench});
    say sprintf '| rate | %.0f req/s | | | %.0f tps | | |',
        $prate{module}{rps} // 0, $prate{pgbench}{rps} // 0;
    say '';
}

my %rss = map { $_->[0] => { n => $_->[1], kb => $_->[2] } } rows('rss.tsv');

if (%rss) {
    say '## Worker RSS';
    say '';
    say 'A fresh single-worker nginx, 16 connections, every non-destructive '
      . 'path in turn (Read by code and id, List, repeat Create, not found, '
      . 'delete of nothing, bad JSON, invalid email, unknown endpoint).';
    say '';
    say '| when | requests | worker RSS KiB |';
    say '|---|--:|--:|';
    for ([start => 'at start'], [first => 'after the first'], [all => 'after all']) {
        my $x = $rss{$_->[0]} or next;
        say "| $_->[1] | $x->{n} | $x->{kb} |";
    }
    say '';
    if ($rss{first} && $rss{all} && $rss{first}{kb}) {
        say sprintf 'Growth from the first %d to %d requests: %+.1f%%.',
            $rss{first}{n}, $rss{all}{n},
            100 * ($rss{all}{kb} - $rss{first}{kb}) / $rss{first}{kb};
        say '';
    }
}

say '## How it was measured';
say '';
say "- **Seed**: 100,000 invites in the default tenant (`''`), group `n % 1000 + 1` "
  . '(100 each), email `user<n / 1000>@example.com` (every group holds user0..user99), '
  . 'code `10000000 + 7919·n mod 9·10⁷` (unique, and computable by pgbench), id '
  . '`gen_random_uuid()`. Beside them the pools of the writing endpoints, '
  . "$m{pool} rows each, refilled before every point that takes from them: "
  . 'two for Delete and two for Revoke (one the module\'s, one pgbench\'s, '
  . 'see below), and one for Redeem that both take from: pending invites of '
  . 'the default tenant whose codes continue the formula from n = 100,000. '
  . 'Refilling makes what was redeemed or revoked pending again.';
say '- **PostgreSQL**: durable defaults (fsync, synchronous_commit, full_page_writes on), '
  . 'so Create, Delete, Redeem and Revoke wait for a WAL flush per commit; shared_buffers 512MB, '
  . 'max_connections 200, max_wal_size 8GB, checkpoint_timeout 30min, jit off. '
  . 'pgbench\'s sessions use plan_cache_mode=force_generic_plan, the plans the '
  . 'module\'s long-lived connections settle on after five executions.';
say "- **nginx**: one instance per worker count, side by side; `invites_db` over "
  . ($unix ? 'the Unix socket' : 'TCP to 127.0.0.1') . ", `invites_db_pool $m{db_pool}` per worker, `keepalive_requests 1000000`, "
  . '`access_log off`, `error_log … error`. The pool is opened before the first point.';
say '- **Clients**: `wrk -t min(c,2) -c c` with a Lua script per endpoint (bench/wrk/); '
  . '`pgbench -M prepared -c c -j min(c,2)` over TCP 127.0.0.1 and over the Unix socket, '
  . "run $m{pg_warmup} s longer with those first seconds left out (new backends take 2-3 s "
  . 'to reach speed; the module\'s pool is warm). Interleaved: per repetition and client '
  . 'count, return 200, then per endpoint module w1, module w2, pgbench TCP, pgbench Unix.';
say '- **Statements**: read from ngx_http_invites_ops.c at run time (bench/stmts.pl); '
  . 'the server prepares exactly the module\'s text. Parameters:';
say '';
say '| endpoint | module (wrk) | pgbench |';
say '|---|---|---|';
say '| Read by code | a random code of the 100,000 | the same: `random(0, 99999)` through the code formula |';
say "| Read by id | a random id of $m{read_ids} sampled from the seed | the same $m{read_ids} ids, picked by an `\\if` tree (pgbench has no strings but `-D`) |";
say '| List by group | a random group 1..1000 (100 rows); the module sends '
  . 'status NULL and LIMIT 1001 (its page of 1000 and one) | the same '
  . 'group, NULL and 1001 |';
say '| Create (new) | tenant `\'\'`, a random group 1001..2000, an email never used; the module draws id and code | a random tenant of 1..9·10¹⁸ with a fixed id, email and code: pgbench cannot make a new UUID per transaction, and the tenant leads every key, so each insert is new and lands at a random place in every index, as the module\'s do |';
say '| Create (repeat) | a random pair of group 1..1000 and user0..user99 (all exist) | the same pairs (`\\if` tree); fixed id and code (the module sends random ones; the insert conflicts on the pair either way) |';
say '| Delete | tenant `\'\'`, a different pooled id per request | one fixed id in a different pooled tenant per transaction (`permute`) |';
say '| Redeem (by code) | tenant `\'\'`, a different code of the Redeem pool per request (in random order), no email (NULL) | the same pool\'s codes, one per transaction, through the code formula from `permute` |';
say '| Revoke | tenant `\'\'`, a different pooled id per request (in random order) | one fixed id in a different pooled tenant per transaction (`permute`), as Delete |';
say '';
say '- **NULL parameters**: Create sends expiry and metadata NULL, List status '
  . 'NULL, Redeem email NULL, as the module does by default. In pgbench\'s '
  . 'scripts they are variables that have no value (`:null_*`), which '
  . '`-M prepared` binds as SQL NULL (run.sh checks it of its pgbench): the '
  . 'server prepares the module\'s text and plans NULL as a parameter, as '
  . 'for the module, rather than as a literal it would fold. pgbench '
  . 'prepares without parameter types, so the server infers them; they are '
  . 'the module\'s, but for Create\'s expiry (`$6 * interval`), inferred '
  . '`float8` where the module declares `int8`.';
say '';
say '- **return 200**: `location = /static { default_type application/json; return 200 \'<137-byte invite>\'; }`, '
  . 'sent a POST with a 150-byte JSON body, built per request by the same Lua code path.';
say '';

say '## Against the targets of issue 5';
say '';
say "Ratios are vs pgbench over $tr, the module's transport.";
say '';
say '| target | measured | |';
say '|---|---|---|';
for my $t (['read_code', 0.7], ['read_id', 0.7], ['list', 0.7],
           ['create', 0.8], ['delete', 0.7])
{
    my ($ep, $goal) = @$t;
    next unless $r{module}{$ep};
    for my $w (@workers) {
        for my $c (grep { $_ >= 16 } @conns) {
            my $q = median(ratios(pts('module', $ep, $w, $c),
                                  pts($same, $ep, '-', $c)));
            next unless defined $q;
            say sprintf '| %s ≥ %.1f× pgbench %s, %d clients, w%d | %.2f× | %s |',
                $label{$ep}, $goal, $tr, $c, $w, $q,
                $q >= $goal ? 'met' : 'not met';
        }
    }
}
for my $ep (grep { $r{module}{$_} } qw(read_code read_id list create delete)) {
    for my $w (@workers) {
        next unless grep { $_ == 64 } @conns;
        my $mp = median(map { $_->{p99} } grep { defined } @{ pts('module', $ep, $w, 64) });
        my $pp = median(map { $_->{p99} } grep { defined } @{ pts($same, $ep, '-', 64) });
        next unless $mp && $pp;
        say sprintf '| %s p99 ≤ 2× pgbench p99, 64 clients, w%d | %.2f ms vs %.2f ms (%.1f×) | %s |',
            $label{$ep}, $w, $mp / 1000, $pp / 1000, $mp / $pp,
            $mp <= 2 * $pp ? 'met' : 'not met';
    }
}
for my $ep (qw(read_code read_id)) {
    next unless $ipr{$ep};
    say sprintf '| %s ≤ 15,000 instructions / request | %.0f | %s |',
        $label{$ep}, $ipr{$ep}, $ipr{$ep} <= 15000 ? 'met' : 'not met';
}
if ($rss{first} && $rss{all} && $rss{first}{kb}) {
    my $g = 100 * ($rss{all}{kb} - $rss{first}{kb}) / $rss{first}{kb};
    say sprintf '| RSS after %d within 5%% of after %d | %+.1f%% | %s |',
        $rss{all}{n}, $rss{first}{n}, $g, abs($g) <= 5 ? 'met' : 'not met';
}
say '';

# the lifecycle's: Redeem and Revoke against pgbench's same UPDATE
my @life = grep { $r{module}{$_} } qw(redeem revoke);

if (@life && grep { $_ == 16 } @conns) {
    say '## Against the targets of the lifecycle issue';
    say '';
    say "Ratios are vs pgbench over $tr, the module's transport, running the "
      . "module's own statement (one conditional UPDATE … RETURNING).";
    say '';
    say '| target | measured | |';
    say '|---|---|---|';
    for my $ep (@life) {
        for my $w (@workers) {
            my $q = median(ratios(pts('module', $ep, $w, 16),
                                  pts($same, $ep, '-', 16)));
            next unless defined $q;
            say sprintf '| %s ≥ 0.8× pgbench %s, 16 clients, w%d | %.2f× | %s |',
                $label{$ep}, $tr, $w, $q, $q >= 0.8 ? 'met' : 'not met';
        }
    }
    say '';
}

my @notes = rows('notes.txt');
if (%err || @notes) {
    say '## Notes';
    say '';
    say "- $_: $err{$_} non-2xx or socket errors" for sort keys %err;
    say "- $_->[0]" for @notes;
    say '';
}

print $out;
