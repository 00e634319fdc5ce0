#!/usr/bin/env bash
#
# t/fuzz/run.sh [SECONDS]: build the libFuzzer targets (clang, from
# Debian's packages) and run each for SECONDS (default 60), both at once.
#
#   build/fuzz/fuzz_parse, build/fuzz/fuzz_write   the targets
#   build/fuzz/corpus/{parse,write}/               what the fuzzers found,
#                                                  kept between runs
#   build/fuzz/{parse,write}.log                   libFuzzer's output
#   build/fuzz/{parse,write}-crash-*             a crashing input
#
# The seeds in t/fuzz/corpus/ are read, never written. Fails when a target
# crashes or breaks an invariant; copy the *-crash-* file into
# t/fuzz/corpus/<target>/ so that t/016-fuzz-regress.t replays it.
#
# FUZZ_TARGETS="parse write" picks targets; FUZZ_MAX_LEN (default 4096)
# bounds an input.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT="$ROOT/build/fuzz"
SECS=${1:-60}
TARGETS=${FUZZ_TARGETS:-parse write}
MAX_LEN=${FUZZ_MAX_LEN:-4096}
CC=${FUZZ_CC:-clang}

log() { printf '%s\n' "fuzz: $*" >&2; }
die() { log "$*"; exit 1; }

[[ "$SECS" =~ ^[0-9]+$ ]] || die "usage: $0 [SECONDS]"
command -v "$CC" >/dev/null \
    || die "no $CC: apt-get install clang libclang-rt-14-dev"

mkdir -p "$OUT"

# shellcheck source=t/tools/nginx-inc.sh
. "$ROOT/t/tools/nginx-inc.sh"
nginx_inc "$OUT/inc"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in $TARGETS; do
    log "building fuzz_$t"
    "$CC" -g -O1 -Wall -Wextra -Wno-unused-parameter -Werror \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        "${NGINX_INC[@]}" -I"$ROOT/ngx_http_invites_module" \
        -I"$ROOT/t/fuzz" \
        "$ROOT/t/fuzz/fuzz_$t.c" \
        "$ROOT/ngx_http_invites_module/ngx_http_invites_json.c" \
        "$ROOT/ngx_http_invites_module/ngx_http_invites_errors.c" \
        "$ROOT/ngx_http_invites_module/ngx_http_invites_fields.c" \
        -lyajl -o "$OUT/fuzz_$t"
done

for t in $TARGETS; do
    mkdir -p "$OUT/corpus/$t"
    dict=()
    [ "$t" = parse ] && dict=(-dict="$ROOT/t/fuzz/json.dict")

    log "running fuzz_$t for ${SECS}s (log: $OUT/$t.log)"
    (
        cd "$OUT"
        exec "./fuzz_$t" -max_total_time="$SECS" -max_len="$MAX_LEN" \
            -timeout=10 -print_final_stats=1 "${dict[@]}" \
            -artifact_prefix="$OUT/$t-" \
            "$OUT/corpus/$t" "$ROOT/t/fuzz/corpus/$t"
    ) >"$OUT/$t.log" 2>&1 &
    pids+=("$!")
done

failed=0
i=0
for t in $TARGETS; do
    if ! wait "${pids[$i]}"; then
        failed=1
        log "fuzz_$t FAILED:"
        grep -E 'ERROR|invariant|SUMMARY|^artifact|Test unit written' \
            "$OUT/$t.log" >&2 || tail -30 "$OUT/$t.log" >&2
        # the input itself, so that a CI log alone reproduces it
        for a in "$OUT/$t"-*; do
            [ -f "$a" ] || continue
            log "input $a:"
            od -An -c "$a" | head -n 40 >&2
        done
    fi
    i=$((i + 1))

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log")
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' \
        "$OUT/$t.log")
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9/]+[a-zA-Z]*' \
        "$OUT/$t.log" | tail -1)
    log "fuzz_$t: ${execs:-?} executions in ${secs:-?}s; $cov;" \
        "corpus $(find "$OUT/corpus/$t" -type f | wc -l) files"
done
pids=()

[ "$failed" -eq 0 ] || die "a target crashed; *-crash-* inputs are in $OUT"
log "no crash"
