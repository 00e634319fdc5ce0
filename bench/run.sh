#!/usr/bin/env bash
#
# bench/run.sh: the benchmark of ngx_http_invites_module (run by
# "./build.sh bench"; see bench/README.md).  Starts a private PostgreSQL
# and nginx, seeds 100,000 invites, measures the module against pgbench
# running the very same statements and against a "return 200" location,
# counts instructions per request under callgrind, watches the worker's
# RSS, and writes bench/RESULTS.md.  Stops everything it started.
#
#   bench/run.sh            the full run
#   bench/run.sh --smoke    everything once for 1 second (CI)

set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_http_invites_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
OPS_C=$ROOT/ngx_http_invites_module/ngx_http_invites_ops.c

CONNS=${BENCH_CONNS:-1 16 64}
SMOKE=0
case "${1:-}" in
    --smoke) SMOKE=1 ;;
    "") ;;
    *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

if [ "$SMOKE" -eq 1 ]; then
    SECS=${BENCH_SECONDS:-1}
    REPS=${BENCH_REPS:-1}
    RSS_REQUESTS=${BENCH_RSS_REQUESTS:-20000}
    CG_REQUESTS=${BENCH_CALLGRIND_REQUESTS:-200}
    CONNS=${BENCH_CONNS:-1 64}
    OUT=${BENCH_OUT:-}
else
    SECS=${BENCH_SECONDS:-10}
    REPS=${BENCH_REPS:-3}
    RSS_REQUESTS=${BENCH_RSS_REQUESTS:-1000000}
    CG_REQUESTS=${BENCH_CALLGRIND_REQUESTS:-2000}
    OUT=${BENCH_OUT:-$BENCH/RESULTS.md}
fi

WORKERS=${BENCH_WORKERS:-1 2}
ENDPOINTS=${BENCH_ENDPOINTS:-read_code read_id list create create_repeat delete redeem revoke}
DB_POOL=${BENCH_DB_POOL:-16}
PIPELINE=${BENCH_PIPELINE:-off}
# on: an invites_status location, and so the metrics counted per request
STATUS=${BENCH_STATUS:-off}
case "$STATUS" in
    on|off) ;;
    *) echo "BENCH_STATUS: on or off" >&2; exit 2 ;;
esac
DB_TRANSPORT=${BENCH_DB_TRANSPORT:-tcp}
case "$DB_TRANSPORT" in
    tcp|unix) ;;
    *) echo "BENCH_DB_TRANSPORT: tcp or unix" >&2; exit 2 ;;
esac
# the invites_fields of the bench's nginx: every field, or m3o's four
FIELDS=${BENCH_FIELDS:-all}
case "$FIELDS" in
    all|m3o) ;;
    *) echo "BENCH_FIELDS: all or m3o" >&2; exit 2 ;;
esac
# > 0: also pgbench with \startpipeline, this many reads per transaction
PGB_PIPE=${BENCH_PGBENCH_PIPELINE:-0}
# perf needs perf_event_open(), which containers often refuse: not in smoke
PARTS=${BENCH_PARTS:-throughput callgrind rss$([ "$SMOKE" -eq 1 ] || echo ' perf')}
READ_IDS=${BENCH_READ_IDS:-128}
RSS_FIRST=10000
CG_WARMUP=50
PG_SAMPLING=${BENCH_PG_SAMPLING:-0.1}
PG_WARMUP=${BENCH_PG_WARMUP:-$((SMOKE ? 1 : 2))}
# every Delete, Redeem and Revoke of a point must find its row: each pool
# outlasts the fastest delete rate seen here (~15k/s) with room to spare
# (BENCH_DELETE_POOL is the older name)
POOL=${BENCH_POOL:-${BENCH_DELETE_POOL:-$((SECS * 40000 > 40000 ? SECS * 40000 : 40000))}}
# the page of a List without "limit": the module asks for one row more
LIST_LIMIT=1000

# fixed values where pgbench cannot make a new string per transaction
CREATE_ID=00000000-0000-4000-8000-00000000c0de
REPEAT_ID=00000000-0000-4000-8000-0000000fee11
DELETE_ID=00000000-0000-4000-8000-0000000de1e7
REVOKE_ID=00000000-0000-4000-8000-0000000ae0ce

DIR=""
PG_PORT=""
PG_BIN=""
declare -A NGINX_PID=()
declare -A HTTP_PORT=()
VG_PID=""
NONCE=0

has_part() { [[ " $PARTS " == *" $1 "* ]]; }
log() { printf '%s\n' "bench: $*" >&2; }
die() { log "$*"; exit 1; }


cleanup() {
    local name pid

    set +e
    if [ -n "$VG_PID" ] && kill -0 "$VG_PID" 2>/dev/null; then
        kill -KILL "$VG_PID" 2>/dev/null
        wait "$VG_PID" 2>/dev/null
    fi

    for name in "${!NGINX_PID[@]}"; do
        nginx_stop "$name"
    done

    if [ -n "$DIR" ] && [ -f "$DIR/pg/data/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -m fast -w stop \
            >/dev/null 2>&1
    fi

    if [ -n "$DIR" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
            log "kept $DIR"
        else
            rm -rf "$DIR"
        fi
    fi
}


need_tools() {
    local missing=() t

    for t in wrk:wrk pgbench:postgresql-client valgrind:valgrind \
             callgrind_control:valgrind perl:perl psql:postgresql-client
    do
        command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
    done

    if has_part perf; then
        command -v perf >/dev/null || missing+=(linux-perf)
    fi

    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing: ${missing[*]} (apt-get install them)"

    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}


# as build.sh: PostgreSQL refuses root, so it runs as postgres
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}


free_port() {
    local p=$1

    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
        p=$((p + 1))
    done

    echo "$p"
}


psql_q() {
    psql -qAtX -h "$DIR/pg" -p "$PG_PORT" -U invites -d invites \
        -v ON_ERROR_STOP=1 "$@"
}


pg_setup() {
    local d

    d=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$d/initdb" ] || d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    PG_BIN=$d
    PG_PORT=$(free_port 55432)

    mkdir -p "$DIR/pg"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DIR/pg"

    as_pg "$PG_BIN/initdb" -D "$DIR/pg/data" -U postgres --auth=trust \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/pg/initdb.log" 2>&1 \
        || { cat "$DIR/pg/initdb.log" >&2; die "initdb failed"; }

    # durable (fsync, synchronous_commit and full_page_writes stay on);
    # room for every connection, the table in memory, no checkpoint storm
    # in the middle of a point, no JIT on the 100-row list
    as_pg tee -a "$DIR/pg/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR/pg'
max_connections = 200
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
jit = off
CONF

    as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/server.log" -w \
        -t 30 start >/dev/null \
        || { tail -20 "$DIR/pg/server.log" >&2; die "PostgreSQL did not start"; }

    psql -qX -h "$DIR/pg" -p "$PG_PORT" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE ROLE invites LOGIN;
CREATE DATABASE invites OWNER invites;
SQL

    for d in "$ROOT"/sql/*.sql; do
        psql_q -f "$d" >/dev/null
    done
}


# 100,000 invites in the default tenant: group n % 1000 + 1 (100 each),
# email user<n / 1000>@example.com (so every group holds user0..user99),
# code 10000000 + n * 7919 mod 90000000 (unique: 7919 is prime to 9*10^7,
# and pgbench can compute it).  Beside them, the pools the writing
# endpoints consume (see refill): Delete's two, Redeem's one (pending
# invites whose codes continue the formula from n = 100,000, so pgbench
# computes them too) and Revoke's two.
seed() {
    mkdir -p "$DIR/data"

    psql_q >/dev/null <<SQL
INSERT INTO invites (tenant, id, group_id, email, code)
SELECT '', gen_random_uuid(), (n % 1000 + 1)::text,
       'user' || (n / 1000) || '@example.com',
       (10000000 + (n::bigint * 7919) % 90000000)::text
  FROM generate_series(0, 99999) AS n;

CREATE TABLE bench_read_ids AS
SELECT row_number() OVER () - 1 AS r, id
  FROM (SELECT id FROM invites WHERE tenant = ''
         ORDER BY random() LIMIT $READ_IDS) AS s;

CREATE TABLE bench_del_pool (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_del_pool
SELECT n, gen_random_uuid() FROM generate_series(1, $POOL) AS n;

INSERT INTO invites (tenant, id, group_id, email, code)
SELECT '', gen_random_uuid(), 'redeem', 'redeem' || p || '@example.com',
       (10000000 + ((100000 + p)::bigint * 7919) % 90000000)::text
  FROM generate_series(0, $POOL - 1) AS p;

CREATE TABLE bench_rev_pool (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_rev_pool
SELECT n, gen_random_uuid() FROM generate_series(1, $POOL) AS n;

INSERT INTO invites (tenant, id, group_id, email, code)
SELECT '', id, 'rev', 'rev' || n || '@example.com', 'v' || n
  FROM bench_rev_pool;

INSERT INTO invites (tenant, id, group_id, email, code)
SELECT k::text, '$REVOKE_ID', 'rev', 'rev@example.com', 'v'
  FROM generate_series(1, $POOL) AS k;
SQL

    refill delete module
    refill delete pgbench
    psql_q -c 'VACUUM ANALYZE invites, bench_del_pool, bench_rev_pool' \
        >/dev/null

    psql_q -c "SELECT code FROM invites WHERE tenant = '' AND group_id ~ '^[0-9]+\$'" \
        >"$DIR/data/codes.txt"
    psql_q -c 'SELECT id FROM bench_read_ids ORDER BY r' >"$DIR/data/ids.txt"
    psql_q -c 'SELECT id FROM bench_del_pool ORDER BY n' \
        >"$DIR/data/del_ids.txt"
    # in no order, as pgbench's permute() takes its pools
    psql_q -c "SELECT code FROM invites WHERE tenant = '' AND group_id = 'redeem' ORDER BY random()" \
        >"$DIR/data/redeem_codes.txt"
    psql_q -c 'SELECT id FROM bench_rev_pool ORDER BY random()' \
        >"$DIR/data/rev_ids.txt"

    [ "$(wc -l <"$DIR/data/codes.txt")" -eq 100000 ] \
        || die "the seed does not hold 100,000 codes"
    [ "$(wc -l <"$DIR/data/redeem_codes.txt")" -eq "$POOL" ] \
        || die "the Redeem pool does not hold $POOL codes"
}


# refill ENDPOINT WHO: puts back what the last point of a writing endpoint
# took, for the module or pgbench.  Delete: the module deletes by id in the
# default tenant; pgbench, which cannot make a new UUID per transaction,
# deletes one fixed id in tenants 1..pool.  Revoke: the same two ways, on
# pools of their own.  Redeem: both redeem by code the same pending
# invites of the default tenant.  What was revoked or redeemed is pending
# again.
refill() {
    case "$1 $2" in
        "delete module")
            psql_q >/dev/null <<SQL
INSERT INTO invites (tenant, id, group_id, email, code)
SELECT '', id, 'del', 'del' || n || '@example.com', 'd' || n
  FROM bench_del_pool ON CONFLICT DO NOTHING;
SQL
            ;;
        "delete pgbench")
            psql_q >/dev/null <<SQL
INSERT INTO invites (tenant, id, group_id, email, code)
SELECT k::text, '$DELETE_ID', 'del', 'del@example.com', 'd'
  FROM generate_series(1, $POOL) AS k ON CONFLICT DO NOTHING;
SQL
            ;;
        "redeem "*)
            psql_q >/dev/null <<SQL
UPDATE invites SET status = 'pending', accepted_at = NULL
 WHERE tenant = '' AND group_id = 'redeem' AND status <> 'pending';
SQL
            ;;
        "revoke module")
            psql_q >/dev/null <<SQL
UPDATE invites SET status = 'pending', revoked_at = NULL
 WHERE tenant = '' AND group_id = 'rev' AND status <> 'pending';
SQL
            ;;
        "revoke pgbench")
            psql_q >/dev/null <<SQL
UPDATE invites SET status = 'pending', revoked_at = NULL
 WHERE id = '$REVOKE_ID' AND status <> 'pending';
SQL
            ;;
    esac
}


# pgbench scripts: the statement text comes from ops.c itself; each $n's
# first use becomes a pgbench variable (pgbench numbers them in order of
# appearance, so they stay $1..$k) and later uses stay $n, so the server
# prepares exactly the module's text.  Where the module sends SQL NULL the
# variable is a null_* one, which nothing defines: -M prepared binds a
# variable without a value as NULL (checked by pgbench_null_check), so
# the NULL is a parameter, as the module's, and not a literal the planner
# would fold into another plan.
pgbench_scripts() {
    local stmts

    stmts="$DIR/stmts.tsv"
    "$BENCH/stmts.pl" "$OPS_C" >"$stmts"
    mkdir -p "$DIR/pgbench"

    perl - "$stmts" "$DIR/pgbench" "$READ_IDS" "$PGB_PIPE" <<'PERL'
use strict;
use warnings;

my ($stmts, $dir, $nids, $depth) = @ARGV;
my %sql;
open my $fh, '<', $stmts or die "$stmts: $!\n";
while (<$fh>) {
    chomp;
    my ($name, $text) = split /\t/, $_, 2;
    $sql{$name} = $text;
}

# the default tenant is '', which pgbench -D cannot define: fetch it once
my $tenant = "\\set i :i + 1\n\\if :i = 1\nSELECT '' AS tenant \\gset\n"
           . "\\endif\n";

sub stmt {
    my ($name, @vars) = @_;
    my $text = $sql{$name} // die "ops.c has no $name\n";
    my $next = 1;
    $text =~ s{\$(\d+)}{
        if ($1 == $next) {
            ':' . $vars[$next++ - 1];
        } elsif ($1 < $next) {
            "\$$1";
        } else {
            die "$name: \$$1 before \$$next\n";
        }
    }ge;
    $next - 1 == @vars or die "$name: takes " . ($next - 1) . " parameters\n";
    return "$text;\n";
}

# the prelude of a pool's script: k runs over 0..pool-1, each value taken
# by one transaction of one client (the counter i counts from 1)
my $pool = "\\set k mod(:client_id + (:i - 1) * :nclients, :pool)\n";

# a binary tree of \if on :r over 0..n-1, leaf i running stmt with the
# string variable prefix_i: pgbench cannot index a list of strings
sub tree {
    my ($lo, $hi, $leaf) = @_;
    return $leaf->($lo) if $hi - $lo == 1;
    my $mid = int(($lo + $hi) / 2);
    return "\\if :r < $mid\n" . tree($lo, $mid, $leaf) . "\\else\n"
         . tree($mid, $hi, $leaf) . "\\endif\n";
}

my %script = (
    read_code => $tenant
        . "\\set n random(0, 99999)\n"
        . "\\set code 10000000 + mod(:n * 7919, 90000000)\n"
        . stmt('invites_read_code', 'tenant', 'code'),

    read_id => $tenant
        . "\\set r random(0, $nids - 1)\n"
        . tree(0, $nids,
               sub { stmt('invites_read_id', 'tenant', "id_$_[0]") }),

    list => $tenant
        . "\\set g random(1, 1000)\n"
        . stmt('invites_list_group', 'tenant', 'g', 'null_status',
               'list_rows'),

    create => "\\set t random(1, 9000000000000000000)\n"
        . "\\set g random(1001, 2000)\n"
        . stmt('invites_create', 't', 'create_id', 'g', 'create_email',
               'create_code', 'null_expiry', 'null_metadata'),

    create_repeat => $tenant
        . "\\set g random(1, 1000)\n"
        . "\\set r random(0, 99)\n"
        . tree(0, 100,
               sub { stmt('invites_create', 'tenant', 'repeat_id', 'g',
                          "email_$_[0]", 'repeat_code', 'null_expiry',
                          'null_metadata') }),

    delete => "\\set i :i + 1\n" . $pool
        . "\\set t 1 + permute(:k, :pool)\n"
        . stmt('invites_delete', 't', 'delete_id'),

    # the Redeem pool's codes, as seed() computes them
    redeem => $tenant . $pool
        . "\\set n 100000 + permute(:k, :pool)\n"
        . "\\set code 10000000 + mod(:n * 7919, 90000000)\n"
        . stmt('invites_redeem_code', 'tenant', 'code', 'null_email'),

    revoke => "\\set i :i + 1\n" . $pool
        . "\\set t 1 + permute(:k, :pool)\n"
        . stmt('invites_revoke', 't', 'revoke_id'),
);

# pgbench's own pipelining: one transaction sends depth reads, each with
# its own parameters, and waits for all of them
for my $name (qw(read_code read_id list)) {
    (my $body = $script{$name}) =~ s/^\Q$tenant\E// or die "$name\n";
    $script{"$name.pipe"} = $tenant . "\\startpipeline\n"
                          . $body x $depth . "\\endpipeline\n";
}

for my $name (keys %script) {
    open my $out, '>', "$dir/$name.sql" or die "$dir/$name.sql: $!\n";
    print $out $script{$name};
    close $out;
}
PERL

    PGB_DEFS=(-D i=0 -D "create_id=$CREATE_ID" -D create_email=new@example.com
              -D create_code=10000000 -D "repeat_id=$REPEAT_ID"
              -D repeat_code=10000001 -D "delete_id=$DELETE_ID"
              -D "revoke_id=$REVOKE_ID" -D "pool=$POOL"
              -D "list_rows=$((LIST_LIMIT + 1))")
    local i=0 id
    while read -r id; do
        PGB_DEFS+=(-D "id_$i=$id")
        i=$((i + 1))
    done <"$DIR/data/ids.txt"
    for i in $(seq 0 99); do
        PGB_DEFS+=(-D "email_$i=user$i@example.com")
    done
}


# pgbench_null_check: the scripts' NULL parameters are variables without a
# value (null_*), which pgbench -M prepared binds as SQL NULL; a pgbench
# that sends anything else, or refuses them, fails here rather than
# measuring other statements than the module's
pgbench_null_check() {
    local d

    for d in "${PGB_DEFS[@]}"; do
        [[ "$d" != null_* ]] || die "pgbench: $d must have no value"
    done

    printf 'SELECT 1 / (:null_check::text IS NULL)::int;\n' \
        >"$DIR/pgbench/null_check.sql"
    pgbench -n -M prepared -h "$DIR/pg" -p "$PG_PORT" -U invites -t 1 \
        -f "$DIR/pgbench/null_check.sql" invites >"$DIR/pgbench.out" 2>&1 \
        || { cat "$DIR/pgbench.out" >&2
             die "this pgbench does not bind a variable without a value" \
                 "as NULL: the NULL parameters cannot be sent"; }
}


# note_exhausted EP WHO CLIENTS REP N: a point of a writing endpoint that
# outran its pool
note_exhausted() {
    if [ "$5" -gt "$POOL" ]; then
        echo "$1, $2, c=$3, rep $4: $(($5 - POOL)) of $5 found" \
             "nothing to change (pool $POOL)" >>"$DIR/notes.txt"
    fi

    return 0
}


# pg_host TRANSPORT: where PostgreSQL listens over it (unix, else TCP)
pg_host() {
    if [ "$1" = unix ]; then
        echo "$DIR/pg"
    else
        echo 127.0.0.1
    fi
}


# nginx_conf NAME WORKERS PORT [single]
nginx_conf() {
    local name=$1 workers=$2 port=$3 single=${4:-} d="$DIR/$1" master=on
    local status=""

    [ -n "$single" ] && master=off
    [ "$STATUS" = on ] && status="location = /metrics { invites_status; }"
    mkdir -p "$d/logs" "$d/tmp"
    cat >"$d/nginx.conf" <<CONF
load_module $MODULE;

daemon off;
master_process $master;
worker_processes $workers;
pid $d/nginx.pid;
error_log $d/logs/error.log error;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_requests 1000000;

    invites_db "host=$(pg_host "$DB_TRANSPORT") port=$PG_PORT dbname=invites user=invites";
    invites_db_pool $DB_POOL;
    invites_db_pipeline $PIPELINE;

    server {
        listen 127.0.0.1:$port;

        location /invites/Invites/ {
            invites_api;
            invites_list_limit $LIST_LIMIT;
            invites_fields $FIELDS;
        }

        $status

        location = /static {
            default_type application/json;
            return 200 '{"invite":{"id":"0b6b4b8e-3f0a-4c8e-9a47-6a1c2e0f9d11","group_id":"benchmark-group-0042","email":"someone@example.com","code":"12345678"}}';
        }
    }
}
CONF
}


wait_http() {
    local port=$1 pid=$2 i

    for i in $(seq 300); do
        if curl -s -o /dev/null -X POST "http://127.0.0.1:$port/static"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done

    return 1
}


# nginx_start NAME WORKERS
nginx_start() {
    local name=$1 workers=$2 port

    port=$(free_port $((18080 + ${#HTTP_PORT[@]} * 10)))
    HTTP_PORT[$name]=$port
    nginx_conf "$name" "$workers" "$port"

    "$NGINX_BIN" -p "$DIR/$name/" -c nginx.conf -e logs/error.log \
        >"$DIR/$name/logs/stderr.log" 2>&1 &
    NGINX_PID[$name]=$!

    wait_http "$port" "${NGINX_PID[$name]}" \
        || { cat "$DIR/$name/logs/"*.log >&2; die "nginx $name did not start"; }
}


nginx_stop() {
    local name=$1 pid=${NGINX_PID[$1]:-}

    [ -n "$pid" ] || return 0
    kill -QUIT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "NGINX_PID[$name]"
}


worker_rss_kb() {
    local w rss=0 kb

    for w in $(ps --ppid "$1" -o pid=); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$w/status")
        rss=$((rss + kb))
    done

    echo "$rss"
}


# run_wrk SCRIPT PORT CONNS SECONDS [STOP_AFTER]
#   -> "requests rps p50 p99 errors p99_corrected": the latencies wrk
#      measured, then its p99 as it prints it (see wrk/lib.lua's done())
run_wrk() {
    local script=$1 port=$2 conns=$3 secs=$4 stop=${5:-0} threads out

    threads=$((conns < 2 ? conns : 2))
    [ "$stop" -gt 0 ] && threads=1
    NONCE=$((NONCE + 1))
    out="$DIR/wrk.out"

    BENCH_DATA="$DIR/data" BENCH_THREADS=$threads BENCH_NONCE="$$-$NONCE" \
    BENCH_STOP_AFTER=$stop BENCH_CONNECTIONS=$conns \
        wrk -t "$threads" -c "$conns" -d "${secs}s" --timeout 10s \
            -s "$BENCH/wrk/$script.lua" "http://127.0.0.1:$port" \
            >"$out" 2>&1 || { cat "$out" >&2; die "wrk $script failed"; }

    perl -ne '
        next unless /^BENCH_RESULT (.*)/;
        my %r = map { split /=/ } split / /, $1;
        printf "%d %.1f %d %d %d %d\n", $r{requests},
            $r{requests} / ($r{duration_us} / 1e6), $r{p50_us},
            $r{p99_us}, $r{non2xx} + $r{socket_errors},
            $r{p99_corrected_us};
        warn "bench: wrk\x27s histogram was not as expected: its "
           . "latencies are given with its correction\n"
            if $r{measured} < 0;
        warn "bench: $r{measured} latencies measured of $r{requests} "
           . "requests\n"
            if $r{measured} >= 0 && $r{measured} != $r{requests};
        $found = 1;
        END { exit($found ? 0 : 1) }' "$out" \
        || { cat "$out" >&2; die "wrk $script printed no result"; }
}


# run_pgbench ENDPOINT HOST CONNS SECONDS -> "txns tps p50 p99 errors"
#
# pgbench runs PG_WARMUP seconds more than asked and they are left out
# (tps from its per-second progress, latencies from the sampled
# per-transaction log): its clients connect, prepare (the \if trees 100 or
# 128 statements each) and warm their new backends within the run, which
# the module's pool did long before; a fresh backend here takes 2-3 s to
# reach its speed
run_pgbench() {
    local ep=$1 host=$2 conns=$3 secs=$4 threads out logs

    threads=$((conns < 2 ? conns : 2))
    out="$DIR/pgbench.out"
    logs="$DIR/pglog"
    rm -rf "$logs"
    mkdir -p "$logs"

    # generic plans from the first run, as the module's connections reach
    # after five: pgbench's \if trees prepare 100 or 128 copies of one
    # statement per client, which would otherwise each plan five times
    PGOPTIONS="-c plan_cache_mode=force_generic_plan" \
    pgbench -n -M prepared -h "$host" -p "$PG_PORT" -U invites \
        -c "$conns" -j "$threads" -T $((secs + PG_WARMUP)) -P 1 \
        -f "$DIR/pgbench/$ep.sql" "${PGB_DEFS[@]}" -D "nclients=$conns" \
        --log --sampling-rate="$PG_SAMPLING" --log-prefix="$logs/tx" \
        invites >"$out" 2>&1 || { cat "$out" >&2; die "pgbench $ep failed"; }

    perl -e '
        my ($warm, $out, @logs) = @ARGV;
        my ($txns, $failed, $secs, $warm_txns, @tps) = (0, 0, 0, 0);
        open my $fh, "<", $out or die;
        while (<$fh>) {
            $txns = $1 if /actually processed: (\d+)/;
            $failed = $1 if /number of failed transactions: (\d+)/;
            $secs = $1 if /^duration: (\d+) s/;
            next unless /^progress: ([\d.]+) s, ([\d.]+) tps/;
            if ($1 > $warm + 0.5) {
                push @tps, $2;
            } else {
                $warm_txns += $2;
            }
        }
        my $tps = 0;
        if (@tps) {
            $tps += $_ for @tps;
            $tps /= @tps;
        } else {
            # pgbench may end before printing its last progress line (short
            # runs): what was processed after the warm-up seconds instead
            $secs > $warm && $txns > $warm_txns or exit 1;
            $tps = ($txns - $warm_txns) / ($secs - $warm);
        }
        my (@tx, $t0);
        for my $f (@logs) {
            open my $l, "<", $f or die;
            while (<$l>) {
                my ($lat, $s, $us) = (split)[2, 4, 5];
                my $end = $s + $us / 1e6;
                my $begin = $end - $lat / 1e6;
                $t0 = $begin if !defined $t0 || $begin < $t0;
                push @tx, [$end, $lat];
            }
        }
        my @lat = sort { $a <=> $b }
                  map { $_->[1] } grep { $_->[0] >= $t0 + $warm } @tx;
        my $pct = sub { @lat ? $lat[int($_[0] / 100 * $#lat + 0.5)] : 0 };
        printf "%d %.1f %d %d %d\n", $txns, $tps, $pct->(50), $pct->(99),
            $failed;
    ' "$PG_WARMUP" "$out" "$logs"/tx* || { cat "$out" >&2; die "pgbench $ep: no result"; }
}


record() {
    printf '%s\n' "$*" | tr ' ' '\t' >>"$DIR/results.tsv"
}


point_log() {
    log "$(awk -v rep="$1" -v c="$2" -v ep="$3" -v who="$4" -v rps="$5" \
        -v p50="$6" -v p99="$7" -v err="${8:-}" 'BEGIN {
        printf "rep %s  c=%-3s %-14s %-11s %9.0f /s  p50 %7.2f ms  p99 %7.2f ms%s",
            rep, c, ep, who, rps, p50 / 1000, p99 / 1000,
            (err != "" ? "  errors " err : "") }')"
}


# keep REP KIND EP WORKERS CONNS WHO N RPS P50 P99 ERRORS: one point, for
# the report and the log
keep() {
    local rep=$1 kind=$2 ep=$3 w=$4 c=$5 who=$6 n=$7 rps=$8 p50=$9 \
          p99=${10} err=${11} p99c=${12:--}

    record "$rep $kind $ep $w $c $rps $p50 $p99 $err $p99c"
    point_log "$rep" "$c" "$ep" "$who" "$rps" "$p50" "$p99" "${err#0}"
    case "$ep" in
        delete|redeem|revoke) note_exhausted "$ep" "$who" "$c" "$rep" "$n" ;;
    esac
}


measure() {
    local rep c ep w n rps p50 p99 err p99c kind kinds host script per

    : >"$DIR/results.tsv"
    : >"$DIR/notes.txt"

    for rep in $(seq "$REPS"); do
        for c in $CONNS; do
            for w in $WORKERS; do
                read -r n rps p50 p99 err p99c \
                    < <(run_wrk static "${HTTP_PORT[w$w]}" "$c" "$SECS")
                keep "$rep" static static "$w" "$c" "nginx w$w" \
                     "$n" "$rps" "$p50" "$p99" "$err" "$p99c"
            done

            for ep in $ENDPOINTS; do
                for w in $WORKERS; do
                    refill "$ep" module
                    read -r n rps p50 p99 err p99c \
                        < <(run_wrk "$ep" "${HTTP_PORT[w$w]}" "$c" "$SECS")
                    keep "$rep" module "$ep" "$w" "$c" "module w$w" \
                         "$n" "$rps" "$p50" "$p99" "$err" "$p99c"
                done

                kinds="pg_tcp pg_unix"
                if [ "$PGB_PIPE" -gt 0 ] \
                   && [[ " read_code read_id list " == *" $ep "* ]]
                then
                    kinds="$kinds pg_pipe"
                fi

                for kind in $kinds; do
                    host=$(pg_host "${kind#pg_}")
                    refill "$ep" pgbench

                    # pipelined: reads per second, latencies of a whole batch
                    script=$ep
                    per=1
                    if [ "$kind" = pg_pipe ]; then
                        script="$ep.pipe"
                        per=$PGB_PIPE
                    fi

                    read -r n rps p50 p99 err \
                        < <(run_pgbench "$script" "$host" "$c" "$SECS")
                    n=$((n * per))
                    rps=$(awk -v r="$rps" -v k="$per" \
                              'BEGIN { printf "%.1f", r * k }')

                    keep "$rep" "$kind" "$ep" - "$c" "$kind" \
                         "$n" "$rps" "$p50" "$p99" "$err"
                done
            done
        done
    done
}


# callgrind_Ir FILE: the instructions a dump counted
callgrind_ir() {
    awk '/^(summary|totals):/ { print $2; exit }' "$1"
}


# One nginx, single process, under callgrind; per endpoint: warm up (the
# pool connects), zero the counters, send CG_REQUESTS requests one after
# another on one keep-alive connection, dump.  The startup and the
# connecting are thereby left out exactly.
measure_callgrind() {
    local name=cg port ep d="$DIR/cg" before after file ir n

    port=$(free_port 18200)
    mkdir -p "$d"
    nginx_conf "$name" 1 "$port" single

    valgrind --tool=callgrind --callgrind-out-file="$d/callgrind.out" \
        --dump-instr=no --vgdb=yes \
        "$NGINX_BIN" -p "$DIR/$name/" -c nginx.conf -e logs/error.log \
        >"$d/valgrind.log" 2>&1 &
    VG_PID=$!

    wait_http "$port" "$VG_PID" \
        || { cat "$d/valgrind.log" >&2; die "nginx under callgrind did not start"; }

    : >"$DIR/callgrind.tsv"

    for ep in static $ENDPOINTS; do
        refill "$ep" module
        run_wrk "$ep" "$port" 1 600 "$CG_WARMUP" >/dev/null
        # the measured run starts again at its pool's first row, which the
        # warm-up took: put it back
        refill "$ep" module
        callgrind_control -z "$VG_PID" >/dev/null 2>&1
        read -r n _ _ _ _ < <(run_wrk "$ep" "$port" 1 600 "$CG_REQUESTS")

        before=$(ls "$d" | grep -c '^callgrind.out' || true)
        callgrind_control -d "$ep" "$VG_PID" >/dev/null 2>&1
        for _ in $(seq 100); do
            after=$(ls "$d" | grep -c '^callgrind.out' || true)
            [ "$after" -gt "$before" ] && break
            sleep 0.1
        done
        file=$(ls -t "$d"/callgrind.out* | head -1)
        ir=$(callgrind_ir "$file")
        printf '%s\t%s\t%s\n' "$ep" "$n" "$ir" >>"$DIR/callgrind.tsv"
        log "callgrind $ep: $n requests, $((ir / n)) instructions each"
    done

    kill -QUIT "$VG_PID"
    wait "$VG_PID" || true
    VG_PID=""
}


# perf_shares FILE: "command share% kernel-share%" lines of a system-wide
# perf.data
perf_shares() {
    perf report -i "$1" --sort comm,dso --stdio -q 2>/dev/null \
        | awk '$1 ~ /%$/ {
                   sub(/%/, "", $1)
                   all[$2] += $1
                   if ($3 == "[kernel.kallsyms]") kernel[$2] += $1
               }
               END {
                   for (c in all) printf "%s\t%.2f\t%.2f\n", c, all[c], kernel[c]
               }'
}


# Where the CPU goes: perf's cpu-clock software event, sampled on all CPUs
# while Read by code runs at the largest client count, once through a
# one-worker nginx and once as pgbench over the module's transport.  Shares
# per command.
measure_perf() {
    local c ep=read_code who rps delay recorder host

    c=${CONNS##* }
    host=$(pg_host "$DB_TRANSPORT")
    nginx_start perf 1
    run_wrk "$ep" "${HTTP_PORT[perf]}" "$c" 1 >/dev/null

    : >"$DIR/perf.tsv"

    for who in module pgbench; do
        # pgbench's first PG_WARMUP seconds are left out, as in its points
        delay=0
        [ "$who" = pgbench ] && delay=$PG_WARMUP
        (sleep "$delay"
         exec perf record -q -e cpu-clock -a -o "$DIR/perf-$who.data" \
             -- sleep "$SECS" >/dev/null 2>&1) &
        recorder=$!

        if [ "$who" = module ]; then
            read -r _ rps _ _ _ \
                < <(run_wrk "$ep" "${HTTP_PORT[perf]}" "$c" "$SECS")
        else
            read -r _ rps _ _ _ \
                < <(run_pgbench "$ep" "$host" "$c" "$SECS")
        fi

        wait "$recorder" || die "perf record failed"
        printf '%s\t%s\t%s\t%s\n' "$who" "$ep" "$c" "$rps" \
            >>"$DIR/perf-rate.tsv"
        perf_shares "$DIR/perf-$who.data" \
            | sed "s/^/$who\t/" >>"$DIR/perf.tsv"
        log "perf $who: $(awk -F'\t' -v w="$who" '$1 == w && $3 >= 0.5 { printf "%s %s%%  ", $2, $3 }' "$DIR/perf.tsv")"
    done

    nginx_stop perf
}


# a fresh single-worker nginx: RSS at start, after RSS_FIRST requests of
# every kind, after RSS_REQUESTS in all
measure_rss() {
    local pid port first rest

    nginx_start rss 1
    pid=${NGINX_PID[rss]}
    port=${HTTP_PORT[rss]}

    : >"$DIR/rss.tsv"
    printf 'start\t0\t%s\n' "$(worker_rss_kb "$pid")" >>"$DIR/rss.tsv"

    read -r first _ < <(run_wrk mix "$port" 16 3600 "$RSS_FIRST")
    printf 'first\t%s\t%s\n' "$first" "$(worker_rss_kb "$pid")" \
        >>"$DIR/rss.tsv"

    rest=0
    if [ "$RSS_REQUESTS" -gt "$first" ]; then
        read -r rest _ < <(run_wrk mix "$port" 16 3600 \
                               $((RSS_REQUESTS - first)))
    fi
    printf 'all\t%s\t%s\n' "$((first + rest))" "$(worker_rss_kb "$pid")" \
        >>"$DIR/rss.tsv"
    log "RSS: $(tr '\t\n' ' ;' <"$DIR/rss.tsv")"

    nginx_stop rss
}


machine() {
    {
        printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
        printf 'cores\t%s\n' "$(nproc)"
        printf 'memory\t%s\n' "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
        printf 'kernel\t%s\n' "$(uname -sr)"
        printf 'os\t%s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")"
        printf 'nginx\t%s\n' "$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')"
        printf 'postgres\t%s\n' "$("$PG_BIN/postgres" --version)"
        printf 'pgbench\t%s\n' "$(pgbench --version)"
        printf 'wrk\t%s\n' "$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
        printf 'valgrind\t%s\n' "$(valgrind --version)"
        printf 'module\t%s\n' "$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && git diff --quiet HEAD -- ngx_http_invites_module 2>/dev/null || echo ' (modified)')"
        printf 'seconds\t%s\n' "$SECS"
        printf 'reps\t%s\n' "$REPS"
        printf 'conns\t%s\n' "$CONNS"
        printf 'workers\t%s\n' "$WORKERS"
        printf 'db_pool\t%s\n' "$DB_POOL"
        printf 'pipeline\t%s\n' "$PIPELINE"
        printf 'db_transport\t%s\n' "$DB_TRANSPORT"
        printf 'pgbench_pipeline\t%s\n' "$PGB_PIPE"
        printf 'read_ids\t%s\n' "$READ_IDS"
        printf 'pool\t%s\n' "$POOL"
        printf 'fields\t%s\n' "$FIELDS"
        printf 'cg_requests\t%s\n' "$CG_REQUESTS"
        printf 'rss_requests\t%s\n' "$RSS_REQUESTS"
        printf 'pg_warmup\t%s\n' "$PG_WARMUP"
        printf 'smoke\t%s\n' "$SMOKE"
        printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$DIR/machine.tsv"
}


main() {
    local points pgpoints pipes w start

    start=$(date +%s)
    need_tools
    [ -f "$MODULE" ] || die "no $MODULE: run ./build.sh first"

    DIR=$(mktemp -d /tmp/invites-bench.XXXXXX)
    chmod 755 "$DIR"
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    # the module as it is now, whatever rebuilds happen meanwhile
    cp "$MODULE" "$DIR/module.so"
    MODULE="$DIR/module.so"

    # pgbench points take a second more, see run_pgbench
    points=$(( REPS * $(wc -w <<<"$CONNS") * ( $(wc -w <<<"$WORKERS")
               + $(wc -w <<<"$ENDPOINTS") * ($(wc -w <<<"$WORKERS") + 2) ) ))
    pipes=0
    if [ "$PGB_PIPE" -gt 0 ]; then
        pipes=$(wc -w < <(grep -owE 'read_code|read_id|list' <<<"$ENDPOINTS"))
    fi
    points=$(( points + REPS * $(wc -w <<<"$CONNS") * pipes ))
    pgpoints=$(( REPS * $(wc -w <<<"$CONNS")
                 * ($(wc -w <<<"$ENDPOINTS") * 2 + pipes) * PG_WARMUP ))
    has_part throughput \
        && log "$points points of ${SECS}s: about" \
               "$(( (points * SECS + pgpoints) / 60 + 1 )) min of measuring"
    log "parts: $PARTS"

    pg_setup
    seed
    pgbench_scripts
    pgbench_null_check
    machine

    if has_part throughput; then
        for w in $WORKERS; do
            nginx_start "w$w" "$w"
            # open every pooled connection before the first point
            run_wrk read_code "${HTTP_PORT[w$w]}" 64 1 >/dev/null
        done

        measure

        for w in $WORKERS; do
            nginx_stop "w$w"
        done
    fi

    if has_part callgrind; then
        measure_callgrind
    fi
    if has_part rss; then
        measure_rss
    fi
    if has_part perf; then
        measure_perf
    fi

    printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" \
        >>"$DIR/machine.tsv"
    perl "$BENCH/report.pl" "$DIR" >"$DIR/RESULTS.md"
    cat "$DIR/RESULTS.md"
    if [ -n "$OUT" ]; then
        cp "$DIR/RESULTS.md" "$OUT"
        log "wrote $OUT"
    fi
    log "done in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
}


main
