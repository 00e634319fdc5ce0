# shellcheck shell=bash
#
# Sourced by build.sh for `./build.sh test --asan` and `--valgrind`:
# memcheck_test MODE [prove args] runs the suite with nginx under a memory
# checker and fails on any report (t/lib/Invites/Test.pm checks the report
# directory each time it stops nginx). Uses build.sh's ROOT, BUILD,
# NGINX_SRC, log and die.
#
#   asan      the module built with gcc -fsanitize=address,undefined
#             (build/asan/, a separate configure: the normal build is not
#             touched), loaded into Debian's nginx with libasan preloaded;
#             ASan, LeakSanitizer and UBSan log into build/memcheck-asan/.
#   valgrind  Debian's nginx and the normal module under valgrind memcheck
#             (master and workers: valgrind follows fork), logs in
#             build/memcheck-valgrind/vg.<pid>; a report is any error:
#             invalid read/write, uninitialised value, definite leak.
#             Client and harness waits are stretched by TEST_INVITES_SLOW
#             (default 4).
#
# Both use Debian's /usr/sbin/nginx, whose pool allocator hides errors inside
# pools from both checkers: an overrun of a ngx_palloc()'ed buffer that stays
# inside the pool block is not seen.

MEMCHECK_SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"


# the ASan module, in its own build directory
memcheck_build_asan() {
    build_in "$BUILD/asan" "-g -O1 $MEMCHECK_SAN_FLAGS" "$MEMCHECK_SAN_FLAGS"
}


memcheck_test() {
    local mode=$1 dir rc=0 t0 secs procs reports
    shift

    dir=$(realpath -m "${MEMCHECK_DIR:-$BUILD/memcheck-$mode}")
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 1777 "$dir"       # workers run as nobody

    case "$mode" in
    asan)
        # t/tools/lsan.supp hides leaks under these two nginx functions
        if grep -nE '\<ngx_(alloc|create_pool)\>' \
            "$ROOT"/ngx_http_invites_module/*.c >&2; then
            die "the module calls ngx_alloc/ngx_create_pool: revisit" \
                "t/tools/lsan.supp before trusting --asan's leak check"
        fi

        memcheck_build_asan
        export TEST_INVITES_MODULE="$BUILD/asan/ngx_http_invites_module.so"
        TEST_NGINX_PRELOAD=$(gcc -print-file-name=libasan.so)
        export TEST_NGINX_PRELOAD
        export ASAN_OPTIONS="log_path=$dir/asan:detect_leaks=1:exitcode=86:detect_odr_violation=0:fast_unwind_on_malloc=0"
        export LSAN_OPTIONS="suppressions=$ROOT/t/tools/lsan.supp:print_suppressions=0"
        export UBSAN_OPTIONS="log_path=$dir/ubsan:print_stacktrace=1"
        ;;

    valgrind)
        command -v valgrind >/dev/null || die "apt-get install valgrind"
        export TEST_NGINX_WRAPPER="valgrind --tool=memcheck --log-file=$dir/vg.%p
            --error-exitcode=86 --leak-check=full --show-leak-kinds=definite
            --errors-for-leak-kinds=definite --track-origins=yes
            --num-callers=30 --suppressions=$ROOT/t/tools/valgrind.supp"
        export TEST_INVITES_SLOW=${TEST_INVITES_SLOW:-4}
        ;;

    *)
        die "memcheck_test: unknown mode $mode"
        ;;
    esac

    export TEST_INVITES_REPORT_DIR="$dir"

    t0=$(date +%s)

    if [ "$#" -gt 0 ]; then
        prove "$@" || rc=$?
    else
        prove -r t/ || rc=$?
    fi

    secs=$(( $(date +%s) - t0 ))
    procs=$(find "$dir" -type f -name 'vg.*' | wc -l)
    # grep finds nothing when all is well: not a failure under pipefail
    reports=$( (grep -rlE 'ERROR SUMMARY: [1-9]|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' \
        "$dir" 2>/dev/null || true) | wc -l)

    log "test --$mode: ${secs}s, $reports report file(s) in $dir" \
        "$([ "$mode" = valgrind ] && echo "($procs nginx processes checked)")"

    [ "$reports" -eq 0 ] || rc=1
    return "$rc"
}
