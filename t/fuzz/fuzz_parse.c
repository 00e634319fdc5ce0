
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


/*
 * libFuzzer target: request body bytes -> ngx_http_invites_json_parse().
 *
 * Whatever the bytes, the parser returns one of its request errors or OK.
 * On OK every present field is within its limit (or flagged too_long), holds
 * no NUL and is valid UTF-8; and the fields are what yajl's tree parser,
 * run independently on the same body, finds there (the last of duplicate
 * keys wins, "" and null mean absent, "groupId" is group_id).
 */


#include "fuzz_util.h"

#include <string.h>

#include <yajl/yajl_tree.h>


static void fuzz_parse_expect(const u_char *body, size_t len,
    ngx_http_invites_req_t *req, ngx_http_invites_err_e err);
static void fuzz_parse_reject(const u_char *body, size_t len, yajl_val tree);
static int fuzz_parse_field_index(const char *key);
static int fuzz_parse_whitespace(const u_char *body, size_t len);
static int fuzz_parse_trailing(const u_char *body, size_t len);
static int fuzz_parse_has(const u_char *body, size_t len, const char *s);


static const size_t  fuzz_parse_limits[] = {
    NGX_HTTP_INVITES_MAX_FIELD,
    NGX_HTTP_INVITES_MAX_FIELD,
    NGX_HTTP_INVITES_MAX_EMAIL,
    NGX_HTTP_INVITES_MAX_FIELD
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

        fuzz_check(f->len > 0, "a present field is not empty");
        fuzz_check(f->len <= fuzz_parse_limits[i], "field within its limit");
        fuzz_check(memchr(f->data, '\0', f->len) == NULL, "no NUL in field");
        fuzz_check(fuzz_utf8_valid(f->data, f->len), "field is UTF-8");
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

    for (i = 0; i < tree->u.object.len; i++) {
        k = fuzz_parse_field_index(tree->u.object.keys[i]);
        if (k < 0) {
            continue;
        }

        v = tree->u.object.values[i];

        fuzz_check(YAJL_IS_STRING(v) || YAJL_IS_NULL(v),
                   "an accepted known field is a string or null");

        s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
        want[k] = (s && s[0]) ? s : NULL;
    }

    for (k = 0; k < NGX_HTTP_INVITES_NFIELDS; k++) {
        if (want[k] == NULL) {
            fuzz_check(!req->field[k].present, "field absent as in the tree");
            continue;
        }

        fuzz_check(req->field[k].present, "field present as in the tree");

        slen = strlen(want[k]);

        if (slen > fuzz_parse_limits[k]) {
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
    int     k;
    size_t  i;

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

        if (k >= 0 && !YAJL_IS_STRING(tree->u.object.values[i])
            && !YAJL_IS_NULL(tree->u.object.values[i]))
        {
            return;
        }
    }

    fuzz_fail(__FILE__, __LINE__, "the parser refused a valid request");
}


static int
fuzz_parse_field_index(const char *key)
{
    if (strcmp(key, "id") == 0) {
        return NGX_HTTP_INVITES_F_ID;
    }

    if (strcmp(key, "group_id") == 0 || strcmp(key, "groupId") == 0) {
        return NGX_HTTP_INVITES_F_GROUP_ID;
    }

    if (strcmp(key, "email") == 0) {
        return NGX_HTTP_INVITES_F_EMAIL;
    }

    if (strcmp(key, "code") == 0) {
        return NGX_HTTP_INVITES_F_CODE;
    }

    return -1;
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
