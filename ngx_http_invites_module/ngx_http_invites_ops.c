
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <sys/random.h>

#include "ngx_http_invites_ops.h"
#include "ngx_http_invites_fields.h"


#define NGX_HTTP_INVITES_COLUMNS  "id, group_id, email, code"

#define ngx_http_invites_alnum(c)                                             \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z')                 \
     || ((c) >= 'A' && (c) <= 'Z'))


static ngx_http_invites_err_e ngx_http_invites_op_create(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req);
static ngx_http_invites_err_e ngx_http_invites_op_read(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req);
static ngx_http_invites_err_e ngx_http_invites_op_list(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req);
static ngx_http_invites_err_e ngx_http_invites_op_delete(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req);
static ngx_int_t ngx_http_invites_op_none(ngx_http_invites_op_t *op,
    ngx_log_t *log, ngx_http_invites_answer_t *answer);
static ngx_int_t ngx_http_invites_op_regenerate(ngx_http_invites_op_t *op);
static void ngx_http_invites_op_param(ngx_http_invites_op_t *op,
    u_char *data, size_t len);
static void ngx_http_invites_op_field(ngx_http_invites_op_t *op,
    ngx_http_invites_field_t *f);
static ngx_int_t ngx_http_invites_email_valid(u_char *p, size_t len);
static void ngx_http_invites_lowcase(ngx_http_invites_field_t *f);
static ngx_int_t ngx_http_invites_uuid_valid(u_char *p, size_t len);
static ngx_int_t ngx_http_invites_random(u_char *buf, size_t len);


/* in the order of ngx_http_invites_endpoint_e */
static const ngx_http_invites_op_desc_t  ngx_http_invites_ops[] = {

    { ngx_string("create"), ngx_http_invites_op_create,
      NGX_HTTP_INVITES_NONE_AGAIN, NGX_HTTP_INVITES_SHAPE_INVITE },

    { ngx_string("read"), ngx_http_invites_op_read,
      NGX_HTTP_INVITES_NONE_NOT_FOUND, NGX_HTTP_INVITES_SHAPE_INVITE },

    { ngx_string("list"), ngx_http_invites_op_list,
      NGX_HTTP_INVITES_NONE_ANSWER, NGX_HTTP_INVITES_SHAPE_LIST },

    { ngx_string("delete"), ngx_http_invites_op_delete,
      NGX_HTTP_INVITES_NONE_ANSWER, NGX_HTTP_INVITES_SHAPE_EMPTY }
};


/* in the order of ngx_http_invites_stmt_e; the SQL is below */
static const ngx_http_invites_stmt_t  ngx_http_invites_stmts[] = {
    { "invites_create", 0 },
    { "invites_read_id", 1 },
    { "invites_read_code", 1 },
    { "invites_list_group", 0 },
    { "invites_list_email", 0 },
    { "invites_list_both", 0 },
    { "invites_delete", 0 }
};


/*
 * Every statement is prepared once per connection, in one round trip.
 *
 * Create inserts unless any key is taken.  When nothing was inserted, the
 * second branch finds the invite that already holds (tenant, group_id,
 * email); when it finds nothing either, the code (or id) collided, or a
 * concurrent insert of the same invite committed after this statement's
 * snapshot: the module retries with a new id and code.
 */

static const char  ngx_http_invites_prepare[] =

    "PREPARE invites_create (text, uuid, text, text, text) AS "
    "WITH ins AS ("
      "INSERT INTO invites (tenant, id, group_id, email, code) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING "
      "RETURNING " NGX_HTTP_INVITES_COLUMNS ") "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM ins "
    "UNION ALL "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $3 AND email = $4 "
      "AND NOT EXISTS (SELECT 1 FROM ins);"

    "PREPARE invites_read_id (text, uuid) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND id = $2;"

    "PREPARE invites_read_code (text, text) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND code = $2;"

    "PREPARE invites_list_group (text, text) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $2 ORDER BY created_at, id;"

    "PREPARE invites_list_email (text, text) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND email = $2 ORDER BY created_at, id;"

    "PREPARE invites_list_both (text, text, text) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $2 AND email = $3 "
    "ORDER BY created_at, id;"

    "PREPARE invites_delete (text, uuid) AS "
    "DELETE FROM invites WHERE tenant = $1 AND id = $2;";


ngx_int_t
ngx_http_invites_op_endpoint(ngx_str_t *name,
    ngx_http_invites_endpoint_e *endpoint)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_INVITES_NENDPOINTS; i++) {
        if (name->len == ngx_http_invites_ops[i].name.len
            && ngx_strncasecmp(name->data, ngx_http_invites_ops[i].name.data,
                               name->len)
               == 0)
        {
            *endpoint = (ngx_http_invites_endpoint_e) i;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* the lowercase name: it labels metrics and $invites_endpoint */

ngx_str_t *
ngx_http_invites_op_endpoint_name(ngx_http_invites_endpoint_e endpoint)
{
    return (ngx_str_t *) &ngx_http_invites_ops[endpoint].name;
}


/* validates the request and fills the statement's parameters */

ngx_http_invites_err_e
ngx_http_invites_op_init(ngx_http_invites_op_t *op,
    ngx_http_invites_endpoint_e endpoint, ngx_http_invites_req_t *req,
    ngx_str_t *tenant, ngx_uint_t code_len)
{
    /* the buffers are filled before use: only the scalars need a start */

    op->desc = &ngx_http_invites_ops[endpoint];
    op->stmt = NULL;
    op->direct = 0;
    op->direct_err = NGX_HTTP_INVITES_OK;
    op->attempts = 0;
    op->code_len = code_len;
    op->nparams = 0;

    if (tenant->len > NGX_HTTP_INVITES_MAX_TENANT) {
        return NGX_HTTP_INVITES_BAD_TENANT;
    }

    ngx_memcpy(op->tenant, tenant->data, tenant->len);
    op->tenant[tenant->len] = '\0';
    ngx_http_invites_op_param(op, op->tenant, tenant->len);

    return op->desc->validate(op, req);
}


static ngx_http_invites_err_e
ngx_http_invites_op_create(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req)
{
    ngx_http_invites_field_t  *group, *email;

    group = &req->field[NGX_HTTP_INVITES_F_GROUP_ID];
    email = &req->field[NGX_HTTP_INVITES_F_EMAIL];

    if (!group->present) {
        return NGX_HTTP_INVITES_MISSING_GROUP_ID;
    }

    if (group->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_GROUP_ID].too_long;
    }

    if (!email->present) {
        return NGX_HTTP_INVITES_MISSING_EMAIL;
    }

    if (email->too_long
        || ngx_http_invites_email_valid(email->data, email->len) != NGX_OK)
    {
        return NGX_HTTP_INVITES_INVALID_EMAIL;
    }

    ngx_http_invites_lowcase(email);

    op->stmt = &ngx_http_invites_stmts[NGX_HTTP_INVITES_STMT_CREATE];

    if (ngx_http_invites_op_regenerate(op) != NGX_OK) {
        return NGX_HTTP_INVITES_DB_ERROR;
    }

    ngx_http_invites_op_param(op, op->id, sizeof(op->id) - 1);
    ngx_http_invites_op_field(op, group);
    ngx_http_invites_op_field(op, email);
    ngx_http_invites_op_param(op, op->code, op->code_len);

    return NGX_HTTP_INVITES_OK;
}


static ngx_http_invites_err_e
ngx_http_invites_op_read(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req)
{
    ngx_http_invites_field_t  *id, *code;

    id = &req->field[NGX_HTTP_INVITES_F_ID];
    code = &req->field[NGX_HTTP_INVITES_F_CODE];

    if (id->present) {

        if (ngx_http_invites_uuid_valid(id->data, id->len) != NGX_OK) {
            /* no invite has an id that is not a UUID */
            op->direct = 1;
            op->direct_err = NGX_HTTP_INVITES_NOT_FOUND;
            return NGX_HTTP_INVITES_OK;
        }

        op->stmt = &ngx_http_invites_stmts[NGX_HTTP_INVITES_STMT_READ_ID];
        ngx_http_invites_op_field(op, id);

        return NGX_HTTP_INVITES_OK;
    }

    if (!code->present) {
        return NGX_HTTP_INVITES_ID_OR_CODE_REQUIRED;
    }

    if (code->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_CODE].too_long;
    }

    op->stmt = &ngx_http_invites_stmts[NGX_HTTP_INVITES_STMT_READ_CODE];
    ngx_http_invites_op_field(op, code);

    return NGX_HTTP_INVITES_OK;
}


static ngx_http_invites_err_e
ngx_http_invites_op_list(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req)
{
    ngx_http_invites_field_t  *group, *email;

    group = &req->field[NGX_HTTP_INVITES_F_GROUP_ID];
    email = &req->field[NGX_HTTP_INVITES_F_EMAIL];

    if (!group->present && !email->present) {
        return NGX_HTTP_INVITES_GROUP_ID_OR_EMAIL_REQUIRED;
    }

    if (group->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_GROUP_ID].too_long;
    }

    if (email->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_EMAIL].too_long;
    }

    ngx_http_invites_lowcase(email);

    if (group->present) {
        ngx_http_invites_op_field(op, group);
    }

    if (email->present) {
        ngx_http_invites_op_field(op, email);
    }

    op->stmt = &ngx_http_invites_stmts[
                   !email->present ? NGX_HTTP_INVITES_STMT_LIST_GROUP
                   : !group->present ? NGX_HTTP_INVITES_STMT_LIST_EMAIL
                   : NGX_HTTP_INVITES_STMT_LIST_BOTH];

    return NGX_HTTP_INVITES_OK;
}


static ngx_http_invites_err_e
ngx_http_invites_op_delete(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req)
{
    ngx_http_invites_field_t  *id;

    id = &req->field[NGX_HTTP_INVITES_F_ID];

    if (!id->present) {
        return NGX_HTTP_INVITES_MISSING_ID;
    }

    if (ngx_http_invites_uuid_valid(id->data, id->len) != NGX_OK) {
        /* deleting what cannot exist succeeds, as deleting twice does */
        op->direct = 1;
        op->direct_err = NGX_HTTP_INVITES_OK;
        return NGX_HTTP_INVITES_OK;
    }

    op->stmt = &ngx_http_invites_stmts[NGX_HTTP_INVITES_STMT_DELETE];
    ngx_http_invites_op_field(op, id);

    return NGX_HTTP_INVITES_OK;
}


static void
ngx_http_invites_op_param(ngx_http_invites_op_t *op, u_char *data,
    size_t len)
{
    op->values[op->nparams] = (const char *) data;
    op->lengths[op->nparams] = (int) len;
    op->nparams++;
}


static void
ngx_http_invites_op_field(ngx_http_invites_op_t *op,
    ngx_http_invites_field_t *f)
{
    ngx_http_invites_op_param(op, f->data, f->len);
}


/* a new random UUID v4 and code for Create, in place */

static ngx_int_t
ngx_http_invites_op_regenerate(ngx_http_invites_op_t *op)
{
    u_char           *p;
    uint64_t          v, low, span, limit;
    ngx_uint_t        i;
    u_char            rnd[16];
    static u_char     hex[] = "0123456789abcdef";

    if (op->attempts++ >= NGX_HTTP_INVITES_CREATE_ATTEMPTS) {
        return NGX_DECLINED;
    }

    if (ngx_http_invites_random(rnd, sizeof(rnd)) != NGX_OK) {
        return NGX_ERROR;
    }

    rnd[6] = (rnd[6] & 0x0f) | 0x40;
    rnd[8] = (rnd[8] & 0x3f) | 0x80;

    p = op->id;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }

        *p++ = hex[rnd[i] >> 4];
        *p++ = hex[rnd[i] & 0x0f];
    }

    *p = '\0';

    /*
     * Uniform in 10..0 .. 99..9 of code_len digits: no leading zero, as
     * m3o's codes; values past the last whole span are drawn again.
     */

    low = 1;

    for (i = 1; i < op->code_len; i++) {
        low *= 10;
    }

    span = low * 9;
    limit = UINT64_MAX - UINT64_MAX % span;

    do {
        if (ngx_http_invites_random((u_char *) &v, sizeof(v)) != NGX_OK) {
            return NGX_ERROR;
        }

    } while (v >= limit);

    v = low + v % span;

    op->code[op->code_len] = '\0';

    for (i = op->code_len; i > 0; i--) {
        op->code[i - 1] = (u_char) ('0' + v % 10);
        v /= 10;
    }

    return NGX_OK;
}


const char *
ngx_http_invites_op_prepare_sql(void)
{
    return ngx_http_invites_prepare;
}


/*
 * Maps a statement's result to the answer.  NGX_AGAIN asks for the
 * statement to run again, with the new parameters the op now holds.
 */

ngx_int_t
ngx_http_invites_op_rows(ngx_http_invites_op_t *op,
    ngx_http_invites_db_result_t *res, ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_invites_answer_t *answer)
{
    ngx_uint_t                  i, k;
    ngx_http_invites_invite_t  *inv;

    answer->err = NGX_HTTP_INVITES_OK;
    answer->shape = op->desc->shape;
    answer->invites = NULL;
    answer->n = 0;

    switch (res->kind) {

    case NGX_HTTP_INVITES_DB_ROWS:
        break;

    case NGX_HTTP_INVITES_DB_NONE:
        return ngx_http_invites_op_none(op, log, answer);

    default:
        answer->err = ngx_http_invites_db_err(res->kind);
        return NGX_OK;
    }

    if (op->desc->shape == NGX_HTTP_INVITES_SHAPE_EMPTY) {
        return NGX_OK;
    }

    if (res->ncols != NGX_HTTP_INVITES_NCOLUMNS) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "invites: %s returned %ui columns instead of %d",
                      op->stmt->name, res->ncols, NGX_HTTP_INVITES_NCOLUMNS);
        answer->err = NGX_HTTP_INVITES_DB_ERROR;
        return NGX_OK;
    }

    inv = ngx_palloc(pool, res->nrows * sizeof(ngx_http_invites_invite_t));
    if (inv == NULL) {
        answer->err = NGX_HTTP_INVITES_DB_ERROR;
        return NGX_OK;
    }

    for (i = 0; i < res->nrows; i++) {
        for (k = 0; k < NGX_HTTP_INVITES_NCOLUMNS; k++) {
            ngx_http_invites_db_value(res, i, k, &inv[i].value[k]);
        }
    }

    answer->invites = inv;
    answer->n = res->nrows;

    return NGX_OK;
}


/* a statement returned no row: what the operation makes of that */

static ngx_int_t
ngx_http_invites_op_none(ngx_http_invites_op_t *op, ngx_log_t *log,
    ngx_http_invites_answer_t *answer)
{
    switch (op->desc->none) {

    case NGX_HTTP_INVITES_NONE_ANSWER:
        return NGX_OK;

    case NGX_HTTP_INVITES_NONE_NOT_FOUND:
        answer->err = NGX_HTTP_INVITES_NOT_FOUND;
        return NGX_OK;

    default: /* NGX_HTTP_INVITES_NONE_AGAIN */
        break;
    }

    switch (ngx_http_invites_op_regenerate(op)) {

    case NGX_OK:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "invites: %s collided, retrying", op->stmt->name);
        return NGX_AGAIN;

    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "invites: create found neither a free code nor "
                      "the existing invite after %d attempts",
                      NGX_HTTP_INVITES_CREATE_ATTEMPTS);
        break;

    default:
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "invites: getrandom() failed");
        break;
    }

    answer->err = NGX_HTTP_INVITES_DB_ERROR;

    return NGX_OK;
}


/*
 * The m3o rule: a local part of [a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-], "@", and
 * dot-separated labels of letters, digits and inner hyphens, each at most
 * 63 long; at most 254 in all.
 */

static ngx_int_t
ngx_http_invites_email_valid(u_char *p, size_t len)
{
    u_char     c, *at, *end, *label;
    static const char  local[] = ".!#$%&'*+/=?^_`{|}~-";

    if (len > NGX_HTTP_INVITES_MAX_EMAIL) {
        return NGX_DECLINED;
    }

    end = p + len;
    at = ngx_strlchr(p, end, '@');

    if (at == NULL || at == p || at + 1 == end) {
        return NGX_DECLINED;
    }

    for ( /* void */ ; p < at; p++) {
        c = *p;

        if (!ngx_http_invites_alnum(c)
            && (c == '\0' || strchr(local, c) == NULL))
        {
            return NGX_DECLINED;
        }
    }

    label = at + 1;

    for (p = label; p <= end; p++) {

        if (p == end || *p == '.') {

            if (p == label || p - label > 63
                || *label == '-' || *(p - 1) == '-')
            {
                return NGX_DECLINED;
            }

            label = p + 1;
            continue;
        }

        c = *p;

        if (!ngx_http_invites_alnum(c) && c != '-') {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static void
ngx_http_invites_lowcase(ngx_http_invites_field_t *f)
{
    size_t  i;

    for (i = 0; i < f->len; i++) {
        f->data[i] = ngx_tolower(f->data[i]);
    }
}


/* the canonical 8-4-4-4-12 form, in either case */

static ngx_int_t
ngx_http_invites_uuid_valid(u_char *p, size_t len)
{
    size_t  i;

    if (len != 36) {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-') {
                return NGX_DECLINED;
            }

            continue;
        }

        if (!ngx_http_invites_alnum(p[i])
            || (ngx_tolower(p[i]) > 'f' && p[i] > '9'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_invites_random(u_char *buf, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = getrandom(buf, len, 0);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            return NGX_ERROR;
        }

        buf += n;
        len -= n;
    }

    return NGX_OK;
}
