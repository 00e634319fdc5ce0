
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <sys/random.h>

#include "ngx_http_invites_ops.h"
#include "ngx_http_invites_fields.h"


/*
 * An invite's columns, in the order of ngx_http_invites_field_e: a pending
 * invite past its expiry reads as expired, and times are microseconds
 * since the epoch (exact, so that a page ends on exactly its last row).
 */

#define NGX_HTTP_INVITES_STATUS                                               \
    "CASE WHEN status = 'pending' AND expires_at <= now() "                   \
    "THEN 'expired' ELSE status END"

#define NGX_HTTP_INVITES_COLUMNS                                              \
    "id, group_id, email, code, " NGX_HTTP_INVITES_STATUS ", "                \
    "(extract(epoch FROM created_at) * 1000000)::int8, "                      \
    "(extract(epoch FROM expires_at) * 1000000)::int8, "                      \
    "(extract(epoch FROM accepted_at) * 1000000)::int8, "                     \
    "(extract(epoch FROM revoked_at) * 1000000)::int8, "                      \
    "metadata"

/*
 * A List's status filter, on status itself (so that the planner can tell
 * how many rows it keeps) rather than on the expression that reads it.
 */
#define NGX_HTTP_INVITES_STATUS_IS_3                                          \
    "AND ($3::text IS NULL OR (status = CASE WHEN $3 = 'expired' "            \
    "THEN 'pending' ELSE $3 END "                                             \
    "AND ($3 <> 'pending' OR expires_at IS NULL OR expires_at > now()) "      \
    "AND ($3 <> 'expired' OR expires_at <= now()))) "

#define NGX_HTTP_INVITES_STATUS_IS_4                                          \
    "AND ($4::text IS NULL OR (status = CASE WHEN $4 = 'expired' "            \
    "THEN 'pending' ELSE $4 END "                                             \
    "AND ($4 <> 'pending' OR expires_at IS NULL OR expires_at > now()) "      \
    "AND ($4 <> 'expired' OR expires_at <= now()))) "

/* a page goes on after the row of a page token: (created_at, id) */
#define NGX_HTTP_INVITES_AFTER                                                \
    "AND (created_at, id) > "                                                 \
    "('epoch'::timestamptz + $4 * interval '1 microsecond', $5) "

#define NGX_HTTP_INVITES_AFTER_BOTH                                           \
    "AND (created_at, id) > "                                                 \
    "('epoch'::timestamptz + $5 * interval '1 microsecond', $6) "

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
static ngx_http_invites_err_e ngx_http_invites_op_redeem(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req);
static ngx_http_invites_err_e ngx_http_invites_op_revoke(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req);
static ngx_http_invites_err_e ngx_http_invites_op_by_id(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req,
    ngx_http_invites_stmt_e stmt, ngx_http_invites_err_e none);
static ngx_int_t ngx_http_invites_redeem_unchanged(ngx_str_t *status,
    ngx_http_invites_err_e *err);
static ngx_int_t ngx_http_invites_revoke_unchanged(ngx_str_t *status,
    ngx_http_invites_err_e *err);
static ngx_int_t ngx_http_invites_op_unchanged(ngx_http_invites_op_t *op,
    ngx_http_invites_db_result_t *res, ngx_log_t *log,
    ngx_http_invites_answer_t *answer);
static ngx_uint_t ngx_http_invites_op_stale(ngx_str_t *status);
static ngx_int_t ngx_http_invites_op_none(ngx_http_invites_op_t *op,
    ngx_log_t *log, ngx_http_invites_answer_t *answer);
static ngx_int_t ngx_http_invites_op_again(ngx_http_invites_op_t *op,
    ngx_log_t *log, ngx_http_invites_answer_t *answer);
static ngx_int_t ngx_http_invites_op_next_token(ngx_http_invites_op_t *op,
    ngx_http_invites_invite_t *last, ngx_pool_t *pool, ngx_str_t *token);
static ngx_int_t ngx_http_invites_op_after(ngx_http_invites_op_t *op,
    ngx_http_invites_field_t *token);
static ngx_int_t ngx_http_invites_status_valid(ngx_http_invites_field_t *f);
static void ngx_http_invites_op_null(ngx_http_invites_op_t *op);
static void ngx_http_invites_op_number(ngx_http_invites_op_t *op,
    u_char *buf, int64_t n);
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
      NGX_HTTP_INVITES_NONE_AGAIN, NGX_HTTP_INVITES_SHAPE_INVITE, NULL, 1 },

    { ngx_string("read"), ngx_http_invites_op_read,
      NGX_HTTP_INVITES_NONE_NOT_FOUND, NGX_HTTP_INVITES_SHAPE_INVITE, NULL,
      0 },

    { ngx_string("list"), ngx_http_invites_op_list,
      NGX_HTTP_INVITES_NONE_ANSWER, NGX_HTTP_INVITES_SHAPE_LIST, NULL, 0 },

    { ngx_string("delete"), ngx_http_invites_op_delete,
      NGX_HTTP_INVITES_NONE_ANSWER, NGX_HTTP_INVITES_SHAPE_EMPTY, NULL, 0 },

    { ngx_string("redeem"), ngx_http_invites_op_redeem,
      NGX_HTTP_INVITES_NONE_NOT_FOUND, NGX_HTTP_INVITES_SHAPE_INVITE,
      ngx_http_invites_redeem_unchanged, 0 },

    { ngx_string("revoke"), ngx_http_invites_op_revoke,
      NGX_HTTP_INVITES_NONE_NOT_FOUND, NGX_HTTP_INVITES_SHAPE_INVITE,
      ngx_http_invites_revoke_unchanged, 0 }
};


/*
 * In the order of ngx_http_invites_stmt_e; the SQL is below.  A Redeem
 * run again after its connection broke might find the invite its first
 * run accepted and answer 409: it is answered 503 instead.
 */
static const ngx_http_invites_stmt_t  ngx_http_invites_stmts[] = {
    { "invites_create", 0, 0 },
    { "invites_read_id", 1, 0 },
    { "invites_read_code", 1, 0 },
    { "invites_list_group", 0, 0 },
    { "invites_list_group_after", 0, 0 },
    { "invites_list_email", 0, 0 },
    { "invites_list_email_after", 0, 0 },
    { "invites_list_both", 0, 0 },
    { "invites_list_both_after", 0, 0 },
    { "invites_delete", 0, 0 },
    { "invites_redeem_id", 0, 1 },
    { "invites_redeem_code", 0, 1 },
    { "invites_revoke", 0, 0 }
};


/* a List's status filter: what the status column reads */
static const ngx_str_t  ngx_http_invites_statuses[] = {
    ngx_string("pending"),
    ngx_string("accepted"),
    ngx_string("revoked"),
    ngx_string("expired")
};


/*
 * Every statement is prepared once per connection, in one round trip.
 *
 * Create inserts unless any key is taken.  When nothing was inserted, the
 * second branch renews the invite of (tenant, group_id, email) if it was
 * revoked or has expired: a new code, pending again, a new expiry.  The
 * third finds the invite as it is.  When all three find nothing, the code
 * (or id) collided, or a concurrent insert of the same invite committed
 * after this statement's snapshot: the module retries with a new id and
 * code, as it does when the renewed code is taken.
 *
 * Redeem and Revoke change a row only from pending, and say whether they
 * did in a last column; when they did not, the row as it is says why.  A
 * row that reads as pending although it was not changed was changed by a
 * concurrent statement after this one's snapshot: it runs again.
 *
 * List runs on the index of (tenant, key, created_at, id), with LIMIT the
 * page's size and one more (to know whether another page follows), and
 * one statement per first and later page so that the later pages' start is
 * an index bound, not a filter.
 */

static const char  ngx_http_invites_prepare[] =

    "PREPARE invites_create (text, uuid, text, text, text, int8, jsonb) AS "
    "WITH ins AS ("
      "INSERT INTO invites "
        "(tenant, id, group_id, email, code, expires_at, metadata) "
      "VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 second', $7) "
      "ON CONFLICT DO NOTHING "
      "RETURNING " NGX_HTTP_INVITES_COLUMNS "), "
    "ren AS ("
      "UPDATE invites SET code = $5, status = 'pending', revoked_at = NULL, "
        "expires_at = now() + $6 * interval '1 second', "
        "metadata = coalesce($7, metadata) "
      "WHERE tenant = $1 AND group_id = $3 AND email = $4 "
        "AND NOT EXISTS (SELECT 1 FROM ins) "
        "AND (status = 'revoked' "
          "OR (status = 'pending' AND expires_at <= now())) "
      "RETURNING " NGX_HTTP_INVITES_COLUMNS ") "
    "SELECT * FROM ins "
    "UNION ALL "
    "SELECT * FROM ren "
    "UNION ALL "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $3 AND email = $4 "
      "AND NOT EXISTS (SELECT 1 FROM ins) "
      "AND NOT EXISTS (SELECT 1 FROM ren);"

    "PREPARE invites_read_id (text, uuid) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND id = $2;"

    "PREPARE invites_read_code (text, text) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND code = $2;"

    "PREPARE invites_list_group (text, text, text, int8) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $2 "
      NGX_HTTP_INVITES_STATUS_IS_3
    "ORDER BY created_at, id LIMIT $4;"

    "PREPARE invites_list_group_after (text, text, text, int8, uuid, int8) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $2 "
      NGX_HTTP_INVITES_STATUS_IS_3
      NGX_HTTP_INVITES_AFTER
    "ORDER BY created_at, id LIMIT $6;"

    "PREPARE invites_list_email (text, text, text, int8) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND email = $2 "
      NGX_HTTP_INVITES_STATUS_IS_3
    "ORDER BY created_at, id LIMIT $4;"

    "PREPARE invites_list_email_after (text, text, text, int8, uuid, int8) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND email = $2 "
      NGX_HTTP_INVITES_STATUS_IS_3
      NGX_HTTP_INVITES_AFTER
    "ORDER BY created_at, id LIMIT $6;"

    "PREPARE invites_list_both (text, text, text, text, int8) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $2 AND email = $3 "
      NGX_HTTP_INVITES_STATUS_IS_4
    "ORDER BY created_at, id LIMIT $5;"

    "PREPARE invites_list_both_after "
      "(text, text, text, text, int8, uuid, int8) AS "
    "SELECT " NGX_HTTP_INVITES_COLUMNS " FROM invites "
    "WHERE tenant = $1 AND group_id = $2 AND email = $3 "
      NGX_HTTP_INVITES_STATUS_IS_4
      NGX_HTTP_INVITES_AFTER_BOTH
    "ORDER BY created_at, id LIMIT $7;"

    "PREPARE invites_delete (text, uuid) AS "
    "DELETE FROM invites WHERE tenant = $1 AND id = $2;"

    "PREPARE invites_redeem_id (text, uuid, text) AS "
    "WITH acc AS ("
      "UPDATE invites SET status = 'accepted', accepted_at = now() "
      "WHERE tenant = $1 AND id = $2 AND ($3::text IS NULL OR email = $3) "
        "AND status = 'pending' "
        "AND (expires_at IS NULL OR expires_at > now()) "
      "RETURNING " NGX_HTTP_INVITES_COLUMNS ", true) "
    "SELECT * FROM acc "
    "UNION ALL "
    "SELECT " NGX_HTTP_INVITES_COLUMNS ", false FROM invites "
    "WHERE tenant = $1 AND id = $2 AND ($3::text IS NULL OR email = $3) "
      "AND NOT EXISTS (SELECT 1 FROM acc);"

    "PREPARE invites_redeem_code (text, text, text) AS "
    "WITH acc AS ("
      "UPDATE invites SET status = 'accepted', accepted_at = now() "
      "WHERE tenant = $1 AND code = $2 AND ($3::text IS NULL OR email = $3) "
        "AND status = 'pending' "
        "AND (expires_at IS NULL OR expires_at > now()) "
      "RETURNING " NGX_HTTP_INVITES_COLUMNS ", true) "
    "SELECT * FROM acc "
    "UNION ALL "
    "SELECT " NGX_HTTP_INVITES_COLUMNS ", false FROM invites "
    "WHERE tenant = $1 AND code = $2 AND ($3::text IS NULL OR email = $3) "
      "AND NOT EXISTS (SELECT 1 FROM acc);"

    "PREPARE invites_revoke (text, uuid) AS "
    "WITH rev AS ("
      "UPDATE invites SET status = 'revoked', revoked_at = now() "
      "WHERE tenant = $1 AND id = $2 AND status = 'pending' "
      "RETURNING " NGX_HTTP_INVITES_COLUMNS ", true) "
    "SELECT * FROM rev "
    "UNION ALL "
    "SELECT " NGX_HTTP_INVITES_COLUMNS ", false FROM invites "
    "WHERE tenant = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM rev);";


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
    ngx_str_t *tenant, const ngx_http_invites_op_conf_t *conf)
{
    /* the buffers are filled before use: only the scalars need a start */

    op->desc = &ngx_http_invites_ops[endpoint];
    op->stmt = NULL;
    op->direct = 0;
    op->direct_err = NGX_HTTP_INVITES_OK;
    op->conf = conf;
    op->attempts = 0;
    op->limit = 0;
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
    ngx_http_invites_field_t  *group, *email, *days, *meta;

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

    days = &req->field[NGX_HTTP_INVITES_F_EXPIRES_IN_DAYS];
    meta = &req->field[NGX_HTTP_INVITES_F_METADATA];

    if (meta->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_METADATA].too_long;
    }

    ngx_http_invites_lowcase(email);

    op->stmt = &ngx_http_invites_stmts[NGX_HTTP_INVITES_STMT_CREATE];

    if (ngx_http_invites_op_regenerate(op) != NGX_OK) {
        return NGX_HTTP_INVITES_DB_ERROR;
    }

    ngx_http_invites_op_param(op, op->id, sizeof(op->id) - 1);
    ngx_http_invites_op_field(op, group);
    ngx_http_invites_op_field(op, email);
    ngx_http_invites_op_param(op, op->code, op->conf->code_length);

    /* the expiry in seconds from now, or none */

    if (days->present) {
        ngx_http_invites_op_number(op, op->number, days->number * 86400);

    } else if (op->conf->expiry) {
        ngx_http_invites_op_number(op, op->number, op->conf->expiry);

    } else {
        ngx_http_invites_op_null(op);
    }

    if (meta->present) {
        ngx_memcpy(op->metadata, meta->json, meta->len);
        op->metadata[meta->len] = '\0';
        ngx_http_invites_op_param(op, op->metadata, meta->len);

    } else {
        ngx_http_invites_op_null(op);
    }

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
    ngx_uint_t                 stmt;
    ngx_http_invites_field_t  *group, *email, *status, *token, *limit;

    group = &req->field[NGX_HTTP_INVITES_F_GROUP_ID];
    email = &req->field[NGX_HTTP_INVITES_F_EMAIL];
    status = &req->field[NGX_HTTP_INVITES_F_STATUS];
    token = &req->field[NGX_HTTP_INVITES_F_PAGE_TOKEN];
    limit = &req->field[NGX_HTTP_INVITES_F_LIMIT];

    if (!group->present && !email->present) {
        return NGX_HTTP_INVITES_GROUP_ID_OR_EMAIL_REQUIRED;
    }

    if (group->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_GROUP_ID].too_long;
    }

    if (email->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_EMAIL].too_long;
    }

    if (status->present && ngx_http_invites_status_valid(status) != NGX_OK) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_STATUS].bad_type;
    }

    ngx_http_invites_lowcase(email);

    if (group->present) {
        ngx_http_invites_op_field(op, group);
    }

    if (email->present) {
        ngx_http_invites_op_field(op, email);
    }

    if (status->present) {
        ngx_http_invites_op_field(op, status);

    } else {
        ngx_http_invites_op_null(op);
    }

    stmt = !email->present ? NGX_HTTP_INVITES_STMT_LIST_GROUP
           : !group->present ? NGX_HTTP_INVITES_STMT_LIST_EMAIL
           : NGX_HTTP_INVITES_STMT_LIST_BOTH;

    if (token->present) {
        if (ngx_http_invites_op_after(op, token) != NGX_OK) {
            return ngx_http_invites_fields[NGX_HTTP_INVITES_F_PAGE_TOKEN]
                       .bad_type;
        }

        /* each statement's later pages come right after it */
        stmt++;
    }

    op->stmt = &ngx_http_invites_stmts[stmt];

    /* one row more than the page: whether another page follows */

    op->limit = limit->present ? (ngx_uint_t) limit->number
                               : op->conf->list_limit;

    ngx_http_invites_op_number(op, op->limit_text, op->limit + 1);

    return NGX_HTTP_INVITES_OK;
}


static ngx_http_invites_err_e
ngx_http_invites_op_delete(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req)
{
    /* deleting what cannot exist succeeds, as deleting twice does */
    return ngx_http_invites_op_by_id(op, req, NGX_HTTP_INVITES_STMT_DELETE,
                                     NGX_HTTP_INVITES_OK);
}


static ngx_http_invites_err_e
ngx_http_invites_op_redeem(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req)
{
    ngx_http_invites_field_t  *id, *code, *email;

    id = &req->field[NGX_HTTP_INVITES_F_ID];
    code = &req->field[NGX_HTTP_INVITES_F_CODE];
    email = &req->field[NGX_HTTP_INVITES_F_EMAIL];

    if (email->too_long) {
        return ngx_http_invites_fields[NGX_HTTP_INVITES_F_EMAIL].too_long;
    }

    if (id->present) {

        if (ngx_http_invites_uuid_valid(id->data, id->len) != NGX_OK) {
            op->direct = 1;
            op->direct_err = NGX_HTTP_INVITES_NOT_FOUND;
            return NGX_HTTP_INVITES_OK;
        }

        op->stmt = &ngx_http_invites_stmts[NGX_HTTP_INVITES_STMT_REDEEM_ID];
        ngx_http_invites_op_field(op, id);

    } else if (code->present) {

        if (code->too_long) {
            return ngx_http_invites_fields[NGX_HTTP_INVITES_F_CODE].too_long;
        }

        op->stmt = &ngx_http_invites_stmts[NGX_HTTP_INVITES_STMT_REDEEM_CODE];
        ngx_http_invites_op_field(op, code);

    } else {
        return NGX_HTTP_INVITES_ID_OR_CODE_REQUIRED;
    }

    /* the email, when given, must be the invite's */

    if (email->present) {
        ngx_http_invites_lowcase(email);
        ngx_http_invites_op_field(op, email);

    } else {
        ngx_http_invites_op_null(op);
    }

    return NGX_HTTP_INVITES_OK;
}


static ngx_http_invites_err_e
ngx_http_invites_op_revoke(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req)
{
    return ngx_http_invites_op_by_id(op, req, NGX_HTTP_INVITES_STMT_REVOKE,
                                     NGX_HTTP_INVITES_NOT_FOUND);
}


/*
 * An operation on the invite of a required id: an id that is no UUID names
 * no invite, and is answered "none" without asking the database.
 */

static ngx_http_invites_err_e
ngx_http_invites_op_by_id(ngx_http_invites_op_t *op,
    ngx_http_invites_req_t *req, ngx_http_invites_stmt_e stmt,
    ngx_http_invites_err_e none)
{
    ngx_http_invites_field_t  *id;

    id = &req->field[NGX_HTTP_INVITES_F_ID];

    if (!id->present) {
        return NGX_HTTP_INVITES_MISSING_ID;
    }

    if (ngx_http_invites_uuid_valid(id->data, id->len) != NGX_OK) {
        op->direct = 1;
        op->direct_err = none;
        return NGX_HTTP_INVITES_OK;
    }

    op->stmt = &ngx_http_invites_stmts[stmt];
    ngx_http_invites_op_field(op, id);

    return NGX_HTTP_INVITES_OK;
}


/* a Redeem that changed nothing: why */

static ngx_int_t
ngx_http_invites_redeem_unchanged(ngx_str_t *status,
    ngx_http_invites_err_e *err)
{
    switch (status->len ? status->data[0] : '\0') {

    case 'a':
        *err = NGX_HTTP_INVITES_ALREADY_ACCEPTED;
        return NGX_DECLINED;

    case 'r':
        *err = NGX_HTTP_INVITES_REVOKED;
        return NGX_DECLINED;

    case 'e':
        *err = NGX_HTTP_INVITES_EXPIRED;
        return NGX_DECLINED;

    default: /* pending, changed since the statement began */
        return NGX_AGAIN;
    }
}


/* a Revoke that changed nothing: revoked already is fine */

static ngx_int_t
ngx_http_invites_revoke_unchanged(ngx_str_t *status,
    ngx_http_invites_err_e *err)
{
    switch (status->len ? status->data[0] : '\0') {

    case 'a':
        *err = NGX_HTTP_INVITES_ALREADY_ACCEPTED;
        return NGX_DECLINED;

    case 'r':
        return NGX_OK;

    default: /* pending or expired, changed since the statement began */
        return NGX_AGAIN;
    }
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


static void
ngx_http_invites_op_null(ngx_http_invites_op_t *op)
{
    op->values[op->nparams] = NULL;
    op->lengths[op->nparams] = 0;
    op->nparams++;
}


static void
ngx_http_invites_op_number(ngx_http_invites_op_t *op, u_char *buf, int64_t n)
{
    u_char  *p;

    p = ngx_sprintf(buf, "%L", n);
    *p = '\0';

    ngx_http_invites_op_param(op, buf, p - buf);
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

    if (op->attempts++ >= NGX_HTTP_INVITES_ATTEMPTS) {
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

    for (i = 1; i < op->conf->code_length; i++) {
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

    op->code[op->conf->code_length] = '\0';

    for (i = op->conf->code_length; i > 0; i--) {
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
 * statement to run again, with the parameters the op now holds.
 */

ngx_int_t
ngx_http_invites_op_rows(ngx_http_invites_op_t *op,
    ngx_http_invites_db_result_t *res, ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_invites_answer_t *answer)
{
    uint64_t                    nullable;
    ngx_uint_t                  i, k, n, ncols;
    ngx_http_invites_invite_t  *inv;

    answer->err = NGX_HTTP_INVITES_OK;
    answer->shape = op->desc->shape;
    answer->invites = NULL;
    answer->n = 0;
    ngx_str_null(&answer->next);

    switch (res->kind) {

    case NGX_HTTP_INVITES_DB_ROWS:
        break;

    case NGX_HTTP_INVITES_DB_NONE:
        return ngx_http_invites_op_none(op, log, answer);

    case NGX_HTTP_INVITES_DB_CONFLICT:
        if (op->desc->none == NGX_HTTP_INVITES_NONE_AGAIN) {
            /* a renewed invite's new code was taken */
            return ngx_http_invites_op_none(op, log, answer);
        }

        /* fall through */

    default:
        answer->err = ngx_http_invites_db_err(res->kind);
        return NGX_OK;
    }

    if (op->desc->shape == NGX_HTTP_INVITES_SHAPE_EMPTY) {
        return NGX_OK;
    }

    ncols = NGX_HTTP_INVITES_NCOLUMNS + (op->desc->unchanged ? 1 : 0);

    if (res->ncols != ncols) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "invites: %s returned %ui columns instead of %ui",
                      op->stmt->name, res->ncols, ncols);
        answer->err = NGX_HTTP_INVITES_DB_ERROR;
        return NGX_OK;
    }

    n = res->nrows;

    if (op->limit && n > op->limit) {
        n = op->limit;
    }

    inv = ngx_palloc(pool, n * sizeof(ngx_http_invites_invite_t));
    if (inv == NULL) {
        answer->err = NGX_HTTP_INVITES_DB_ERROR;
        return NGX_OK;
    }

    nullable = 0;

    for (k = 0; k < NGX_HTTP_INVITES_NCOLUMNS; k++) {
        if (ngx_http_invites_fields[k].nullable) {
            nullable |= (uint64_t) 1 << k;
        }
    }

    for (i = 0; i < n; i++) {
        ngx_http_invites_db_row(res, i, inv[i].value,
                                NGX_HTTP_INVITES_NCOLUMNS, nullable);
    }

    answer->invites = inv;
    answer->n = n;

    if (op->desc->unchanged) {
        return ngx_http_invites_op_unchanged(op, res, log, answer);
    }

    if (op->desc->renews
        && ngx_http_invites_op_stale(&inv[0].value[NGX_HTTP_INVITES_F_STATUS]))
    {
        /*
         * A renewable invite the statement did not renew: a concurrent
         * Create renewed it after this statement's snapshot.
         */
        return ngx_http_invites_op_again(op, log, answer);
    }

    if (n < res->nrows
        && ngx_http_invites_op_next_token(op, &inv[n - 1], pool,
                                          &answer->next)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "invites: %s returned a row without its created_at "
                      "or id", op->stmt->name);
        answer->err = NGX_HTTP_INVITES_DB_ERROR;
    }

    return NGX_OK;
}


/* the row of a statement that says in its last column if it changed it */

static ngx_int_t
ngx_http_invites_op_unchanged(ngx_http_invites_op_t *op,
    ngx_http_invites_db_result_t *res, ngx_log_t *log,
    ngx_http_invites_answer_t *answer)
{
    ngx_str_t  changed;

    ngx_http_invites_db_value(res, 0, NGX_HTTP_INVITES_NCOLUMNS, &changed);

    if (changed.len == 1 && changed.data[0] == 't') {
        return NGX_OK;
    }

    switch (op->desc->unchanged(&answer->invites->value[
                                    NGX_HTTP_INVITES_F_STATUS],
                                &answer->err))
    {
    case NGX_OK:
        return NGX_OK;

    case NGX_AGAIN:
        return ngx_http_invites_op_again(op, log, answer);

    default:
        return NGX_OK;
    }
}


/* a status a renewing statement leaves to no row: revoked or expired */

static ngx_uint_t
ngx_http_invites_op_stale(ngx_str_t *status)
{
    return status->len > 0
           && (status->data[0] == 'r' || status->data[0] == 'e');
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
                      NGX_HTTP_INVITES_ATTEMPTS);
        break;

    default:
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "invites: getrandom() failed");
        break;
    }

    answer->err = NGX_HTTP_INVITES_DB_ERROR;

    return NGX_OK;
}


/* the row changed under the statement: run it again, a few times */

static ngx_int_t
ngx_http_invites_op_again(ngx_http_invites_op_t *op, ngx_log_t *log,
    ngx_http_invites_answer_t *answer)
{
    if (op->attempts++ < NGX_HTTP_INVITES_ATTEMPTS) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "invites: %s raced, running it again", op->stmt->name);
        return NGX_AGAIN;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "invites: %s kept racing other changes of the invite "
                  "for %d attempts", op->stmt->name,
                  NGX_HTTP_INVITES_ATTEMPTS);

    answer->err = NGX_HTTP_INVITES_DB_ERROR;

    return NGX_OK;
}


/*
 * The token of the page after the row last: its created_at (microseconds,
 * as 16 hex digits of their two's complement) and its id without dashes.
 */

static ngx_int_t
ngx_http_invites_op_next_token(ngx_http_invites_op_t *op,
    ngx_http_invites_invite_t *last, ngx_pool_t *pool, ngx_str_t *token)
{
    u_char      *p;
    uint64_t     us;
    ngx_int_t    neg;
    ngx_str_t   *created, *id;
    ngx_uint_t   i;
    static u_char  hex[] = "0123456789abcdef";

    created = &last->value[NGX_HTTP_INVITES_F_CREATED_AT];
    id = &last->value[NGX_HTTP_INVITES_F_ID];

    if (created->data == NULL || created->len == 0 || created->len > 19
        || id->data == NULL || id->len != 36)
    {
        return NGX_ERROR;
    }

    neg = (created->data[0] == '-');
    us = 0;

    for (i = neg; i < created->len; i++) {
        if (created->data[i] < '0' || created->data[i] > '9') {
            return NGX_ERROR;
        }

        us = us * 10 + (created->data[i] - '0');
    }

    if (neg) {
        us = ~us + 1;
    }

    p = ngx_pnalloc(pool, NGX_HTTP_INVITES_TOKEN_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    token->data = p;
    token->len = NGX_HTTP_INVITES_TOKEN_LEN;

    for (i = 0; i < 16; i++) {
        *p++ = hex[(us >> (60 - 4 * i)) & 0xf];
    }

    for (i = 0; i < 36; i++) {
        if (id->data[i] != '-') {
            *p++ = ngx_tolower(id->data[i]);
        }
    }

    return (p == token->data + NGX_HTTP_INVITES_TOKEN_LEN) ? NGX_OK
                                                          : NGX_ERROR;
}


/* a page token's row as the later page statement's two parameters */

static ngx_int_t
ngx_http_invites_op_after(ngx_http_invites_op_t *op,
    ngx_http_invites_field_t *token)
{
    u_char      c, *p;
    uint64_t    us;
    ngx_uint_t  i, v;

    if (token->too_long || token->len != NGX_HTTP_INVITES_TOKEN_LEN) {
        return NGX_DECLINED;
    }

    us = 0;
    p = op->id;

    for (i = 0; i < NGX_HTTP_INVITES_TOKEN_LEN; i++) {
        c = token->data[i];

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;

        } else {
            return NGX_DECLINED;
        }

        if (i < 16) {
            us = (us << 4) | v;
            continue;
        }

        if (i == 16 + 8 || i == 16 + 12 || i == 16 + 16 || i == 16 + 20) {
            *p++ = '-';
        }

        *p++ = c;
    }

    *p = '\0';

    ngx_http_invites_op_number(op, op->number, (int64_t) us);
    ngx_http_invites_op_param(op, op->id, 36);

    return NGX_OK;
}


static ngx_int_t
ngx_http_invites_status_valid(ngx_http_invites_field_t *f)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_http_invites_statuses) / sizeof(ngx_str_t);
         i++)
    {
        if (f->len == ngx_http_invites_statuses[i].len
            && ngx_memcmp(f->data, ngx_http_invites_statuses[i].data, f->len)
               == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
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
