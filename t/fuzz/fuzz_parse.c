
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


/*
 * libFuzzer target: request body bytes -> ngx_http_invites_json_parse().
 *
 * Whatever the bytes, the parser returns one of its request errors or OK.
 * On OK every present string field is within its limit (or flagged
 * too_long), holds no NUL and is valid UTF-8; and the fields are what
 * yajl's tree parser, run independently on the same body, finds there (the
 * last of duplicate keys wins, "" and null mean absent, "groupId" is
 * group_id; an integer field holds the tree's integer, an object field the
 * bytes of an object the tree parser reads back).
 */


#include "fuzz_util.h"

#include <string.h>

#include <yajl/yajl_tree.h>


static void fuzz_parse_expect(const u_char *body, size_t len,
    ngx_http_invites_req_t *req, ngx_http_invites_err_e err);
static void fuzz_parse_reject(const u_char *body, size_t len, yajl_val tree);
static int fuzz_parse_field_index(const char *key);
static void fuzz_parse_expect_integer(ngx_http_invites_field_t *f,
    yajl_val v);
static void fuzz_parse_expect_object(ngx_http_invites_field_t *f,
    yajl_val v);
static int fuzz_parse_whitespace(const u_char *body, size_t len);
static int fuzz_parse_trailing(const u_char *body, size_t len);
static int fuzz_parse_has(const u_char *body, size_t len, const char *s);


/* what each field takes, written out here rather than read from the table */

#define FUZZ_STRING   1
#define FUZZ_INTEGER  2
#define FUZZ_OBJECT   3

typedef struct {
    const char   *name;
    int           type;
    size_t        max;         /* a string's bytes, an object's */
    long long     lo, hi;      /* an integer's range */
} fuzz_parse_field_t;

static const fuzz_parse_field_t  fuzz_parse_fields[NGX_HTTP_INVITES_NFIELDS] = {
    [NGX_HTTP_INVITES_F_ID] = { "id", FUZZ_STRING, 255, 0, 0 },
    [NGX_HTTP_INVITES_F_GROUP_ID] = { "group_id", FUZZ_STRING, 255, 0, 0 },
    [NGX_HTTP_INVITES_F_EMAIL] = { "email", FUZZ_STRING, 254, 0, 0 },
    [NGX_HTTP_INVITES_F_CODE] = { "code", FUZZ_STRING, 255, 0, 0 },
    [NGX_HTTP_INVITES_F_STATUS] = { "status", FUZZ_STRING, 255, 0, 0 },
    [NGX_HTTP_INVITES_F_METADATA] = { "metadata", FUZZ_OBJECT, 4096, 0, 0 },
    [NGX_HTTP_INVITES_F_EXPIRES_IN_DAYS] =
        { "expires_in_days", FUZZ_INTEGER, 0, 1, 365 },
    [NGX_HTTP_INVITES_F_LIMIT] = { "limit", FUZZ_INTEGER, 0, 1, 1000 },
    [NGX_HTTP_INVITES_F_PAGE_TOKEN] = { "page_token", FUZZ_STRING, 255, 0, 0 }
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_uint_t                 i;
    ngx_http_invites_req_t     req;
    ngx_http_invites_err_e     err;
    ngx_http_invites_field_t  *f;

    err = ngx_http_invites_json_parse(data, size, &req, NULL);

    switch (err) {

    case NGX_HTTP_INVITES_OK:
    case NGX_HTTP_INVITES_BAD_JSON:
    case NGX_HTTP_INVITES_NOT_OBJECT:
    case NGX_HTTP_INVITES_BAD_UTF8:
    case NGX_HTTP_INVITES_BAD_ID:
    case NGX_HTTP_INVITES_BAD_GROUP_ID:
    case NGX_HTTP_INVITES_BAD_EMAIL:
    case NGX_HTTP_INVITES_BAD_CODE:
    case NGX_HTTP_INVITES_NUL_CHAR:
    case NGX_HTTP_INVITES_SURROGATE:
    case NGX_HTTP_INVITES_BAD_STATUS:
    case NGX_HTTP_INVITES_BAD_METADATA:
    case NGX_HTTP_INVITES_LONG_METADATA:
    case NGX_HTTP_INVITES_BAD_EXPIRES_IN_DAYS:
    case NGX_HTTP_INVITES_BAD_LIMIT:
    case NGX_HTTP_INVITES_BAD_PAGE_TOKEN:
        break;

    default:
        fuzz_fail(__FILE__, __LINE__, "the parser returned a non-parse error");
    }

    if (fuzz_parse_whitespace(data, size)) {
        fuzz_check(err == NGX_HTTP_INVITES_OK, "blank body is {}");

    } else {
        fuzz_check((err == NGX_HTTP_INVITES_BAD_UTF8)
                   == !fuzz_utf8_valid(data, size),
                   "BAD_UTF8 exactly when the body is not strict UTF-8");
    }

    fuzz_parse_expect(data, size, &req, err);

    if (err != NGX_HTTP_INVITES_OK) {
        return 0;
    }

    for (i = 0; i < NGX_HTTP_INVITES_NFIELDS; i++) {
        f = &req.field[i];

        if (!f->present) {
            fuzz_check(f->len == 0 && !f->too_long, "absent field is empty");
            continue;
        }

        if (f->too_long) {
            fuzz_check(f->len == 0, "a too long field keeps no bytes");
            continue;
        }

        switch (fuzz_parse_fields[i].type) {

        case FUZZ_STRING:
            fuzz_check(f->len > 0, "a present field is not empty");
            fuzz_check(f->len <= fuzz_parse_fields[i].max,
                       "field within its limit");
            fuzz_check(memchr(f->data, '\0', f->len) == NULL,
                       "no NUL in field");
            fuzz_check(fuzz_utf8_valid(f->data, f->len), "field is UTF-8");
            break;

        case FUZZ_INTEGER:
            fuzz_check(f->number >= fuzz_parse_fields[i].lo
                       && f->number <= fuzz_parse_fields[i].hi,
                       "an integer field within its range");
            break;

        case FUZZ_OBJECT:
            fuzz_check(f->json != NULL && f->len >= 2
                       && f->len <= fuzz_parse_fields[i].max
                       && f->json >= data && f->json + f->len <= data + size
                       && f->json[0] == '{' && f->json[f->len - 1] == '}',
                       "an object field is a slice of the body, {...}");
            break;

        default:
            fuzz_fail(__FILE__, __LINE__, "a response-only field is present");
        }
    }

    return 0;
}


/* the fields of the body, as yajl's tree parser sees them */

static void
fuzz_parse_expect(const u_char *body, size_t len, ngx_http_invites_req_t *req,
    ngx_http_invites_err_e err)
{
    int           k;
    char         *copy, errbuf[128];
    size_t        i, slen;
    yajl_val      tree, v;
    yajl_val      vals[NGX_HTTP_INVITES_NFIELDS];
    const char   *s, *want[NGX_HTTP_INVITES_NFIELDS];

    if (fuzz_parse_whitespace(body, len)) {
        return;
    }

    copy = malloc(len + 1);
    if (copy == NULL) {
        return;
    }

    memcpy(copy, body, len);
    copy[len] = '\0';

    tree = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
    free(copy);

    if (err != NGX_HTTP_INVITES_OK) {
        fuzz_parse_reject(body, len, tree);
        yajl_tree_free(tree);
        return;
    }

    fuzz_check(tree != NULL, "what the parser accepts, yajl_tree accepts");
    fuzz_check(YAJL_IS_OBJECT(tree), "what the parser accepts is an object");

    memset(want, 0, sizeof(want));
    memset(vals, 0, sizeof(vals));

    for (i = 0; i < tree->u.object.len; i++) {
        k = fuzz_parse_field_index(tree->u.object.keys[i]);
        if (k < 0) {
            continue;
        }

        v = tree->u.object.values[i];
        vals[k] = v;

        if (fuzz_parse_fields[k].type != FUZZ_STRING) {
            continue;
        }

        fuzz_check(YAJL_IS_STRING(v) || YAJL_IS_NULL(v),
                   "an accepted string field is a string or null");

        s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
        want[k] = (s && s[0]) ? s : NULL;
    }

    for (k = 0; k < NGX_HTTP_INVITES_NFIELDS; k++) {
        if (fuzz_parse_fields[k].type == FUZZ_INTEGER) {
            fuzz_parse_expect_integer(&req->field[k], vals[k]);
            continue;
        }

        if (fuzz_parse_fields[k].type == FUZZ_OBJECT) {
            fuzz_parse_expect_object(&req->field[k], vals[k]);
            continue;
        }

        if (want[k] == NULL) {
            fuzz_check(!req->field[k].present, "field absent as in the tree");
            continue;
        }

        fuzz_check(req->field[k].present, "field present as in the tree");

        slen = strlen(want[k]);

        if (slen > fuzz_parse_fields[k].max) {
            fuzz_check(req->field[k].too_long, "a long field is too_long");
            continue;
        }

        fuzz_check(!req->field[k].too_long, "a short field is not too_long");
        fuzz_check(req->field[k].len == slen
                   && memcmp(req->field[k].data, want[k], slen) == 0,
                   "field value equals the tree's (last duplicate wins)");
    }

    yajl_tree_free(tree);
}


/*
 * The parser refused the body: then yajl_tree must refuse it too, unless
 * it is one of the things the parser refuses on purpose.  yajl_tree allows
 * comments and stops at a NUL byte, and escapes (\u0000, lone surrogates)
 * are the parser's business: bodies with '/', NUL or "\u" are not judged.
 * yajl_tree also takes a string cut off by the end after the object
 * ({}"abc), which the parser refuses with anything else but white space.
 */

static void
fuzz_parse_reject(const u_char *body, size_t len, yajl_val tree)
{
    int       k;
    size_t    i;
    yajl_val  v;

    if (tree == NULL || !YAJL_IS_OBJECT(tree)
        || !fuzz_utf8_valid(body, len)
        || memchr(body, '/', len) != NULL
        || memchr(body, '\0', len) != NULL
        || fuzz_parse_has(body, len, "\\u")
        || fuzz_parse_trailing(body, len))
    {
        return;
    }

    for (i = 0; i < tree->u.object.len; i++) {
        k = fuzz_parse_field_index(tree->u.object.keys[i]);
        v = tree->u.object.values[i];

        if (k < 0 || YAJL_IS_NULL(v)) {
            continue;
        }

        switch (fuzz_parse_fields[k].type) {

        case FUZZ_STRING:
            if (!YAJL_IS_STRING(v)) {
                return;
            }

            /* status is checked against its values by List, not here */
            break;

        case FUZZ_INTEGER:
            if (!YAJL_IS_INTEGER(v)
                || YAJL_GET_INTEGER(v) < fuzz_parse_fields[k].lo
                || YAJL_GET_INTEGER(v) > fuzz_parse_fields[k].hi)
            {
                return;
            }

            break;

        default:
            /* an object's size, nesting and numbers are not judged */
            return;
        }
    }

    fuzz_fail(__FILE__, __LINE__, "the parser refused a valid request");
}


static int
fuzz_parse_field_index(const char *key)
{
    int  k;

    if (strcmp(key, "groupId") == 0) {
        return NGX_HTTP_INVITES_F_GROUP_ID;
    }

    for (k = 0; k < NGX_HTTP_INVITES_NFIELDS; k++) {
        if (fuzz_parse_fields[k].name != NULL
            && strcmp(key, fuzz_parse_fields[k].name) == 0)
        {
            return k;
        }
    }

    return -1;
}


/* an integer field: the tree's integer, or absent */

static void
fuzz_parse_expect_integer(ngx_http_invites_field_t *f, yajl_val v)
{
    if (v == NULL || YAJL_IS_NULL(v)) {
        fuzz_check(!f->present, "an integer field absent as in the tree");
        return;
    }

    fuzz_check(YAJL_IS_INTEGER(v), "an accepted integer field is an integer");
    fuzz_check(f->present && f->number == YAJL_GET_INTEGER(v),
               "the integer field holds the tree's integer");
}


/* an object field: bytes that yajl_tree reads back as the same object */

static void
fuzz_parse_expect_object(ngx_http_invites_field_t *f, yajl_val v)
{
    char      *copy, errbuf[128];
    yajl_val   back;

    if (v == NULL || YAJL_IS_NULL(v)) {
        fuzz_check(!f->present, "an object field absent as in the tree");
        return;
    }

    fuzz_check(YAJL_IS_OBJECT(v), "an accepted object field is an object");
    fuzz_check(f->present, "the object field is present");

    if (f->too_long) {
        return;
    }

    copy = malloc(f->len + 1);
    if (copy == NULL) {
        return;
    }

    memcpy(copy, f->json, f->len);
    copy[f->len] = '\0';

    back = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
    free(copy);

    fuzz_check(back != NULL && YAJL_IS_OBJECT(back)
               && back->u.object.len == v->u.object.len,
               "the object field's bytes are the object");
    yajl_tree_free(back);
}


static int
fuzz_parse_whitespace(const u_char *body, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            return 0;
        }
    }

    return 1;
}


/* bytes other than yajl's white space after the top-level value */

static int
fuzz_parse_trailing(const u_char *body, size_t len)
{
    int     depth, in_string, escaped;
    size_t  i;

    depth = 0;
    in_string = 0;
    escaped = 0;

    for (i = 0; i < len; i++) {
        if (in_string) {
            if (escaped) {
                escaped = 0;

            } else if (body[i] == '\\') {
                escaped = 1;

            } else if (body[i] == '"') {
                in_string = 0;
            }

            continue;
        }

        if (body[i] == '"') {
            in_string = 1;

        } else if (body[i] == '{' || body[i] == '[') {
            depth++;

        } else if ((body[i] == '}' || body[i] == ']') && --depth == 0) {
            break;
        }
    }

    for (i++; i < len; i++) {
        if (body[i] != ' ' && (body[i] < '\t' || body[i] > '\r')) {
            return 1;
        }
    }

    return 0;
}


static int
fuzz_parse_has(const u_char *body, size_t len, const char *s)
{
    size_t  i, n;

    n = strlen(s);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(body + i, s, n) == 0) {
            return 1;
        }
    }

    return 0;
}
