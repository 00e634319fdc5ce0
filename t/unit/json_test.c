
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


/*
 * The request parser and response writer, linked alone, without the nginx
 * runtime.  Reads cases from stdin, one a line: "<ERROR> <body>", where the
 * body may hold \xHH escapes; prints TAP for t/015-json.t.
 */


#include <stdio.h>

#include "ngx_http_invites_json.h"


typedef struct {
    const char              *name;
    ngx_http_invites_err_e   err;
} json_test_name_t;


static ngx_int_t json_test_err(const char *name, ngx_http_invites_err_e *err);
static size_t json_test_unescape(const char *in, u_char *out);
static void json_test_gen(yajl_gen g, const char *expected, const char *what);


static json_test_name_t  json_test_names[] = {
    { "OK", NGX_HTTP_INVITES_OK },
    { "BAD_JSON", NGX_HTTP_INVITES_BAD_JSON },
    { "NOT_OBJECT", NGX_HTTP_INVITES_NOT_OBJECT },
    { "BAD_UTF8", NGX_HTTP_INVITES_BAD_UTF8 },
    { "BAD_ID", NGX_HTTP_INVITES_BAD_ID },
    { "BAD_GROUP_ID", NGX_HTTP_INVITES_BAD_GROUP_ID },
    { "BAD_EMAIL", NGX_HTTP_INVITES_BAD_EMAIL },
    { "BAD_CODE", NGX_HTTP_INVITES_BAD_CODE },
    { "NUL_CHAR", NGX_HTTP_INVITES_NUL_CHAR },
    { "SURROGATE", NGX_HTTP_INVITES_SURROGATE },
    { NULL, NGX_HTTP_INVITES_OK }
};

static int  json_test_n;
static int  json_test_failed;


int
main(void)
{
    char                        *body, *sp, line[1 << 17];
    u_char                       buf[1 << 17];
    size_t                       len;
    ngx_http_invites_req_t       req;
    ngx_http_invites_err_e       err, want;
    ngx_http_invites_invite_t    inv;

    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';

        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }

        sp = strchr(line, ' ');
        body = sp ? sp + 1 : line + strlen(line);

        if (sp) {
            *sp = '\0';
        }

        if (json_test_err(line, &want) != NGX_OK) {
            printf("Bail out! unknown error name %s\n", line);
            return 2;
        }

        len = json_test_unescape(body, buf);
        err = ngx_http_invites_json_parse(buf, len, &req, NULL);

        json_test_n++;
        json_test_failed += (err != want);

        printf("%sok %d - %s: %s\n", err == want ? "" : "not ", json_test_n,
               line, body);

        if (err == want && err == NGX_HTTP_INVITES_OK
            && req.field[NGX_HTTP_INVITES_F_GROUP_ID].present)
        {
            printf("# group_id=%.*s\n",
                   (int) req.field[NGX_HTTP_INVITES_F_GROUP_ID].len,
                   req.field[NGX_HTTP_INVITES_F_GROUP_ID].data);
        }
    }

    ngx_str_set(&inv.id, "x\"y\\z");
    ngx_str_set(&inv.group_id, "line\nbreak\x01");
    ngx_str_set(&inv.email, "\xc3\xa9@e");
    ngx_str_set(&inv.code, "12345678");

    json_test_gen(ngx_http_invites_json_invite(&inv, NULL),
                  "{\"invite\":{\"id\":\"x\\\"y\\\\z\","
                  "\"group_id\":\"line\\nbreak\\u0001\","
                  "\"email\":\"\xc3\xa9@e\",\"code\":\"12345678\"}}",
                  "writer escapes quotes, backslashes and controls");

    json_test_gen(ngx_http_invites_json_list(&inv, 0, NULL), "{\"invites\":[]}",
                  "an empty list is an empty array");

    json_test_gen(ngx_http_invites_json_empty(NULL), "{}", "Delete's answer");

    json_test_gen(ngx_http_invites_json_error(
                      NGX_HTTP_INVITES_MISSING_GROUP_ID, NULL),
                  "{\"id\":\"MISSING_GROUP_ID\",\"code\":400,"
                  "\"detail\":\"Missing GroupID\",\"status\":\"Bad Request\"}",
                  "the micro error shape");

    ngx_str_set(&inv.email, "\xff");

    json_test_gen(ngx_http_invites_json_invite(&inv, NULL), NULL,
                  "writer refuses a value that is not UTF-8");

    printf("1..%d\n", json_test_n);

    return json_test_failed ? 1 : 0;
}


static ngx_int_t
json_test_err(const char *name, ngx_http_invites_err_e *err)
{
    json_test_name_t  *t;

    for (t = json_test_names; t->name; t++) {
        if (strcmp(t->name, name) == 0) {
            *err = t->err;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


static size_t
json_test_unescape(const char *in, u_char *out)
{
    char     hex[3];
    u_char  *p;

    p = out;

    while (*in) {
        if (in[0] == '\\' && in[1] == 'x' && in[2] && in[3]) {
            hex[0] = in[2];
            hex[1] = in[3];
            hex[2] = '\0';
            *p++ = (u_char) strtoul(hex, NULL, 16);
            in += 4;
            continue;
        }

        *p++ = (u_char) *in++;
    }

    return p - out;
}


static void
json_test_gen(yajl_gen g, const char *expected, const char *what)
{
    int            ok;
    size_t         len;
    const u_char  *buf;

    json_test_n++;

    if (g == NULL) {
        ok = (expected == NULL);
        printf("%sok %d - %s (no output)\n", ok ? "" : "not ", json_test_n,
               what);
        json_test_failed += !ok;
        return;
    }

    yajl_gen_get_buf(g, &buf, &len);

    ok = expected && len == strlen(expected) && memcmp(buf, expected, len) == 0;

    printf("%sok %d - %s\n", ok ? "" : "not ", json_test_n, what);

    if (!ok) {
        printf("# got %.*s\n", (int) len, buf);
    }

    json_test_failed += !ok;

    yajl_gen_free(g);
}
