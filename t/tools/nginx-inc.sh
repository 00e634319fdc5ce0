# shellcheck shell=bash
#
# nginx_inc DIR: sets NGINX_INC to the -I flags that compile the module's
# sources outside nginx's own build (fuzz targets, unit tests, lint).
#
# Headers come from the nginx source tree ($NGINX_SRC, as in build.sh) and
# the two generated ones from build/nginx/objs, copied into DIR: build.sh
# may be re-creating build/nginx at the same moment (it rm -rf's and copies
# it on a reconfigure), so the copy is retried and then kept stable in DIR.

nginx_inc() {
    local dir=$1 root src objs try d

    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    src=${NGINX_SRC:-/usr/share/nginx/src}
    objs="$root/build/nginx/objs"

    [ -d "$src/src/core" ] || { echo "no nginx source at $src" >&2; return 1; }

    mkdir -p "$dir"

    for try in 1 2 3 4 5 6 7 8 9 10; do
        if [ -s "$objs/ngx_auto_config.h" ] \
            && [ -s "$objs/ngx_auto_headers.h" ] \
            && cp "$objs/ngx_auto_config.h" "$objs/ngx_auto_headers.h" \
                "$dir/" 2>/dev/null \
            && grep -q NGX_CONFIGURE "$dir/ngx_auto_config.h"
        then
            break
        fi

        if [ "$try" -eq 10 ]; then
            if [ -s "$dir/ngx_auto_config.h" ]; then
                break   # a copy from an earlier run
            fi
            echo "no $objs/ngx_auto_config.h: run ./build.sh first" >&2
            return 1
        fi

        sleep 1
    done

    NGINX_INC=("-I$dir")
    for d in core event event/modules os/unix http http/modules http/v2; do
        NGINX_INC+=("-I$src/src/$d")
    done

    # libpq's headers, for the files that include them
    NGINX_INC+=("-I$(pg_config --includedir 2>/dev/null \
        || echo /usr/include/postgresql)")
}
