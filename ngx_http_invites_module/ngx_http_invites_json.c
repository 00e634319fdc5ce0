
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_invites_json.h"


/*
 * A column's key as the writer copies it: ,"name": in a buffer of its own,
 * so that one copy of a fixed size (a few moves, not a call) writes any
 * key; the output buffer has that much room to spare at its end.
 */
#define NGX_HTTP_INVITES_JSON_KEY      16

typedef struct {
    u_char                      text[NGX_HTTP_INVITES_JSON_KEY + 1];
    size_t                      len;
} ngx_http_invites_json_key_t;

/* "2026-12-03T08:26:00.123Z" with its quotes */
#define NGX_HTTP_INVITES_JSON_TIME_LEN  26

/* an object field's nesting, beyond which jsonb's own limits come near */
#define NGX_HTTP_INVITES_JSON_MAX_NESTING  32


typedef struct {
    ngx_http_invites_req_t     *req;
    const u_char               *body;
    ngx_http_invites_err_e      err;
    ngx_int_t                   depth;
    ngx_int_t                   field;     /* the key just read, or -1 */
    ngx_int_t                   object;    /* the object field inside */
    size_t                      object_start;
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
static ngx_int_t ngx_http_invites_json_integer(const char *value, size_t len,
    int64_t *n);
static ngx_int_t ngx_http_invites_json_exponent_ok(const char *value,
    size_t len);
static int ngx_http_invites_json_string(void *data, const u_char *value,
    size_t len);
static int ngx_http_invites_json_start_map(void *data);
static int ngx_http_invites_json_nest(ngx_http_invites_parse_ctx_t *ctx);
static int ngx_http_invites_json_map_key(void *data, const u_char *key,
    size_t len);
static int ngx_http_invites_json_end(void *data);
static int ngx_http_invites_json_start_array(void *data);
static u_char *ngx_http_invites_json_alloc(yajl_alloc_funcs *af, size_t size,
    ngx_str_t *out);
static ssize_t ngx_http_invites_json_invite_len(
    ngx_http_invites_invite_t *invite, ngx_uint_t m3o, size_t *raw);
static u_char *ngx_http_invites_json_invite_obj(u_char *p,
    ngx_http_invites_invite_t *invite, ngx_uint_t m3o, ngx_uint_t verbatim);
static const ngx_http_invites_json_key_t *ngx_http_invites_json_keys(void);
static u_char *ngx_http_invites_json_time(u_char *p, ngx_str_t *value);
static u_char *ngx_http_invites_json_2digits(u_char *p, ngx_uint_t v);
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
    ctx.body = body;
    ctx.err = NGX_HTTP_INVITES_OK;
    ctx.depth = 0;
    ctx.field = -1;
    ctx.object = -1;
    ctx.object_start = 0;
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
    f->number = 0;
    f->json = NULL;
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
    int64_t                                n;
    ngx_http_invites_field_t              *f;
    ngx_http_invites_parse_ctx_t          *ctx;
    const ngx_http_invites_field_desc_t   *d;

    ctx = data;

    if (ctx->object >= 0
        && ngx_http_invites_json_exponent_ok(value, len) != NGX_OK)
    {
        /* beyond what PostgreSQL's numeric stores */
        ctx->err = ngx_http_invites_fields[ctx->object].too_long;
        return 0;
    }

    if (ctx->depth != 1 || ctx->field < 0) {
        return ngx_http_invites_json_scalar(ctx, 0);
    }

    d = &ngx_http_invites_fields[ctx->field];

    if (d->in != NGX_HTTP_INVITES_T_INTEGER
        || ngx_http_invites_json_integer(value, len, &n) != NGX_OK
        || n < d->min || n > (int64_t) d->max)
    {
        ctx->err = d->bad_type;
        return 0;
    }

    f = &ctx->req->field[ctx->field];

    ngx_http_invites_json_clear(f);
    f->present = 1;
    f->number = n;

    ctx->field = -1;

    return 1;
}


/* a JSON number without a fraction or an exponent, of at most 18 digits */

static ngx_int_t
ngx_http_invites_json_integer(const char *value, size_t len, int64_t *n)
{
    size_t   i;
    int64_t  v;

    i = (len > 0 && value[0] == '-') ? 1 : 0;

    if (len == i || len - i > 18) {
        return NGX_DECLINED;
    }

    v = 0;

    for ( /* void */ ; i < len; i++) {
        if (value[i] < '0' || value[i] > '9') {
            return NGX_DECLINED;
        }

        v = v * 10 + (value[i] - '0');
    }

    *n = (value[0] == '-') ? -v : v;

    return NGX_OK;
}


/* a number's exponent, if any, within what numeric takes: |e| <= 1000 */

static ngx_int_t
ngx_http_invites_json_exponent_ok(const char *value, size_t len)
{
    size_t      i;
    ngx_uint_t  e;

    for (i = 0; i < len; i++) {
        if (value[i] == 'e' || value[i] == 'E') {
            break;
        }
    }

    if (i == len) {
        return NGX_OK;
    }

    i++;

    if (i < len && (value[i] == '+' || value[i] == '-')) {
        i++;
    }

    for (e = 0; i < len; i++) {
        e = e * 10 + (value[i] - '0');

        if (e > 1000) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
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

    if (ngx_http_invites_fields[ctx->field].in != NGX_HTTP_INVITES_T_STRING) {
        ctx->err = ngx_http_invites_fields[ctx->field].bad_type;
        return 0;
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

        if (ngx_http_invites_fields[ctx->field].in
            != NGX_HTTP_INVITES_T_OBJECT)
        {
            ctx->err = ngx_http_invites_fields[ctx->field].bad_type;
            return 0;
        }

        /* kept as raw JSON: from its "{" to its "}" */
        ctx->object = ctx->field;
        ctx->object_start = yajl_get_bytes_consumed(ctx->handle) - 1;
    }

    return ngx_http_invites_json_nest(ctx);
}


/* one level deeper; an object field nests 32 levels at most */

static int
ngx_http_invites_json_nest(ngx_http_invites_parse_ctx_t *ctx)
{
    ctx->depth++;

    if (ctx->object >= 0
        && ctx->depth > NGX_HTTP_INVITES_JSON_MAX_NESTING + 1)
    {
        ctx->err = ngx_http_invites_fields[ctx->object].too_long;
        return 0;
    }

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
    size_t                         len;
    ngx_http_invites_field_t      *f;
    ngx_http_invites_parse_ctx_t  *ctx;

    ctx = data;

    ctx->depth--;

    if (ctx->depth == 0) {
        ctx->closed = 1;
        ctx->end = yajl_get_bytes_consumed(ctx->handle);
        return 1;
    }

    if (ctx->depth != 1) {
        return 1;
    }

    if (ctx->object >= 0) {
        f = &ctx->req->field[ctx->object];
        len = yajl_get_bytes_consumed(ctx->handle) - ctx->object_start;

        ngx_http_invites_json_clear(f);
        f->present = 1;

        if (len > ngx_http_invites_fields[ctx->object].max) {
            f->too_long = 1;

        } else {
            f->json = ctx->body + ctx->object_start;
            f->len = len;
        }

        ctx->object = -1;
    }

    /* the end of an object field's, or an unknown field's, value */
    ctx->field = -1;

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

    return ngx_http_invites_json_nest(ctx);
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
    ngx_uint_t m3o, yajl_alloc_funcs *af, ngx_str_t *out)
{
    u_char   *p;
    size_t    raw;
    ssize_t   len;

    len = ngx_http_invites_json_invite_len(invite, m3o, &raw);
    if (len < 0) {
        return NGX_ERROR;
    }

    p = ngx_http_invites_json_alloc(af, sizeof("{\"invite\":}") - 1 + len,
                                    out);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, "{\"invite\":", sizeof("{\"invite\":") - 1);
    p = ngx_http_invites_json_invite_obj(p, invite, m3o, (size_t) len == raw);
    *p = '}';

    return NGX_OK;
}


/* next, when set, is a page token: ASCII with nothing to escape */

ngx_int_t
ngx_http_invites_json_list(ngx_http_invites_invite_t *invites, ngx_uint_t n,
    ngx_str_t *next, ngx_uint_t m3o, yajl_alloc_funcs *af, ngx_str_t *out)
{
    u_char      *p;
    size_t       size, raw, all_raw;
    ssize_t      len;
    ngx_uint_t   i, verbatim;

    size = sizeof("{\"invites\":[]}") - 1 + (n ? n - 1 : 0);
    all_raw = size;

    for (i = 0; i < n; i++) {
        len = ngx_http_invites_json_invite_len(&invites[i], m3o, &raw);
        if (len < 0) {
            return NGX_ERROR;
        }

        size += len;
        all_raw += raw;
    }

    verbatim = (size == all_raw);

    if (next != NULL && next->data != NULL) {
        size += sizeof(",\"next_page_token\":\"\"") - 1 + next->len;
    }

    p = ngx_http_invites_json_alloc(af, size, out);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, "{\"invites\":[", sizeof("{\"invites\":[") - 1);

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_invites_json_invite_obj(p, &invites[i], m3o, verbatim);
    }

    *p++ = ']';

    if (next != NULL && next->data != NULL) {
        p = ngx_cpymem(p, ",\"next_page_token\":\"",
                       sizeof(",\"next_page_token\":\"") - 1);
        p = ngx_cpymem(p, next->data, next->len);
        *p++ = '"';
    }

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
        return ngx_http_invites_json_invite(answer->invites, answer->m3o, af,
                                            out);

    case NGX_HTTP_INVITES_SHAPE_LIST:
        return ngx_http_invites_json_list(answer->invites, answer->n,
                                          &answer->next, answer->m3o, af,
                                          out);

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

    /* the room a key's copy may write past the end */

    p = (af != NULL) ? af->malloc(af->ctx, size + NGX_HTTP_INVITES_JSON_KEY)
                     : malloc(size + NGX_HTTP_INVITES_JSON_KEY);
    if (p == NULL) {
        return NULL;
    }

    out->data = p;
    out->len = size;

    return p;
}


/*
 * The length of an invite object, or -1 when a string is not UTF-8; *raw
 * is what it would be with
 * nothing escaped.  A field is written when it is set, as "name":value, in
 * the order of the table; with m3o, only m3o's four.
 */

static ssize_t
ngx_http_invites_json_invite_len(ngx_http_invites_invite_t *invite,
    ngx_uint_t m3o, size_t *raw)
{
    size_t                                obj, plain, key;
    ssize_t                               len;
    ngx_uint_t                            i;
    const ngx_http_invites_field_desc_t  *f;

    obj = sizeof("{}") - 1;
    plain = obj;

    for (i = 0; i < NGX_HTTP_INVITES_NCOLUMNS; i++) {
        f = &ngx_http_invites_fields[i];

        if (invite->value[i].data == NULL || (m3o && !f->m3o)) {
            continue;
        }

        /* ,"name": with the comma counted for all but the first */
        key = sizeof(",\"\":") - 1 + f->name.len;

        switch (f->out) {

        case NGX_HTTP_INVITES_T_STRING:
            len = ngx_http_invites_json_str_len(&invite->value[i]);
            if (len < 0) {
                return -1;
            }

            obj += key + 2 + len;
            plain += key + 2 + invite->value[i].len;
            break;

        case NGX_HTTP_INVITES_T_TIME:
            obj += key + NGX_HTTP_INVITES_JSON_TIME_LEN;
            plain += key + NGX_HTTP_INVITES_JSON_TIME_LEN;
            break;

        default: /* NGX_HTTP_INVITES_T_JSON */
            obj += key + invite->value[i].len;
            plain += key + invite->value[i].len;
            break;
        }
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
    ngx_uint_t m3o, ngx_uint_t verbatim)
{
    ngx_uint_t                            i, first;
    const ngx_http_invites_json_key_t    *keys;
    const ngx_http_invites_field_desc_t  *f;

    keys = ngx_http_invites_json_keys();

    *p++ = '{';
    first = 1;

    for (i = 0; i < NGX_HTTP_INVITES_NCOLUMNS; i++) {
        f = &ngx_http_invites_fields[i];

        if (invite->value[i].data == NULL || (m3o && !f->m3o)) {
            continue;
        }

        /* the first key without its comma */

        ngx_memcpy(p, keys[i].text + first, NGX_HTTP_INVITES_JSON_KEY);
        p += keys[i].len - first;
        first = 0;

        switch (f->out) {

        case NGX_HTTP_INVITES_T_STRING:
            *p++ = '"';
            p = ngx_http_invites_json_str(p, &invite->value[i], verbatim);
            *p++ = '"';
            break;

        case NGX_HTTP_INVITES_T_TIME:
            p = ngx_http_invites_json_time(p, &invite->value[i]);
            break;

        default: /* NGX_HTTP_INVITES_T_JSON: as the database wrote it */
            p = ngx_cpymem(p, invite->value[i].data, invite->value[i].len);
            break;
        }
    }

    *p++ = '}';

    return p;
}


static const ngx_http_invites_json_key_t *
ngx_http_invites_json_keys(void)
{
    u_char                               *p;
    ngx_uint_t                            i;
    const ngx_http_invites_field_desc_t  *f;

    static ngx_uint_t                     done;
    static ngx_http_invites_json_key_t    keys[NGX_HTTP_INVITES_NCOLUMNS];

    if (done) {
        return keys;
    }

    for (i = 0; i < NGX_HTTP_INVITES_NCOLUMNS; i++) {
        f = &ngx_http_invites_fields[i];

        /* a column's name is at most 12 bytes: ,"" and : take 4 */

        p = keys[i].text;
        *p++ = ',';
        *p++ = '"';
        p = ngx_cpymem(p, f->name.data,
                       ngx_min(f->name.len, NGX_HTTP_INVITES_JSON_KEY - 4));
        *p++ = '"';
        *p++ = ':';

        keys[i].len = p - keys[i].text;
    }

    done = 1;

    return keys;
}


/*
 * A time of microseconds since the epoch (the decimal text of an int8) as
 * a JSON string, "2026-12-03T08:26:00.123Z": RFC 3339, UTC, milliseconds,
 * always that long.  RFC 3339 has years 0000 to 9999 only: a time beyond
 * is written as the nearest it has (and a text that is no int8, which
 * PostgreSQL never sends, as the epoch).
 */

#define NGX_HTTP_INVITES_JSON_TIME_MIN  (-62167219200000000LL)
#define NGX_HTTP_INVITES_JSON_TIME_MAX  (253402300799999999LL)

static u_char *
ngx_http_invites_json_time(u_char *p, ngx_str_t *value)
{
    size_t    i;
    int64_t   us, days, ms, z, era, doe, yoe, doy, mp, year, month, day;
    unsigned  neg;

    neg = (value->len > 0 && value->data[0] == '-');
    us = 0;

    for (i = neg; i < value->len; i++) {
        if (value->data[i] < '0' || value->data[i] > '9') {
            us = 0;
            break;
        }

        /* 18 digits are past any year written, and do not overflow */

        if (i - neg == 18) {
            us = NGX_HTTP_INVITES_JSON_TIME_MAX;
            break;
        }

        us = us * 10 + (value->data[i] - '0');
    }

    if (neg) {
        us = -us;
    }

    us = ngx_max(us, NGX_HTTP_INVITES_JSON_TIME_MIN);
    us = ngx_min(us, NGX_HTTP_INVITES_JSON_TIME_MAX);

    /* the day, rounded down, and the milliseconds into it */

    days = us / 86400000000LL;
    ms = us % 86400000000LL;

    if (ms < 0) {
        days--;
        ms += 86400000000LL;
    }

    ms /= 1000;

    /*
     * The civil date of a day number, in a calendar whose years start on
     * 1 March (so that a leap day ends its year) and repeat every 400
     * years (146097 days): day 0 of that count is 0000-03-01.
     */

    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    day = doy - (153 * mp + 2) / 5 + 1;
    month = (mp < 10) ? mp + 3 : mp - 9;
    year = yoe + era * 400 + (month <= 2);

    *p++ = '"';
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) (year / 100));
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) (year % 100));
    *p++ = '-';
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) month);
    *p++ = '-';
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) day);
    *p++ = 'T';
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) (ms / 3600000));
    *p++ = ':';
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) (ms / 60000 % 60));
    *p++ = ':';
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) (ms / 1000 % 60));
    *p++ = '.';
    *p++ = (u_char) ('0' + ms % 1000 / 100);
    p = ngx_http_invites_json_2digits(p, (ngx_uint_t) (ms % 100));
    *p++ = 'Z';
    *p++ = '"';

    return p;
}


/* two decimal digits of v < 100, from a table of the hundred pairs */

static u_char *
ngx_http_invites_json_2digits(u_char *p, ngx_uint_t v)
{
    static const u_char  pairs[] =
        "00010203040506070809101112131415161718192021222324"
        "25262728293031323334353637383940414243444546474849"
        "50515253545556575859606162636465666768697071727374"
        "75767778798081828384858687888990919293949596979899";

    p[0] = pairs[2 * v];
    p[1] = pairs[2 * v + 1];

    return p + 2;
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
