
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _FUZZ_UTIL_H_INCLUDED_
#define _FUZZ_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdio.h>
#include <stdlib.h>

#include "ngx_http_invites_json.h"


/*
 * Helpers shared by the fuzz targets.  A target's checks call
 * fuzz_fail(), which prints what broke and aborts: libFuzzer then keeps the
 * input as a crash, and the replay driver (t/fuzz/replay.c) fails.
 */


#define fuzz_check(cond, what)                                                \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fuzz_fail(__FILE__, __LINE__, what);                              \
        }                                                                     \
    } while (0)


static void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}


/*
 * Strict UTF-8 (RFC 3629), written independently of the module's own
 * validator so that the two check each other: no overlong forms, no
 * UTF-16 surrogates, nothing above U+10FFFF.
 */

static inline int
fuzz_utf8_valid(const u_char *p, size_t len)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; i += n + 1) {

        if (p[i] < 0x80) {
            n = 0;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 1;
            cp = p[i] & 0x1f;
            min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 2;
            cp = p[i] & 0x0f;
            min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 3;
            cp = p[i] & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (i + n >= len) {
            return 0;
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


#endif /* _FUZZ_UTIL_H_INCLUDED_ */
