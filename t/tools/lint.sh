#!/usr/bin/env bash
#
# t/tools/lint.sh: cppcheck and clang-tidy (Debian's) on the module's C
# files, with the include paths of the module build. Exits non-zero on any
# finding not listed in t/tools/lint.supp. `./build.sh lint` runs it.
#
# Checks left out for the whole code base, and why (nginx's own idioms; the
# house style follows nginx):
#   cppcheck toomanyconfigs            information only: 12 #ifdef sets
#            variableScope             declarations at the top of a block
#            constParameter            handlers keep nginx's callback
#            constVariable             signatures and table types
#   clang-tidy misc-unused-parameters  the same callback signatures
#            bugprone-narrowing-conversions  ngx_int_t / ngx_uint_t / size_t
#                                      / off_t mix as in all of nginx
#            performance-no-int-to-ptr NGX_CONF_UNSET_PTR, NGX_CONF_ERROR
#            bugprone-reserved-identifier    _NGX_..._H_INCLUDED_ guards
#            bugprone-easily-swappable-parameters  style only
#            cert-dcl37-c, cert-dcl51-cpp        the same guards
#            clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling
#                                      memcpy/memset "use memcpy_s" (C11
#                                      Annex K, which glibc has not)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT="$ROOT/build/lint"
SUPP="$ROOT/t/tools/lint.supp"

log() { printf '%s\n' "lint: $*" >&2; }

for tool in cppcheck clang-tidy; do
    command -v "$tool" >/dev/null \
        || { log "no $tool: apt-get install cppcheck clang-tidy"; exit 1; }
done

mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=t/tools/nginx-inc.sh
. "$ROOT/t/tools/nginx-inc.sh"
nginx_inc "$OUT/inc"

cd "$ROOT"
srcs=(ngx_http_invites_module/*.c)
inc=("${NGINX_INC[@]}" -Ingx_http_invites_module)

# "<tool> <check> <file>: <message>" lines
log "cppcheck $(cppcheck --version)"
cppcheck -q --std=c99 --inline-suppr \
    --enable=warning,style,performance,portability \
    --suppress=missingIncludeSystem --suppress=toomanyconfigs \
    --suppress=variableScope \
    --suppress=constParameter --suppress=constVariable \
    --suppress="*:${NGINX_SRC:-/usr/share/nginx/src}/*" \
    --template='cppcheck {id} {file}:{line}: {severity}: {message}' \
    "${inc[@]}" "${srcs[@]}" 2>"$tmp/cppcheck.out" || true

checks='-*,clang-analyzer-*,bugprone-*,cert-*,misc-*,performance-*'
checks+=',portability-*,-bugprone-easily-swappable-parameters'
checks+=',-bugprone-reserved-identifier,-bugprone-narrowing-conversions'
checks+=',-cert-dcl37-c,-cert-dcl51-cpp,-misc-unused-parameters'
checks+=',-performance-no-int-to-ptr'
checks+=',-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling'

log "$(clang-tidy --version | grep -i version | head -1)"
clang-tidy -quiet --checks="$checks" "${srcs[@]}" -- "${inc[@]}" \
    >"$tmp/tidy.raw" 2>/dev/null || true
sed -n 's/^\(\/[^:]*\):\([0-9]*\):[0-9]*: \(warning\|error\): \(.*\) \[\([^]]*\)\]$/clang-tidy \5 \1:\2: \4/p' \
    "$tmp/tidy.raw" >"$tmp/tidy.out"

cat "$tmp/cppcheck.out" "$tmp/tidy.out" | grep -v '^$' >"$tmp/all" || true

# drop what lint.supp explains
found=0
suppressed=0
while IFS= read -r line || [ -n "$line" ]; do
    read -r tool check file _ <<<"$line"
    file=${file%%:*}
    msg=${line#*: }
    skip=0
    while read -r stool scheck sfile sre; do
        [ "$stool" = "$tool" ] && [ "$scheck" = "$check" ] \
            && [ "$(basename "$file")" = "$sfile" ] \
            && [[ "$msg" =~ $sre ]] && { skip=1; break; }
    done < <(grep -v '^\s*\(#\|$\)' "$SUPP")

    if [ "$skip" -eq 1 ]; then
        suppressed=$((suppressed + 1))
    else
        found=$((found + 1))
        printf '%s\n' "$line"
    fi
done <"$tmp/all"

cp "$tmp/all" "$OUT/findings.txt"
log "$found finding(s), $suppressed suppressed in t/tools/lint.supp" \
    "(all: $OUT/findings.txt; clang-tidy notes: $OUT/clang-tidy.txt)"
cp "$tmp/tidy.raw" "$OUT/clang-tidy.txt"

[ "$found" -eq 0 ]
