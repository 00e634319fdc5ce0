
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_invites_json.h"


typedef struct {
    ngx_http_invites_req_t     *req;
    ngx_http_invites_err_e      err;
    ngx_int_t                   depth;
    ngx_int_t                   field;     /* the key just read, or -1 */
    yajl_handle                 handle;
    size_t                      end;       /* where the object ended */
    unsigned                    closed:1;  /* the top-level object ended */
} ngx_http_invites_parse_ctx_t;


static ngx_int_t ngx_http_invites_utf8_valid(const u_char *p, size_t len);
static ngx_int_t ngx_http_invites_surrogates_paired(const u_char *p,
    size_t len);
static ngx_int_t ngx_http_invites_hex4(const u_char *p);
static void ngx_http_invites_json_clear(ngx_http_invites_field_t *f);
static ngx_int_t ngx_http_invites_json_scalar(ngx_http_invites_parse_ctx_t *ctx,
    ngx_uint_t is_null);
static int ngx_http_invites_json_null(void *data);
static int ngx_http_invites_json_boolean(void *data, int value);
static int ngx_http_invites_json_number(void *data, const char *value,
    size_t len);
static int ngx_http_invites_json_string(void *data, const u_char *value,
    size_t len);
static int ngx_http_invites_json_start_map(void *data);
static int ngx_http_invites_json_map_key(void *data, const u_char *key,
    size_t len);
static int ngx_http_invites_json_end(void *data);
static int ngx_http_invites_json_start_array(void *data);
static u_char *ngx_http_invites_json_alloc(yajl_alloc_funcs *af, size_t size,
    ngx_str_t *out);
static ssize_t ngx_http_invites_json_invite_len(
    ngx_http_invites_invite_t *invite, size_t *raw);
static u_char *ngx_http_invites_json_invite_obj(u_char *p,
    ngx_http_invites_invite_t *invite, ngx_uint_t verbatim);
static ssize_t ngx_http_invites_json_str_len(const ngx_str_t *s);
static u_char *ngx_http_invites_json_str(u_char *p, const ngx_str_t *s,
    ngx_uint_t verbatim);
static u_char ngx_http_invites_json_short_escape(u_char c);
static ngx_int_t ngx_http_invites_json_plain(const u_char *p, size_t len);


static const yajl_callbacks  ngx_http_invites_json_callbacks = {
    ngx_http_invites_json_null,
    ngx_http_invites_json_boolean,
    NULL,
    NULL,
    ngx_http_invites_json_number,
    ngx_http_invites_json_string,
    ngx_http_invites_json_start_map,
    ngx_http_invites_json_map_key,
    ngx_http_invites_json_end,
    ngx_http_invites_json_start_array,
    ngx_http_invites_json_end
};


ngx_http_invites_err_e
ngx_http_invites_json_parse(const u_char *body, size_t len,
    ngx_http_invites_req_t *req, yajl_alloc_funcs *af)
{
    size_t                        i;
    yajl_handle                   h;
    yajl_status                   st;
    ngx_http_invites_parse_ctx_t  ctx;

    for (i = 0; i < NGX_HTTP_INVITES_NFIELDS; i++) {
        ngx_http_invites_json_clear(&req->field[i]);
    }

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len) {
        /* an empty body is the empty object */
        return NGX_HTTP_INVITES_OK;
    }

    if (ngx_http_invites_utf8_valid(body, len) != NGX_OK) {
        return NGX_HTTP_INVITES_BAD_UTF8;
    }

    /* yajl would turn a lone surrogate into "?" or into invalid UTF-8 */

    if (ngx_http_invites_surrogates_paired(body, len) != NGX_OK) {
        return NGX_HTTP_INVITES_SURROGATE;
    }

    ctx.req = req;
    ctx.err = NGX_HTTP_INVITES_OK;
    ctx.depth = 0;
    ctx.field = -1;
    ctx.end = 0;
    ctx.closed = 0;

    h = yajl_alloc(&ngx_http_invites_json_callbacks, af, &ctx);
    if (h == NULL) {
        return NGX_HTTP_INVITES_DB_ERROR;
    }

    ctx.handle = h;

    st = yajl_parse(h, body, len);

    /*
     * Once the object has closed, only white space may follow it.  yajl
     * refuses a whole token there, but keeps one cut off by the end of the
     * input ("{}-0", "{}\"}") for yajl_complete_parse(), which would set up
     * a 2 KiB buffer to lex it: the bytes are checked here instead.
     */

    if (st == yajl_status_ok && ctx.closed) {
        for (i = ctx.end; i < len; i++) {
            /* yajl's white space: also \v and \f */
            if (body[i] != ' ' && (body[i] < '\t' || body[i] > '\r')) {
                st = yajl_status_error;
                break;
            }
        }

    } else if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (ctx.err != NGX_HTTP_INVITES_OK) {
        return ctx.err;
    }

    if (st != yajl_status_ok) {
        return NGX_HTTP_INVITES_BAD_JSON;
    }

    return NGX_HTTP_INVITES_OK;
}


/* strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF */

static ngx_int_t
ngx_http_invites_utf8_valid(const u_char *p, size_t len)
{
    u_char        c, lo, hi;
    size_t        i, n, k;

    i = 0;

    while (i < len) {
        c = p[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;

            if (c == 0xe0) {
                lo = 0xa0;

            } else if (c == 0xed) {
                hi = 0x9f;
            }

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;

            if (c == 0xf0) {
                lo = 0x90;

            } else if (c == 0xf4) {
                hi = 0x8f;
            }

        } else {
            return NGX_ERROR;
        }

        if (len - i <= n) {
            return NGX_ERROR;
        }

        if (p[i + 1] < lo || p[i + 1] > hi) {
            return NGX_ERROR;
        }

        for (k = 2; k <= n; k++) {
            if (p[i + k] < 0x80 || p[i + k] > 0xbf) {
                return NGX_ERROR;
            }
        }

        i += n + 1;
    }

    return NGX_OK;
}


/*
 * Every \uD800-\uDBFF escape must be followed by a \uDC00-\uDFFF one, and
 * the latter never stand alone.  Backslashes occur only inside strings in
 * JSON; anything else yajl rejects anyway.
 */

static ngx_int_t
ngx_http_invites_surrogates_paired(const u_char *p, size_t len)
{
    size_t     i;
    ngx_int_t  cp;

    i = 0;

    while (i + 1 < len) {

        if (p[i] != '\\') {
            i++;
            continue;
        }

        if (p[i + 1] != 'u' || i + 6 > len) {
            i += 2;
            continue;
        }

        cp = ngx_http_invites_hex4(&p[i + 2]);
        i += 6;

        if (cp >= 0xdc00 && cp <= 0xdfff) {
            return NGX_ERROR;
        }

        if (cp < 0xd800 || cp > 0xdbff) {
            continue;
        }

        if (i + 6 > len || p[i] != '\\' || p[i + 1] != 'u') {
            return NGX_ERROR;
        }

        cp = ngx_http_invites_hex4(&p[i + 2]);

        if (cp < 0xdc00 || cp > 0xdfff) {
            return NGX_ERROR;
        }

        i += 6;
    }

    return NGX_OK;
}


/* four hex digits, or -1 */

static ngx_int_t
ngx_http_invites_hex4(const u_char *p)
{
    u_char     c;
    ngx_int_t  n, i;

    n = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            n = n * 16 + (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            n = n * 16 + ((c | 0x20) - 'a' + 10);

        } else {
            return -1;
        }
    }

    return n;
}


/* absent; the value's bytes need no clearing, they are NUL-terminated */

static void
ngx_http_invites_json_clear(ngx_http_invites_field_t *f)
{
    f->len = 0;
    f->present = 0;
    f->too_long = 0;
    f->data[0] = '\0';
}


/* a value that is not a string: fine where unknown, an error where known */

static ngx_int_t
ngx_http_invites_json_scalar(ngx_http_invites_parse_ctx_t *ctx,
    ngx_uint_t is_null)
{
    if (ctx->depth == 0) {
        ctx->err = NGX_HTTP_INVITES_NOT_OBJECT;
        return 0;
    }

    if (ctx->depth == 1 && ctx->field >= 0) {

        if (!is_null) {
            ctx->err = ngx_http_invites_fields[ctx->field].bad_type;
            return 0;
        }

        /* null is the same as absent; the last duplicate key wins */
        ngx_http_invites_json_clear(&ctx->req->field[ctx->field]);
        ctx->field = -1;
    }

    return 1;
}


static int
ngx_http_invites_json_null(void *data)
{
    return ngx_http_invites_json_scalar(data, 1);
}


static int
ngx_http_invites_json_boolean(void *data, int value)
{
    return ngx_http_invites_json_scalar(data, 0);
}


static int
ngx_http_invites_json_number(void *data, const char *value, size_t len)
{
    return ngx_http_invites_json_scalar(data, 0);
}


static int
ngx_http_invites_json_string(void *data, const u_char *value, size_t len)
{
    ngx_http_invites_field_t      *f;
    ngx_http_invites_parse_ctx_t  *ctx;

    ctx = data;

    if (ctx->depth == 0) {
        ctx->err = NGX_HTTP_INVITES_NOT_OBJECT;
        return 0;
    }

    if (memchr(value, '\0', len) != NULL) {
        ctx->err = NGX_HTTP_INVITES_NUL_CHAR;
        return 0;
    }

    if (ctx->depth != 1 || ctx->field < 0) {
        return 1;
    }

    f = &ctx->req->field[ctx->field];

    ngx_http_invites_json_clear(f);

    /* "" counts as absent, as in the later m3o service */

    if (len > 0) {
        f->present = 1;

        if (len > ngx_http_invites_fields[ctx->field].max) {
            f->too_long = 1;

        } else {
            ngx_memcpy(f->data, value, len);
            f->data[len] = '\0';
            f->len = len;
        }
    }

    ctx->field = -1;

    return 1;
}


static int
ngx_http_invites_json_start_map(void *data)
{
    ngx_http_invites_parse_ctx_t  *ctx;

    ctx = data;

    if (ctx->depth == 1 && ctx->field >= 0) {
        ctx->err = ngx_http_invites_fields[ctx->field].bad_type;
        return 0;
    }

    ctx->depth++;

    return 1;
}


static int
ngx_http_invites_json_map_key(void *data, const u_char *key, size_t len)
{
    ngx_uint_t                            i;
    ngx_http_invites_parse_ctx_t         *ctx;
    const ngx_http_invites_field_desc_t  *f;

    ctx = data;

    if (memchr(key, '\0', len) != NULL) {
        ctx->err = NGX_HTTP_INVITES_NUL_CHAR;
        return 0;
    }

    if (ctx->depth != 1) {
        return 1;
    }

    ctx->field = -1;

    for (i = 0; i < NGX_HTTP_INVITES_NFIELDS; i++) {
        f = &ngx_http_invites_fields[i];

        if (f->in == NGX_HTTP_INVITES_T_NONE) {
            continue;
        }

        if ((len == f->name.len && ngx_memcmp(key, f->name.data, len) == 0)
            || (len == f->alias.len && len > 0
                && ngx_memcmp(key, f->alias.data, len) == 0))
        {
            ctx->field = i;
            break;
        }
    }

    return 1;
}


static int
ngx_http_invites_json_end(void *data)
{
    ngx_http_invites_parse_ctx_t  *ctx;

    ctx = data;

    ctx->depth--;

    if (ctx->depth == 0) {
        ctx->closed = 1;
        ctx->end = yajl_get_bytes_consumed(ctx->handle);

    } else if (ctx->depth == 1) {
        /* the end of an unknown field's object or array */
        ctx->field = -1;
    }

    return 1;
}


static int
ngx_http_invites_json_start_array(void *data)
{
    ngx_http_invites_parse_ctx_t  *ctx;

    ctx = data;

    if (ctx->depth == 0) {
        ctx->err = NGX_HTTP_INVITES_NOT_OBJECT;
        return 0;
    }

    if (ctx->depth == 1 && ctx->field >= 0) {
        ctx->err = ngx_http_invites_fields[ctx->field].bad_type;
        return 0;
    }

    ctx->depth++;

    return 1;
}


/*
 * The writers fill one buffer of the exact size, allocated with af (or
 * malloc() when af is NULL) and left in *out: a first pass measures every
 * value escaped and checks that it is UTF-8, a second writes.  When the
 * escaped lengths add up to the values' own, nothing needs escaping (an
 * escape only ever adds bytes) and the second pass copies every value as it
 * is.  NGX_ERROR means memory ran out or a value was not UTF-8.
 */

ngx_int_t
ngx_http_invites_json_invite(ngx_http_invites_invite_t *invite,
    yajl_alloc_funcs *af, ngx_str_t *out)
{
    u_char   *p;
    size_t    raw;
    ssize_t   len;

    len = ngx_http_invites_json_invite_len(invite, &raw);
    if (len < 0) {
        return NGX_ERROR;
    }

    p = ngx_http_invites_json_alloc(af, sizeof("{\"invite\":}") - 1 + len,
                                    out);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, "{\"invite\":", sizeof("{\"invite\":") - 1);
    p = ngx_http_invites_json_invite_obj(p, invite, (size_t) len == raw);
    *p = '}';

    return NGX_OK;
}


ngx_int_t
ngx_http_invites_json_list(ngx_http_invites_invite_t *invites, ngx_uint_t n,
    yajl_alloc_funcs *af, ngx_str_t *out)
{
    u_char      *p;
    size_t       size, raw, all_raw;
    ssize_t      len;
    ngx_uint_t   i, verbatim;

    size = sizeof("{\"invites\":[]}") - 1 + (n ? n - 1 : 0);
    all_raw = size;

    for (i = 0; i < n; i++) {
        len = ngx_http_invites_json_invite_len(&invites[i], &raw);
        if (len < 0) {
            return NGX_ERROR;
        }

        size += len;
        all_raw += raw;
    }

    verbatim = (size == all_raw);

    p = ngx_http_invites_json_alloc(af, size, out);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, "{\"invites\":[", sizeof("{\"invites\":[") - 1);

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_invites_json_invite_obj(p, &invites[i], verbatim);
    }

    *p++ = ']';
    *p = '}';

    return NGX_OK;
}


ngx_int_t
ngx_http_invites_json_empty(yajl_alloc_funcs *af, ngx_str_t *out)
{
    u_char  *p;

    p = ngx_http_invites_json_alloc(af, sizeof("{}") - 1, out);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p++ = '{';
    *p = '}';

    return NGX_OK;
}


/* a successful answer, in its shape */

ngx_int_t
ngx_http_invites_json_answer(ngx_http_invites_answer_t *answer,
    yajl_alloc_funcs *af, ngx_str_t *out)
{
    switch (answer->shape) {

    case NGX_HTTP_INVITES_SHAPE_INVITE:
        return ngx_http_invites_json_invite(answer->invites, af, out);

    case NGX_HTTP_INVITES_SHAPE_LIST:
        return ngx_http_invites_json_list(answer->invites, answer->n, af, out);

    default: /* NGX_HTTP_INVITES_SHAPE_EMPTY */
        return ngx_http_invites_json_empty(af, out);
    }
}


/* the error texts are ASCII without anything to escape (t/unit checks) */

ngx_int_t
ngx_http_invites_json_error(ngx_http_invites_err_e err, yajl_alloc_funcs *af,
    ngx_str_t *out)
{
    u_char                          *p;
    const ngx_http_invites_error_t  *e;

    e = ngx_http_invites_error(err);

    p = ngx_http_invites_json_alloc(af,
            sizeof("{'id':'','code':000,'detail':'','status':''}") - 1
            + e->id.len + e->detail.len + e->status_text.len, out);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
    p = ngx_cpymem(p, e->id.data, e->id.len);
    p = ngx_cpymem(p, "\",\"code\":", sizeof("\",\"code\":") - 1);
    *p++ = (u_char) ('0' + e->status / 100 % 10);
    *p++ = (u_char) ('0' + e->status / 10 % 10);
    *p++ = (u_char) ('0' + e->status % 10);
    p = ngx_cpymem(p, ",\"detail\":\"", sizeof(",\"detail\":\"") - 1);
    p = ngx_cpymem(p, e->detail.data, e->detail.len);
    p = ngx_cpymem(p, "\",\"status\":\"", sizeof("\",\"status\":\"") - 1);
    p = ngx_cpymem(p, e->status_text.data, e->status_text.len);
    *p++ = '"';
    *p = '}';

    return NGX_OK;
}


static u_char *
ngx_http_invites_json_alloc(yajl_alloc_funcs *af, size_t size, ngx_str_t *out)
{
    u_char  *p;

    p = (af != NULL) ? af->malloc(af->ctx, size) : malloc(size);
    if (p == NULL) {
        return NULL;
    }

    out->data = p;
    out->len = size;

    return p;
}


/*
 * The length of an invite object, or -1 when a value is not UTF-8; *raw is
 * what it would be with nothing escaped.  A field is written when it is
 * set, as "name":"value", in the order of the table.
 */

static ssize_t
ngx_http_invites_json_invite_len(ngx_http_invites_invite_t *invite,
    size_t *raw)
{
    size_t      obj, plain;
    ssize_t     len;
    ngx_uint_t  i;

    obj = sizeof("{}") - 1;
    plain = obj;

    for (i = 0; i < NGX_HTTP_INVITES_NCOLUMNS; i++) {

        if (invite->value[i].data == NULL) {
            continue;
        }

        len = ngx_http_invites_json_str_len(&invite->value[i]);
        if (len < 0) {
            return -1;
        }

        /* ,"name":"" with the comma counted for all but the first */
        obj += sizeof(",\"\":\"\"") - 1 + ngx_http_invites_fields[i].name.len
               + len;
        plain += sizeof(",\"\":\"\"") - 1
                 + ngx_http_invites_fields[i].name.len
                 + invite->value[i].len;
    }

    if (obj > sizeof("{}") - 1) {
        obj--;
        plain--;
    }

    *raw = plain;

    return obj;
}


static u_char *
ngx_http_invites_json_invite_obj(u_char *p, ngx_http_invites_invite_t *invite,
    ngx_uint_t verbatim)
{
    u_char      *start;
    ngx_uint_t   i;

    start = p;
    *p++ = '{';

    for (i = 0; i < NGX_HTTP_INVITES_NCOLUMNS; i++) {

        if (invite->value[i].data == NULL) {
            continue;
        }

        if (p != start + 1) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, ngx_http_invites_fields[i].name.data,
                       ngx_http_invites_fields[i].name.len);
        *p++ = '"';
        *p++ = ':';
        *p++ = '"';
        p = ngx_http_invites_json_str(p, &invite->value[i], verbatim);
        *p++ = '"';
    }

    *p++ = '}';

    return p;
}


/*
 * The length of a value written as the contents of a JSON string, or -1
 * when it is not strict UTF-8 (no overlong forms, surrogates or code
 * points above U+10FFFF).  Quotes, backslashes and control characters are
 * escaped; everything else, U+007F and non-ASCII included, goes out as it
 * is.
 */

static ssize_t
ngx_http_invites_json_str_len(const ngx_str_t *s)
{
    u_char  c;
    size_t  i, len;

    if (ngx_http_invites_json_plain(s->data, s->len)) {
        return s->len;
    }

    if (ngx_http_invites_utf8_valid(s->data, s->len) != NGX_OK) {
        return -1;
    }

    len = s->len;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c < 0x20) {
            len += ngx_http_invites_json_short_escape(c) ? 1 : 5;

        } else if (c == '"' || c == '\\') {
            len++;
        }
    }

    return len;
}


static u_char *
ngx_http_invites_json_str(u_char *p, const ngx_str_t *s, ngx_uint_t verbatim)
{
    u_char         c, e;
    size_t         i;
    static u_char  hex[] = "0123456789ABCDEF";

    if (verbatim || ngx_http_invites_json_plain(s->data, s->len)) {
        return ngx_cpymem(p, s->data, s->len);
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = c;
            continue;
        }

        *p++ = '\\';

        if (c >= 0x20) {
            *p++ = c;
            continue;
        }

        e = ngx_http_invites_json_short_escape(c);

        if (e) {
            *p++ = e;
            continue;
        }

        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xf];
    }

    return p;
}


/* the letter of a control character's two-byte escape, or 0 for \u00XX */

static u_char
ngx_http_invites_json_short_escape(u_char c)
{
    switch (c) {
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 0;
    }
}


/*
 * Whether a value goes out as it is: ASCII from 0x20 up without a quote or
 * a backslash, as ids, codes and most emails are.  Eight bytes at a time,
 * the last eight overlapping the ones before when the length is not a
 * multiple of eight: together, the terms below set some byte's top bit if
 * and only if one of the word's bytes is above 0x7f, below 0x20, a quote or
 * a backslash (the subtractions' borrows may mark more bytes than that,
 * never fewer and never in a word that has none).
 */

#define ngx_http_invites_bytes(b)  ((uint64_t) 0x0101010101010101 * (b))

static ngx_int_t
ngx_http_invites_json_plain(const u_char *p, size_t len)
{
    u_char         c;
    uint64_t       w, q, b, bad;
    const u_char  *last;

    if (len < 8) {
        while (len--) {
            c = *p++;

            if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
                return 0;
            }
        }

        return 1;
    }

    bad = 0;
    last = p + len - 8;

    for ( ;; ) {
        ngx_memcpy(&w, p, 8);

        q = w ^ ngx_http_invites_bytes('"');
        b = w ^ ngx_http_invites_bytes('\\');

        bad |= w
               | ((w - ngx_http_invites_bytes(0x20)) & ~w)
               | ((q - ngx_http_invites_bytes(0x01)) & ~q)
               | ((b - ngx_http_invites_bytes(0x01)) & ~b);

        if (p == last) {
            break;
        }

        p = (last - p > 8) ? p + 8 : last;
    }

    return (bad & ngx_http_invites_bytes(0x80)) == 0;
}
