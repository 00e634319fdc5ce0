#!/usr/bin/env bash
#
# build.sh: the one entry point for ngx_http_invites_module.
#
#   ./build.sh            build build/ngx_http_invites_module.so
#   ./build.sh run        install what is missing, build, start PostgreSQL
#                         and nginx on 127.0.0.1:8080; Ctrl-C stops both
#   ./build.sh stop       stop what "run" started (from another terminal)
#   ./build.sh test [..]  build and run the test suite (prove -r t/, or
#                         the .t files given); --asan or --valgrind
#                         first: nginx under a memory checker
#                         (t/tools/memcheck.sh); --nginx=VERSION first:
#                         with that nginx, built from ../shared/vendor/
#   ./build.sh fuzz [SECS] run each libFuzzer target SECS (60) seconds
#                         (t/fuzz/run.sh)
#   ./build.sh lint       cppcheck and clang-tidy (t/tools/lint.sh)
#   ./build.sh migrate    apply the migrations of sql/ that are missing
#                         (bin/invites-migrate), to the database of "run"
#                         or to INVITES_DB=<conninfo>
#   ./build.sh key create TENANT [LABEL] | list [TENANT] | revoke ID
#                         manage API keys, in the database of "run" or
#                         in INVITES_DB=<conninfo>
#   ./build.sh deb        build/libnginx-mod-http-invites_<version>_<arch>.deb,
#                         built as Debian builds its nginx modules
#                         (debian/, dh-sequence-nginx) in build/deb/
#
# NGINX_SRC=<path> builds against another nginx instead of the source tree
# Debian's nginx-dev ships in /usr/share/nginx/src: a release tarball, an
# unpacked release (configure at its top) or a git checkout (auto/configure).
#
# test --nginx=VERSION builds nginx VERSION itself, with the module, from
# ../shared/vendor/nginx-VERSION.tar.gz (INVITES_VENDOR=<dir> elsewhere)
# under build/nginx-VERSION/, and runs the suite with that nginx.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD="$ROOT/build"
RUN="$ROOT/.run"
NGINX_SRC=${NGINX_SRC:-/usr/share/nginx/src}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
RUN_PG_PORT=${INVITES_PG_PORT:-5433}
RUN_HTTP_PORT=${INVITES_HTTP_PORT:-8080}
VENDOR=${INVITES_VENDOR:-$ROOT/../shared/vendor}

# what an nginx of our own is configured with: what the suite needs
OWN_NGINX_FLAGS=(--with-compat --with-http_ssl_module)
DEB_PACKAGE=libnginx-mod-http-invites
# what the package is built from: copied to build/deb/, so the tree stays clean
DEB_SOURCES=(config ngx_http_invites_module sql bin debian
             README.md SECURITY.md LICENSE CHANGELOG.md)

PACKAGES=(
    gcc make libc6-dev procps perl
    nginx nginx-dev libyajl-dev libpq-dev libssl-dev
    postgresql postgresql-client
    libtest-base-perl libtest-deep-perl libtest-longstring-perl
    libdbd-pg-perl curl
)

log() { printf '%s\n' "build.sh: $*" >&2; }
die() { log "$*"; exit 1; }


# install_deps [PACKAGE...]: the project's packages, and these, if missing
install_deps() {
    local missing=() p

    for p in "${PACKAGES[@]}" "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
                | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done

    [ "${#missing[@]}" -eq 0 ] && return 0

    if [ "$(id -u)" -ne 0 ]; then
        die "missing packages: ${missing[*]}; run as root or:" \
            "apt-get install ${missing[*]}"
    fi

    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

    # Debian starts the packaged services; this project runs its own
    # (the tests start Prometheus themselves, on a free loopback port)
    if command -v service >/dev/null; then
        service nginx stop >/dev/null 2>&1 || true
        service prometheus stop >/dev/null 2>&1 || true
    fi

    if command -v systemctl >/dev/null \
        && dpkg-query -W prometheus >/dev/null 2>&1; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
}


# configure once per source tree and config change, then "make modules"
build() {
    build_in "$BUILD" "" ""
}


# nginx_copy SRC DEST: DEST holds the nginx tree of SRC, a release tarball,
# an unpacked release or a git checkout
nginx_copy() {
    local src=$1 dest=$2

    rm -rf "$dest"
    mkdir -p "$dest"

    if [ -f "$src" ]; then
        tar -xf "$src" -C "$dest" --strip-components=1 \
            || die "cannot unpack $src"
    else
        cp -a "$src/." "$dest/"
    fi

    [ -f "$dest/configure" ] || [ -f "$dest/auto/configure" ] \
        || die "no nginx source tree in $src (no configure, no" \
               "auto/configure)"
}


# build_in DIR CC_OPT LD_OPT [nginx]: the module built in DIR (its own copy
# of the nginx tree, configured with these extra flags) as DIR/<module>.so;
# with "nginx", that nginx too, configured as OWN_NGINX_FLAGS, as DIR/nginx/
# objs/nginx
build_in() {
    local dir=$1 cc_opt=$2 ld_opt=$3 what=${4:-modules} src="$1/nginx"
    local stamp flags=() configure=./configure

    mkdir -p "$dir"
    [ -e "$NGINX_SRC" ] \
        || die "no nginx source at $NGINX_SRC (install nginx-dev)"

    stamp="$NGINX_SRC $what $cc_opt $ld_opt"
    stamp+=" $(sha1sum "$ROOT/config" | cut -d' ' -f1)"

    if [ ! -f "$src/objs/Makefile" ] \
        || [ "$(cat "$dir/.configured" 2>/dev/null)" != "$stamp" ]; then
        nginx_copy "$NGINX_SRC" "$src"

        if [ "$what" = nginx ]; then
            flags=("${OWN_NGINX_FLAGS[@]}")
        elif [ -f "$src/conf_flags" ]; then
            # the flags Debian's nginx was configured with
            # shellcheck disable=SC1091
            . "$src/conf_flags"
            flags=("${NGX_CONF_FLAGS[@]}")
        else
            flags=(--with-compat)
        fi

        [ -n "$cc_opt" ] && flags+=(--with-cc-opt="$cc_opt")
        [ -n "$ld_opt" ] && flags+=(--with-ld-opt="$ld_opt")

        # a git checkout keeps configure in auto/
        [ -f "$src/configure" ] || configure=auto/configure

        log "configuring $dir against $NGINX_SRC"
        if ! (cd "$src" && "$configure" "${flags[@]}" \
                --add-dynamic-module="$ROOT" >"$dir/configure.log" 2>&1)
        then
            tail -20 "$dir/configure.log" >&2
            die "configure failed, see $dir/configure.log"
        fi

        printf '%s' "$stamp" >"$dir/.configured"
    fi

    [ "$what" = nginx ] && what=""
    # shellcheck disable=SC2086
    make -s -C "$src" -f objs/Makefile $what >"$dir/make.log" 2>&1 || {
        cat "$dir/make.log" >&2
        die "the module did not compile"
    }

    if grep -q 'warning:' "$dir/make.log"; then
        cat "$dir/make.log" >&2
        die "the compiler warned"
    fi

    # a new inode: a running nginx keeps the module it mapped
    cp "$src/objs/ngx_http_invites_module.so" "$dir/.module.so.new"
    mv -f "$dir/.module.so.new" "$dir/ngx_http_invites_module.so"
    log "built $dir/ngx_http_invites_module.so"
}


pg_bindir() {
    local d
    d=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$d/initdb" ] && { echo "$d"; return; }
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$d/initdb" ] || die "PostgreSQL server binaries not found"
    echo "$d"
}


# runs a command as the PostgreSQL user: postgres when we are root
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}


# pg_init DIR: a new cluster in DIR/data, owned by the PostgreSQL user
pg_init() {
    local dir=$1 bin
    bin=$(pg_bindir)

    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"

    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
}


# pg_start DIR PORT
pg_start() {
    local dir=$1 port=$2 bin
    bin=$(pg_bindir)

    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null \
        || { tail -20 "$dir/server.log" >&2; die "PostgreSQL did not start"; }
}


pg_stop() {
    local dir=$1 bin
    bin=$(pg_bindir)

    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 \
            || true
    fi
}


# pg_schema DIR PORT: the invites role and database, then the migrations
# they lack (bin/invites-migrate)
pg_schema() {
    local dir=$1 port=$2

    pg_database "$dir" "$port"

    INVITES_DB="host=$dir port=$port dbname=invites user=invites" \
        "$ROOT/bin/invites-migrate" >&2
}


# pg_database DIR PORT: the invites role and database, if missing
pg_database() {
    local dir=$1 port=$2

    psql -qX -h "$dir" -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 >/dev/null <<'EOF'
SELECT 'CREATE ROLE invites LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'invites')
\gexec
SELECT 'CREATE DATABASE invites OWNER invites'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'invites')
\gexec
EOF
}


# the run directory must be reachable by the postgres user
run_dir() {
    if [ "$(id -u)" -eq 0 ] \
        && ! runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
        chmod o+x "$RUN"
        runuser -u postgres -- test -x "$RUN" 2>/dev/null \
            || die "the postgres user cannot reach $RUN;" \
                   "clone the repository where other users can read it"
    fi
}


run_conf() {
    mkdir -p "$RUN/nginx/conf" "$RUN/nginx/logs" "$RUN/nginx/tmp"
    cat >"$RUN/nginx/conf/nginx.conf" <<EOF
load_module $BUILD/ngx_http_invites_module.so;

daemon off;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/logs/error.log info;
worker_processes 1;

events {
    worker_connections 1024;
}

http {
    access_log $RUN/nginx/logs/access.log;
    client_body_temp_path $RUN/nginx/tmp/body;
    proxy_temp_path $RUN/nginx/tmp/proxy;
    fastcgi_temp_path $RUN/nginx/tmp/fastcgi;
    uwsgi_temp_path $RUN/nginx/tmp/uwsgi;
    scgi_temp_path $RUN/nginx/tmp/scgi;

    invites_db "host=127.0.0.1 port=$RUN_PG_PORT dbname=invites user=invites";

    server {
        listen 127.0.0.1:$RUN_HTTP_PORT;

        location /invites/Invites/ {
            invites_api;
        }

        # m3o's public path, with API keys (./build.sh key create TENANT)
        location /v1/invites/ {
            invites_auth key;
            invites_api;
        }
    }
}
EOF
}


cmd_run() {
    local nginx_pid

    install_deps
    build

    mkdir -p "$RUN"
    run_dir

    [ -d "$RUN/pg/data" ] || pg_init "$RUN/pg"

    trap 'cmd_stop' EXIT
    trap 'exit 130' INT TERM

    pg_start "$RUN/pg" "$RUN_PG_PORT"
    pg_schema "$RUN/pg" "$RUN_PG_PORT"

    run_conf
    "$NGINX_BIN" -p "$RUN/nginx/" -c conf/nginx.conf -e logs/error.log -t \
        -q || die "the generated nginx configuration is invalid"

    "$NGINX_BIN" -p "$RUN/nginx/" -c conf/nginx.conf -e logs/error.log &
    nginx_pid=$!

    log "PostgreSQL on 127.0.0.1:$RUN_PG_PORT, nginx on" \
        "http://127.0.0.1:$RUN_HTTP_PORT/invites/Invites/ (Ctrl-C stops both)"
    log "try: curl -s http://127.0.0.1:$RUN_HTTP_PORT/invites/Invites/Create" \
        "-d '{\"group_id\":\"mygroup\",\"email\":\"john@doe.com\"}'"

    wait "$nginx_pid" || true
}


cmd_stop() {
    local pid

    if [ -f "$RUN/nginx/nginx.pid" ]; then
        pid=$(cat "$RUN/nginx/nginx.pid")
        kill -QUIT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi

    pg_stop "$RUN/pg"
}


TEST_TMP=""

# own_nginx VERSION: nginx VERSION from the vendor directory, with the
# module, built under build/nginx-VERSION; sets the suite's nginx and module
own_nginx() {
    local version=$1 tarball dir

    [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
        || die "--nginx takes a version such as 1.31.4, not '$version'"

    tarball="$VENDOR/nginx-$version.tar.gz"
    [ -f "$tarball" ] || die "no $tarball (set INVITES_VENDOR)"

    dir="$BUILD/nginx-$version"
    NGINX_SRC=$tarball build_in "$dir" "" "" nginx

    export TEST_NGINX_BINARY="$dir/nginx/objs/nginx"
    export TEST_INVITES_MODULE="$dir/ngx_http_invites_module.so"
    log "testing with $("$TEST_NGINX_BINARY" -v 2>&1)"
}


cmd_test() {
    local mode="" version=""

    case "${1:-}" in
    --nginx=*)  version=${1#--nginx=}; shift ;;
    esac

    # prometheus: promtool and a server for t/16N-metrics*.t
    case "${1:-}" in
    --asan)     mode=asan; shift; install_deps prometheus ;;
    --valgrind) mode=valgrind; shift; install_deps prometheus valgrind ;;
    *)          install_deps prometheus ;;
    esac

    if [ -n "$version" ]; then
        [ -z "$mode" ] || die "--nginx and --$mode do not go together yet"
        install_deps libpcre2-dev zlib1g-dev
        own_nginx "$version"
    fi

    build

    # one initdb per run; every .t file copies it for its own cluster
    TEST_TMP=$(mktemp -d /tmp/invites-test.XXXXXX)
    chmod 755 "$TEST_TMP"
    trap 'rm -rf "$TEST_TMP"' EXIT

    pg_init "$TEST_TMP/template"

    export TEST_INVITES_PG_TEMPLATE="$TEST_TMP/template"

    cd "$ROOT"
    if [ -n "$mode" ]; then
        # shellcheck source=t/tools/memcheck.sh
        . "$ROOT/t/tools/memcheck.sh"
        memcheck_test "$mode" "$@"
    elif [ "$#" -gt 0 ]; then
        prove "$@"
    else
        prove -r t/
    fi
}


# run_db: sets DB to INVITES_DB or to the database of "run", which is
# started for the time the command takes if it is not running
run_db() {
    DB=${INVITES_DB:-}
    [ -n "$DB" ] && return 0

    [ -d "$RUN/pg/data" ] \
        || die "no database yet: run ./build.sh run, or set INVITES_DB"

    if [ ! -f "$RUN/pg/data/postmaster.pid" ]; then
        pg_start "$RUN/pg" "$RUN_PG_PORT"
        trap 'pg_stop "$RUN/pg"; log "stopped the database again"' EXIT
    fi

    DB="host=$RUN/pg port=$RUN_PG_PORT dbname=invites user=invites"
}


# migrate: bin/invites-migrate on INVITES_DB, or on the database of "run"
cmd_migrate() {
    [ "$#" -eq 0 ] || die "usage: [INVITES_DB=<conninfo>] $0 migrate"

    run_db
    [ -n "${INVITES_DB:-}" ] || pg_database "$RUN/pg" "$RUN_PG_PORT"

    INVITES_DB=$DB "$ROOT/bin/invites-migrate"
}


# key SUB ARGS: API keys, through the SQL functions of sql/002_api_keys.sql
cmd_key() {
    local sub=${1:-} db

    [ "$#" -gt 0 ] && shift

    run_db
    db=$DB

    case "$sub" in
    create)
        [ "$#" -ge 1 ] && [ "$#" -le 2 ] \
            || die "usage: $0 key create TENANT [LABEL]"
        key_sql "$db" -v tenant="$1" -v label="${2:-}" \
            <<<"SELECT invites_key_create(:'tenant', :'label');"
        ;;
    list)
        [ "$#" -le 1 ] || die "usage: $0 key list [TENANT]"
        psql -X -v ON_ERROR_STOP=1 -P footer=off "$db" -v tenant="${1:-}" \
            <<<"SELECT id, tenant, label, created_at, revoked_at
                  FROM invites_keys
                 WHERE :'tenant' = '' OR tenant = :'tenant'
                 ORDER BY id;"
        ;;
    revoke)
        [ "$#" -eq 1 ] && [[ "$1" =~ ^[0-9]+$ ]] \
            || die "usage: $0 key revoke ID"
        if [ "$(key_sql "$db" -v id="$1" \
                <<<"SELECT invites_key_revoke(:'id'::bigint);")" = t ]; then
            echo "revoked key $1"
        else
            die "no active key $1"
        fi
        ;;
    *)
        die "usage: $0 key create TENANT [LABEL] | list [TENANT] | revoke ID"
        ;;
    esac

}


key_sql() {
    local db=$1
    shift
    psql -qtAX -v ON_ERROR_STOP=1 "$db" "$@"
}


# the package's version from debian/changelog; dies unless its upstream part
# is NGX_HTTP_INVITES_VERSION
deb_version() {
    local header=$ROOT/ngx_http_invites_module/ngx_http_invites_version.h
    local want have upstream

    want=$(sed -n 's/^#define NGX_HTTP_INVITES_VERSION  *"\([^"]*\)".*/\1/p' \
        "$header")
    [ -n "$want" ] || die "no NGX_HTTP_INVITES_VERSION in $header"

    have=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version) \
        || die "debian/changelog cannot be read"
    upstream=${have#*:}
    upstream=${upstream%-*}

    [ "$upstream" = "$want" ] \
        || die "ngx_http_invites_version.h says $want but debian/changelog" \
               "says $have: add a debian/changelog entry for $want-1"

    printf '%s\n' "$have"
}


# the nginx ABI of the installed nginx-dev must be the one debian/control
# builds against (dh_nginx makes the package depend on it)
deb_check_abi() {
    local subst=/usr/share/nginx/src/debian/libnginx-mod.abisubstvars abi

    abi=$(sed -n 's/^nginx:abi=//p' "$subst" 2>/dev/null)
    [ -n "$abi" ] || die "no nginx ABI in $subst (install nginx-dev)"

    grep -Eq "^[[:space:]]+$abi,?$" "$ROOT/debian/control" \
        || die "debian/control does not build against $abi, the ABI of" \
               "the installed nginx: update its Build-Depends"
}


# the package, unless build/ holds one built from the same sources against
# the same nginx-dev
cmd_deb() {
    local version upstream arch name dir stamp p

    install_deps build-essential debhelper dpkg-dev

    version=$(deb_version)
    deb_check_abi
    [ -x "$ROOT/bin/invites-migrate" ] \
        || die "bin/invites-migrate is missing or not executable;" \
               "the package ships it"

    arch=$(dpkg-architecture -qDEB_HOST_ARCH)
    name="${DEB_PACKAGE}_${version#*:}_$arch.deb"
    upstream=${version#*:}
    dir="$BUILD/deb/$DEB_PACKAGE-${upstream%-*}"

    stamp="$(dpkg-query -W -f='${Version}' nginx-dev)"
    stamp+=" $(cd "$ROOT" && tar -cf - --sort=name --mtime=@0 --owner=0 \
        --group=0 --numeric-owner "${DEB_SOURCES[@]}" | sha1sum | cut -d' ' -f1)"

    if [ -f "$BUILD/$name" ] \
        && [ "$(cat "$BUILD/deb/.built" 2>/dev/null)" = "$stamp" ]; then
        log "$BUILD/$name is up to date"
        return 0
    fi

    rm -rf "$BUILD/deb"
    mkdir -p "$dir"
    for p in "${DEB_SOURCES[@]}"; do
        cp -a "$ROOT/$p" "$dir/"
    done

    log "building $name in $BUILD/deb"
    (cd "$dir" && dpkg-buildpackage -b --no-sign) \
        >"$BUILD/deb/build.log" 2>&1 \
        || { tail -30 "$BUILD/deb/build.log" >&2
             die "dpkg-buildpackage failed, see $BUILD/deb/build.log"; }

    rm -f "$BUILD/${DEB_PACKAGE}"_*.deb
    cp "$BUILD/deb/$name" "$BUILD/$name"
    printf '%s' "$stamp" >"$BUILD/deb/.built"
    log "built $BUILD/$name"
}


case "${1:-build}" in
    build) install_deps; build ;;
    run)   cmd_run ;;
    stop)  cmd_stop ;;
    test)  shift; cmd_test "$@" ;;
    migrate) shift; cmd_migrate "$@" ;;
    key)   shift; cmd_key "$@" ;;
    fuzz)  shift; install_deps clang libclang-rt-14-dev; build
           "$ROOT/t/fuzz/run.sh" "$@" ;;
    lint)  install_deps cppcheck clang-tidy; build; "$ROOT/t/tools/lint.sh" ;;
    bench) shift; install_deps; build; "$ROOT/bench/run.sh" "$@" ;;
    deb)   cmd_deb ;;
    *)     die "usage: $0 [build|run|stop|test [--nginx=VERSION]" \
               "[--asan|--valgrind] [files...]|migrate|key ...|fuzz [SECONDS]" \
               "|lint|bench [--smoke]|deb]" ;;
esac
