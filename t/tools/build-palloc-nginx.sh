#!/usr/bin/env bash
#
# t/tools/build-palloc-nginx.sh NGINX_SOURCE_DIR: builds a whole nginx with
# NGX_DEBUG_PALLOC=1 (every ngx_palloc() is its own malloc(), so valgrind
# sees pool overruns and reads of freed pool memory) and Debian's configure
# flags, and the module against that very tree: the upstream tarball and
# Debian's patched headers differ (Debian adds ngx_connection_t.pipeline, a
# bit field that moves idle/close/reusable), so Debian's build of the module
# must not be loaded into it. nginx-dev ships headers only: pass a full
# source tree of the same version (the tarball, or `apt-get source nginx`).
# Prints "nginx-binary module.so":
#
#   read -r bin so < <(t/tools/build-palloc-nginx.sh /tmp/nginx-1.22.1)
#   TEST_NGINX_BINARY=$bin TEST_INVITES_MODULE=$so \
#       MEMCHECK_DIR=build/memcheck-palloc ./build.sh test --valgrind

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC=${1:?usage: $0 NGINX_SOURCE_DIR}
OUT="$ROOT/build/palloc"
FLAGS=${NGINX_CONF_FLAGS_FILE:-/usr/share/nginx/src/conf_flags}

[ -f "$SRC/src/core/nginx.c" ] || { echo "no nginx source in $SRC" >&2; exit 1; }

if [ ! -f "$OUT/nginx/objs/Makefile" ] \
    || ! grep -q invites "$OUT/nginx/objs/Makefile"; then
    rm -rf "$OUT/nginx"
    mkdir -p "$OUT"
    cp -a "$SRC/." "$OUT/nginx/"
    # shellcheck disable=SC1090
    . "$FLAGS"
    (cd "$OUT/nginx" \
        && ./configure "${NGX_CONF_FLAGS[@]}" \
            --with-cc-opt='-g -O1 -DNGX_DEBUG_PALLOC=1 -fno-omit-frame-pointer' \
            --add-dynamic-module="$ROOT" >"$OUT/configure.log" 2>&1) \
        || { tail -20 "$OUT/configure.log" >&2; exit 1; }
fi

make -C "$OUT/nginx" -f objs/Makefile binary modules >"$OUT/make.log" 2>&1 \
    || { tail -20 "$OUT/make.log" >&2; exit 1; }

echo "$OUT/nginx/objs/nginx $OUT/nginx/objs/ngx_http_invites_module.so"
