
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


/*
 * libFuzzer target: arbitrary field values -> the response writers
 * (ngx_http_invites_json_invite, _list, _error).
 *
 * Input: byte 0 picks the writer (its low 2 bits: 0 or 3 invite, 1 list of
 * (b0 >> 2) % 4 invites, 2 error code b0 >> 2); bytes 1-8 are four
 * little-endian 16-bit lengths; the rest is cut into the four strings id,
 * group_id, email, code (a length past the end is clamped).  With bit 7 of
 * byte 0 (invites and lists), an invite's code string is also its
 * created_at column: whatever its bytes, the writer must show the time
 * that libc's gmtime_r() gives for them, as RFC 3339 allows it.
 *
 * A writer fails only when a value is not UTF-8; otherwise its output
 * is strict UTF-8, yajl_tree_parse accepts it, and a strict yajl parse gives
 * back exactly the keys and strings that went in, NULs included.
 *
 * yajl's writer, which the module used first, checked only the byte
 * structure of UTF-8, so overlong forms, surrogates and code points above
 * U+10FFFF passed through it until the module checked values itself (the
 * write/lax-utf8-* corpus files).
 */


#include "fuzz_util.h"

#include <string.h>
#include <time.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>


#define FUZZ_WRITE_MAX_TOKENS  64


typedef struct {
    size_t           n;
    ngx_str_t        tok[FUZZ_WRITE_MAX_TOKENS];
} fuzz_write_tokens_t;


static void fuzz_write_check(ngx_int_t rc, ngx_str_t *out,
    fuzz_write_tokens_t *want, int valid);
static void fuzz_write_tokens(const u_char *out, size_t len,
    fuzz_write_tokens_t *got);
static int fuzz_write_token(void *data, const u_char *s, size_t len);
static void fuzz_write_want(fuzz_write_tokens_t *t, const char *s);
static void fuzz_write_want_str(fuzz_write_tokens_t *t, ngx_str_t *s);
static void fuzz_write_error(ngx_http_invites_err_e err);
static void fuzz_write_time(ngx_str_t *column, char *buf);


static const yajl_callbacks  fuzz_write_callbacks = {
    NULL, NULL, NULL, NULL, NULL,
    fuzz_write_token,
    NULL,
    fuzz_write_token,
    NULL, NULL, NULL
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         valid, used;
    size_t                      i, off, len[4];
    ngx_uint_t                  n, k;
    ngx_int_t                   rc;
    ngx_str_t                   s[4], out;
    fuzz_write_tokens_t         want;
    char                        times[3][64];
    ngx_http_invites_invite_t   inv[3];

    if (size == 0) {
        return 0;
    }

    for (i = 0; i < 4; i++) {
        len[i] = (1 + 2 * i + 1 < size)
                 ? (size_t) data[1 + 2 * i] | (size_t) data[2 + 2 * i] << 8
                 : 0;
    }

    off = size < 9 ? size : 9;

    for (i = 0; i < 4; i++) {
        if (len[i] > size - off) {
            len[i] = size - off;
        }

        s[i].data = (u_char *) data + off;
        s[i].len = len[i];
        off += len[i];
    }

    if ((data[0] & 3) == 2) {
        fuzz_write_error((ngx_http_invites_err_e) (data[0] >> 2));
        return 0;
    }

    /* the invites of a list rotate the four strings */

    n = ((data[0] & 3) != 1) ? 1 : (ngx_uint_t) (data[0] >> 2) % 4;

    memset(inv, 0, sizeof(inv));

    for (k = 0; k < 3; k++) {
        if (data[0] & 0x80) {
            inv[k].value[NGX_HTTP_INVITES_F_CREATED_AT] = s[(k + 3) % 4];
            fuzz_write_time(&s[(k + 3) % 4], times[k]);
        }

        inv[k].value[NGX_HTTP_INVITES_F_ID] = s[k % 4];
        inv[k].value[NGX_HTTP_INVITES_F_GROUP_ID] = s[(k + 1) % 4];
        inv[k].value[NGX_HTTP_INVITES_F_EMAIL] = s[(k + 2) % 4];
        inv[k].value[NGX_HTTP_INVITES_F_CODE] = s[(k + 3) % 4];
    }

    used = (n > 0);
    valid = 1;

    for (i = 0; used && i < 4; i++) {
        valid &= fuzz_utf8_valid(s[i].data, s[i].len);
    }

    want.n = 0;

    if ((data[0] & 3) != 1) {
        rc = ngx_http_invites_json_invite(&inv[0], 0, NULL, &out);
        fuzz_write_want(&want, "invite");

    } else {
        rc = ngx_http_invites_json_list(inv, n, NULL, 0, NULL, &out);
        fuzz_write_want(&want, "invites");
    }

    for (k = 0; k < n; k++) {
        fuzz_write_want(&want, "id");
        fuzz_write_want_str(&want, &inv[k].value[NGX_HTTP_INVITES_F_ID]);
        fuzz_write_want(&want, "group_id");
        fuzz_write_want_str(&want, &inv[k].value[NGX_HTTP_INVITES_F_GROUP_ID]);
        fuzz_write_want(&want, "email");
        fuzz_write_want_str(&want, &inv[k].value[NGX_HTTP_INVITES_F_EMAIL]);
        fuzz_write_want(&want, "code");
        fuzz_write_want_str(&want, &inv[k].value[NGX_HTTP_INVITES_F_CODE]);

        if (data[0] & 0x80) {
            fuzz_write_want(&want, "created_at");
            fuzz_write_want(&want, times[k]);
        }
    }

    fuzz_write_check(rc, &out, &want, valid);

    return 0;
}


static void
fuzz_write_check(ngx_int_t rc, ngx_str_t *out, fuzz_write_tokens_t *want,
    int valid)
{
    char                 *copy, errbuf[128];
    size_t                i, len;
    yajl_val              tree;
    fuzz_write_tokens_t   got;

    if (rc != NGX_OK) {
        fuzz_check(!valid, "no output although every value is UTF-8");
        return;
    }

    fuzz_check(valid, "output written for a value that is not strict UTF-8 "
                      "(overlong, surrogate or above U+10FFFF)");

    len = out->len;

    fuzz_check(fuzz_utf8_valid(out->data, len), "the output is UTF-8");

    for (i = 0; i < len; i++) {
        fuzz_check(out->data[i] >= 0x20, "no raw control byte in the output");
    }

    copy = malloc(len + 1);
    if (copy == NULL) {
        free(out->data);
        return;
    }

    memcpy(copy, out->data, len);
    copy[len] = '\0';

    tree = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
    free(copy);

    fuzz_check(tree != NULL && YAJL_IS_OBJECT(tree),
               "yajl_tree_parse accepts the output as an object");
    yajl_tree_free(tree);

    fuzz_write_tokens(out->data, len, &got);

    fuzz_check(got.n == want->n, "as many keys and strings as written");

    for (i = 0; i < got.n; i++) {
        fuzz_check(got.tok[i].len == want->tok[i].len
                   && memcmp(got.tok[i].data, want->tok[i].data,
                             got.tok[i].len) == 0,
                   "every key and string round-trips exactly");
        free(got.tok[i].data);
    }

    free(out->data);
}


/* a strict parse: no comments, UTF-8 checked, one value, complete */

static void
fuzz_write_tokens(const u_char *out, size_t len, fuzz_write_tokens_t *got)
{
    yajl_handle  h;
    yajl_status  st;

    got->n = 0;

    h = yajl_alloc(&fuzz_write_callbacks, NULL, got);
    fuzz_check(h != NULL, "yajl_alloc");

    st = yajl_parse(h, out, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    fuzz_check(st == yajl_status_ok, "a strict yajl parse accepts the output");
}


static int
fuzz_write_token(void *data, const u_char *s, size_t len)
{
    fuzz_write_tokens_t  *t;

    t = data;

    fuzz_check(t->n < FUZZ_WRITE_MAX_TOKENS, "too many tokens");

    t->tok[t->n].data = malloc(len + 1);
    fuzz_check(t->tok[t->n].data != NULL, "malloc");

    memcpy(t->tok[t->n].data, s, len);
    t->tok[t->n].len = len;
    t->n++;

    return 1;
}


static void
fuzz_write_want(fuzz_write_tokens_t *t, const char *s)
{
    t->tok[t->n].data = (u_char *) s;
    t->tok[t->n].len = strlen(s);
    t->n++;
}


static void
fuzz_write_want_str(fuzz_write_tokens_t *t, ngx_str_t *s)
{
    t->tok[t->n++] = *s;
}


static void
fuzz_write_error(ngx_http_invites_err_e err)
{
    ngx_int_t                        rc;
    ngx_str_t                        out;
    fuzz_write_tokens_t              want;
    const ngx_http_invites_error_t  *e;

    e = ngx_http_invites_error(err);

    fuzz_check(e != NULL, "every error code has an error");

    rc = ngx_http_invites_json_error(err, NULL, &out);

    fuzz_check(rc == NGX_OK, "an error is always written");

    want.n = 0;
    fuzz_write_want(&want, "id");
    fuzz_write_want_str(&want, (ngx_str_t *) &e->id);
    fuzz_write_want(&want, "code");
    fuzz_write_want(&want, "detail");
    fuzz_write_want_str(&want, (ngx_str_t *) &e->detail);
    fuzz_write_want(&want, "status");
    fuzz_write_want_str(&want, (ngx_str_t *) &e->status_text);

    fuzz_write_check(rc, &out, &want, 1);
}


/*
 * The time a created_at column stands for, written by gmtime_r(): the
 * decimal microseconds since the epoch of an int8 (another text, which
 * PostgreSQL never sends, is the epoch), kept within 0000-01-01 and
 * 9999-12-31 as RFC 3339 has no other years.
 */

static void
fuzz_write_time(ngx_str_t *column, char *buf)
{
    int         neg;
    size_t      i;
    time_t      sec;
    struct tm   tm;
    long long   us, ms;

    static const long long  lo = -62167219200000000LL;
    static const long long  hi = 253402300799999999LL;

    neg = (column->len > 0 && column->data[0] == '-');
    us = 0;

    for (i = neg; i < column->len; i++) {
        if (column->data[i] < '0' || column->data[i] > '9') {
            us = 0;
            break;
        }

        if (i - neg == 18) {
            us = hi;
            break;
        }

        us = us * 10 + (column->data[i] - '0');
    }

    us = neg ? -us : us;
    us = us < lo ? lo : us > hi ? hi : us;

    /* rounded down to the millisecond, before the epoch too */

    ms = us / 1000 - (us % 1000 < 0);
    sec = (time_t) (ms / 1000 - (ms % 1000 < 0));
    ms -= (long long) sec * 1000;

    fuzz_check(gmtime_r(&sec, &tm) != NULL, "gmtime_r");

    snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ms % 1000));
}
