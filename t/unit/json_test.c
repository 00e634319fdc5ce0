
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


/*
 * The request parser and response writer, linked alone, without the nginx
 * runtime.  Reads cases from stdin, one a line: "<ERROR> <body>", where the
 * body may hold \xHH escapes; prints TAP for t/015-json.t.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdio.h>

#include "ngx_http_invites_json.h"


typedef struct {
    const char              *name;
    ngx_http_invites_err_e   err;
} json_test_name_t;


static ngx_int_t json_test_err(const char *name, ngx_http_invites_err_e *err);
static size_t json_test_unescape(const char *in, u_char *out);
static void json_test_out(ngx_int_t rc, ngx_str_t *out, const char *expected,
    const char *what);
static void json_test_error_texts(void);
static void json_test_time(const char *us, const char *want,
    const char *name);
static int json_test_plain(const ngx_str_t *s);


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
    ngx_str_t                    out;
    ngx_http_invites_req_t       req;
    ngx_http_invites_err_e       err, want;
    ngx_http_invites_invite_t    inv, pair[2];

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

    /* only m3o's four fields are set: the others are not written */
    memset(&inv, 0, sizeof(inv));
    memset(pair, 0, sizeof(pair));

    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_ID], "x\"y\\z");
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_GROUP_ID], "line\nbreak\x01");
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_EMAIL], "\xc3\xa9@e");
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_CODE], "12345678");

    json_test_out(ngx_http_invites_json_invite(&inv, 0, NULL, &out), &out,
                  "{\"invite\":{\"id\":\"x\\\"y\\\\z\","
                  "\"group_id\":\"line\\nbreak\\u0001\","
                  "\"email\":\"\xc3\xa9@e\",\"code\":\"12345678\"}}",
                  "writer escapes quotes, backslashes and controls");

    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_ID], "\b\f\r\t\x1f\x7f/");
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_GROUP_ID], "");

    json_test_out(ngx_http_invites_json_list(&inv, 1, NULL, 0, NULL, &out),
                  &out,
                  "{\"invites\":[{\"id\":\"\\b\\f\\r\\t\\u001F\x7f/\","
                  "\"group_id\":\"\","
                  "\"email\":\"\xc3\xa9@e\",\"code\":\"12345678\"}]}",
                  "short escapes, \\u00XX for the other controls, "
                  "DEL and solidus as they are");

    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_ID], "0123456789\"abcdef");
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_GROUP_ID],
                "0123456\\89abcdef");
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_EMAIL],
                "012\xc3\xa9" "6789abcdef@e");
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_CODE], "01234567\n");

    json_test_out(ngx_http_invites_json_invite(&inv, 0, NULL, &out), &out,
                  "{\"invite\":{\"id\":\"0123456789\\\"abcdef\","
                  "\"group_id\":\"0123456\\\\89abcdef\","
                  "\"email\":\"012\xc3\xa9" "6789abcdef@e\","
                  "\"code\":\"01234567\\n\"}}",
                  "a quote, a backslash, UTF-8 or a control found anywhere "
                  "in a long value");

    json_test_out(ngx_http_invites_json_list(&inv, 0, NULL, 0, NULL, &out),
                  &out,
                  "{\"invites\":[]}", "an empty list is an empty array");

    pair[0] = inv;
    ngx_str_set(&pair[1].value[NGX_HTTP_INVITES_F_ID], "a");
    ngx_str_set(&pair[1].value[NGX_HTTP_INVITES_F_GROUP_ID], "g");
    ngx_str_set(&pair[1].value[NGX_HTTP_INVITES_F_EMAIL], "\xc3\xa9@e");
    ngx_str_set(&pair[1].value[NGX_HTTP_INVITES_F_CODE], "1");

    json_test_out(ngx_http_invites_json_list(pair, 2, NULL, 0, NULL, &out),
                  &out,
                  "{\"invites\":[{\"id\":\"0123456789\\\"abcdef\","
                  "\"group_id\":\"0123456\\\\89abcdef\","
                  "\"email\":\"012\xc3\xa9" "6789abcdef@e\","
                  "\"code\":\"01234567\\n\"},"
                  "{\"id\":\"a\",\"group_id\":\"g\","
                  "\"email\":\"\xc3\xa9@e\",\"code\":\"1\"}]}",
                  "a list escapes the rows that need it, and only those");

    pair[0] = pair[1];

    json_test_out(ngx_http_invites_json_list(pair, 2, NULL, 0, NULL, &out),
                  &out,
                  "{\"invites\":[{\"id\":\"a\",\"group_id\":\"g\","
                  "\"email\":\"\xc3\xa9@e\",\"code\":\"1\"},"
                  "{\"id\":\"a\",\"group_id\":\"g\","
                  "\"email\":\"\xc3\xa9@e\",\"code\":\"1\"}]}",
                  "a list with nothing to escape, UTF-8 as it is");


    json_test_out(ngx_http_invites_json_empty(NULL, &out), &out, "{}",
                  "Delete's answer");

    json_test_out(ngx_http_invites_json_error(
                      NGX_HTTP_INVITES_MISSING_GROUP_ID, NULL, &out), &out,
                  "{\"id\":\"MISSING_GROUP_ID\",\"code\":400,"
                  "\"detail\":\"Missing GroupID\",\"status\":\"Bad Request\"}",
                  "the micro error shape");

    json_test_error_texts();

    json_test_time("0", "1970-01-01T00:00:00.000Z", "the epoch");
    json_test_time("-1", "1969-12-31T23:59:59.999Z",
                   "a microsecond before it, rounded down");
    json_test_time("951827696789999", "2000-02-29T12:34:56.789Z",
                   "a leap day, milliseconds cut, not rounded");
    json_test_time("253402300799999999", "9999-12-31T23:59:59.999Z",
                   "the last time RFC 3339 has");
    json_test_time("253402300800000000", "9999-12-31T23:59:59.999Z",
                   "later ones are written as that");
    json_test_time("9223372036854775807", "9999-12-31T23:59:59.999Z",
                   "the largest int8 as well");
    json_test_time("-62167219200000001", "0000-01-01T00:00:00.000Z",
                   "and earlier ones as the first");

    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_EMAIL], "\xff");

    json_test_out(ngx_http_invites_json_invite(&inv, 0, NULL, &out), &out,
                  NULL,
                  "writer refuses a value that is not UTF-8");

    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_EMAIL], "\xed\xa0\x80@e");

    json_test_out(ngx_http_invites_json_invite(&inv, 0, NULL, &out), &out,
                  NULL,
                  "writer refuses a UTF-8-encoded surrogate");

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
json_test_out(ngx_int_t rc, ngx_str_t *out, const char *expected,
    const char *what)
{
    int  ok;

    json_test_n++;

    if (rc != NGX_OK) {
        ok = (expected == NULL);
        printf("%sok %d - %s (no output)\n", ok ? "" : "not ", json_test_n,
               what);
        json_test_failed += !ok;
        return;
    }

    ok = expected && out->len == strlen(expected)
         && memcmp(out->data, expected, out->len) == 0;

    printf("%sok %d - %s\n", ok ? "" : "not ", json_test_n, what);

    if (!ok) {
        printf("# got %.*s\n", (int) out->len, out->data);
    }

    json_test_failed += !ok;

    free(out->data);
}


/* the error writer copies its texts as they are: none may need escaping */

static void
json_test_error_texts(void)
{
    int                              ok;
    size_t                           i, k;
    const ngx_str_t                 *t[3];
    const ngx_http_invites_error_t  *e;

    ok = 1;

    for (i = 0; i < NGX_HTTP_INVITES_NERRORS; i++) {
        e = ngx_http_invites_error((ngx_http_invites_err_e) i);
        t[0] = &e->id;
        t[1] = &e->detail;
        t[2] = &e->status_text;

        for (k = 0; k < 3; k++) {
            ok &= json_test_plain(t[k]);
        }

        ok &= (e->status >= 100 && e->status <= 999);
    }

    json_test_n++;
    json_test_failed += !ok;

    printf("%sok %d - every error text is plain ASCII, every status 3 digits\n",
           ok ? "" : "not ", json_test_n);
}


static int
json_test_plain(const ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] >= 0x7f || s->data[i] == '"'
            || s->data[i] == '\\')
        {
            return 0;
        }
    }

    return 1;
}


/* a created_at column of microseconds, as the writer shows it */

static void
json_test_time(const char *us, const char *want, const char *name)
{
    char                        expect[256];
    ngx_str_t                   out;
    ngx_http_invites_invite_t   inv;

    memset(&inv, 0, sizeof(inv));
    ngx_str_set(&inv.value[NGX_HTTP_INVITES_F_ID], "i");
    inv.value[NGX_HTTP_INVITES_F_CREATED_AT].data = (u_char *) us;
    inv.value[NGX_HTTP_INVITES_F_CREATED_AT].len = strlen(us);

    snprintf(expect, sizeof(expect),
             "{\"invite\":{\"id\":\"i\",\"created_at\":\"%s\"}}", want);

    json_test_out(ngx_http_invites_json_invite(&inv, 0, NULL, &out), &out,
                  expect, name);
}
