
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_module.h"
#include "ngx_http_invites_conf.h"
#include "ngx_http_invites_json.h"
#include "ngx_http_invites_ops.h"
#include "ngx_http_invites_auth.h"
#include "ngx_http_invites_handler.h"
#include "ngx_http_invites_metrics.h"


/* one API request, from its body to its response */
typedef struct {
    ngx_http_request_t           *request;
    ngx_http_invites_outcome_t    outcome;
    uint64_t                      start;        /* the metrics' clock */
    ngx_msec_t                    query_start;
    ngx_str_t                     body;
    ngx_str_t                     tenant;
    ngx_http_invites_auth_t       auth;
    ngx_http_invites_req_t        req;
    ngx_http_invites_op_t         op;
    ngx_http_invites_db_query_t   query;
    yajl_alloc_funcs              alloc;
    unsigned                      pending:1;
    unsigned                      authenticating:1;
    unsigned                      counted:1;
    u_char                        tenant_buf[NGX_HTTP_INVITES_MAX_TENANT];
} ngx_http_invites_ctx_t;


static ngx_int_t ngx_http_invites_endpoint(ngx_http_request_t *r,
    ngx_http_invites_endpoint_e *endpoint);
static void ngx_http_invites_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_invites_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_invites_err_e *err);
static ngx_int_t ngx_http_invites_authenticate(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_http_invites_err_e *err);
static ngx_int_t ngx_http_invites_authenticated(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_http_invites_db_result_t *res,
    ngx_http_invites_err_e *err);
static ngx_int_t ngx_http_invites_key_tenant(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_str_t *tenant,
    ngx_http_invites_err_e *err);
static ngx_int_t ngx_http_invites_tenant(ngx_http_request_t *r,
    ngx_str_t *tenant, ngx_http_invites_err_e *err);
static ngx_int_t ngx_http_invites_start(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx);
static ngx_int_t ngx_http_invites_send_query(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, const char *stmt, int nparams,
    const char *const *values, const int *lengths, ngx_uint_t light,
    ngx_http_invites_err_e *err);
static void ngx_http_invites_done(ngx_http_invites_db_query_t *q,
    ngx_http_invites_db_result_t *res);
static ngx_int_t ngx_http_invites_result(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_http_invites_db_result_t *res,
    ngx_int_t *rc);
static void ngx_http_invites_invite_id(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_str_t *id);
static void ngx_http_invites_db_time(ngx_http_invites_ctx_t *ctx);
static void ngx_http_invites_cleanup(void *data);
static ngx_int_t ngx_http_invites_answer(ngx_http_request_t *r,
    ngx_int_t rc, ngx_http_invites_err_e err);
static ngx_int_t ngx_http_invites_send_error(ngx_http_request_t *r,
    ngx_http_invites_err_e err);
static ngx_int_t ngx_http_invites_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
static void ngx_http_invites_count(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx);
static void ngx_http_invites_yajl_pool(ngx_pool_t *pool,
    yajl_alloc_funcs *af);
static void *ngx_http_invites_yajl_malloc(void *pool, size_t size);
static void *ngx_http_invites_yajl_realloc(void *pool, void *ptr,
    size_t size);
static void ngx_http_invites_yajl_free(void *pool, void *ptr);


ngx_int_t
ngx_http_invites_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_http_invites_ctx_t       *ctx;
    ngx_http_invites_endpoint_e   endpoint;

    /*
     * Every request has its context, for the log and the metrics.  Not
     * zeroed whole: the request, op and key buffers fill before use.
     */

    ctx = ngx_palloc(r->pool, sizeof(ngx_http_invites_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->outcome.endpoint = NGX_HTTP_INVITES_NENDPOINTS;
    ngx_str_null(&ctx->outcome.tenant);
    ctx->outcome.err = NGX_HTTP_INVITES_OK;
    ngx_str_null(&ctx->outcome.invite_id);
    ctx->outcome.db_time = 0;
    ctx->outcome.queried = 0;
    ctx->start = ngx_http_invites_metrics_clock();
    ngx_str_null(&ctx->body);
    ngx_str_null(&ctx->tenant);
    ngx_memzero(&ctx->query, sizeof(ngx_http_invites_db_query_t));
    ctx->pending = 0;
    ctx->authenticating = 0;
    ctx->counted = 0;

    ngx_http_invites_yajl_pool(r->pool, &ctx->alloc);

    ngx_http_set_ctx(r, ctx, ngx_http_invites_module);

    if (ngx_http_invites_endpoint(r, &endpoint) != NGX_OK) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_invites_send_error(r, NGX_HTTP_INVITES_NO_ENDPOINT);
    }

    ctx->outcome.endpoint = endpoint;

    if (!(r->method & NGX_HTTP_POST)) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_invites_send_error(r,
                                           NGX_HTTP_INVITES_METHOD_NOT_ALLOWED);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_INVITES_MAX_BODY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "invites: request body of %O bytes is too large",
                      r->headers_in.content_length_n);

        r->keepalive = 0;

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_invites_send_error(r, NGX_HTTP_INVITES_TOO_LARGE);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_invites_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the endpoint is the last path segment, in any case */

static ngx_int_t
ngx_http_invites_endpoint(ngx_http_request_t *r,
    ngx_http_invites_endpoint_e *endpoint)
{
    u_char     *p, *last;
    ngx_str_t   name;

    last = r->uri.data + r->uri.len;

    for (p = last; p > r->uri.data; p--) {
        if (*(p - 1) == '/') {
            break;
        }
    }

    name.data = p;
    name.len = last - p;

    return ngx_http_invites_op_endpoint(&name, endpoint);
}


static void
ngx_http_invites_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_invites_ctx_t  *ctx;
    ngx_http_invites_err_e   err;

    ctx = ngx_http_get_module_ctx(r, ngx_http_invites_module);

    if (ngx_http_invites_body(r, &ctx->body, &err) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (err != NGX_HTTP_INVITES_OK) {
        ngx_http_finalize_request(r, ngx_http_invites_send_error(r, err));
        return;
    }

    rc = ngx_http_invites_authenticate(r, ctx, &err);

    rc = (rc == NGX_OK) ? ngx_http_invites_start(r, ctx)
                        : ngx_http_invites_answer(r, rc, err);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* the whole body in one buffer, read back from a temp file if need be */

static ngx_int_t
ngx_http_invites_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_invites_err_e *err)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *err = NGX_HTTP_INVITES_OK;
    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        b = cl->buf;

        if (b->last - b->pos > NGX_HTTP_INVITES_MAX_BODY) {
            *err = NGX_HTTP_INVITES_TOO_LARGE;
            return NGX_OK;
        }

        body->data = b->pos;
        body->len = b->last - b->pos;

        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > NGX_HTTP_INVITES_MAX_BODY) {
        *err = NGX_HTTP_INVITES_TOO_LARGE;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "invites: cannot read the request body back from "
                          "\"%V\"", &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Finds the request's tenant: from its API key with "invites_auth key", else
 * from invites_tenant.  NGX_OK when ctx->tenant is set, NGX_DONE while the
 * key is being looked up, NGX_DECLINED with the error to answer, or
 * NGX_ERROR.  Nothing is sent here.
 */

static ngx_int_t
ngx_http_invites_authenticate(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_http_invites_err_e *err)
{
    ngx_str_t                     tenant;
    ngx_http_invites_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_invites_module);

    if (ilcf->auth == NGX_HTTP_INVITES_AUTH_OFF) {

        return ngx_http_invites_tenant(r, &ctx->tenant, err);
    }

    if (ngx_http_invites_auth_key(r, &ctx->auth) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "invites: no Bearer API key in the request");
        *err = NGX_HTTP_INVITES_UNAUTHORIZED;
        return NGX_DECLINED;
    }

    if (ngx_http_invites_auth_cached(&ctx->auth, ilcf->db,
                                     ilcf->auth_cache_ttl, &tenant)
        == NGX_OK)
    {
        ngx_http_invites_metrics_auth(1);
        return ngx_http_invites_key_tenant(r, ctx, &tenant, err);
    }

    ngx_http_invites_metrics_auth(0);

    ctx->authenticating = 1;

    /* light: the key lookup reads one row by its hash */

    return ngx_http_invites_send_query(r, ctx, NGX_HTTP_INVITES_AUTH_STMT, 1,
                                       ctx->auth.values, ctx->auth.lengths,
                                       1, err);
}


/* the key lookup answered: NGX_OK, or NGX_DECLINED with the error */

static ngx_int_t
ngx_http_invites_authenticated(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_http_invites_db_result_t *res,
    ngx_http_invites_err_e *err)
{
    ngx_str_t                     tenant;
    ngx_http_invites_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_invites_module);

    ctx->authenticating = 0;

    switch (ngx_http_invites_auth_rows(res, r->connection->log, &tenant,
                                       err))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        /* unknown and revoked keys alike */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "invites: unknown or revoked API key");
        *err = NGX_HTTP_INVITES_UNAUTHORIZED;
        return NGX_DECLINED;

    default:
        return NGX_DECLINED;
    }

    ngx_http_invites_auth_remember(&ctx->auth, ilcf->db, &tenant);

    return ngx_http_invites_key_tenant(r, ctx, &tenant, err);
}


static ngx_int_t
ngx_http_invites_key_tenant(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, ngx_str_t *tenant,
    ngx_http_invites_err_e *err)
{
    if (ngx_http_invites_auth_namespace(r, tenant) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "invites: micro-namespace is not the key's tenant");
        *err = NGX_HTTP_INVITES_FORBIDDEN;
        return NGX_DECLINED;
    }

    /* the cache slot or the result may go; the request keeps its copy */

    ctx->tenant.data = ctx->tenant_buf;
    ctx->tenant.len = tenant->len;
    ngx_memcpy(ctx->tenant_buf, tenant->data, tenant->len);

    return NGX_OK;
}


/*
 * The tenant of invites_tenant: NGX_OK, or NGX_DECLINED with the error.
 * Variables that come out empty name no tenant: the request is refused
 * rather than run as the empty tenant, which a constant "" (or no
 * invites_tenant) still is.
 */

static ngx_int_t
ngx_http_invites_tenant(ngx_http_request_t *r, ngx_str_t *tenant,
    ngx_http_invites_err_e *err)
{
    u_char                       *p;
    ngx_http_invites_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_invites_module);

    ngx_str_set(tenant, "");

    if (ilcf->tenant == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, ilcf->tenant, tenant) != NGX_OK) {
        return NGX_ERROR;
    }

    if (tenant->len == 0 && ilcf->tenant->lengths != NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "invites: invites_tenant \"%V\" is empty for the "
                      "request", &ilcf->tenant->value);
        *err = NGX_HTTP_INVITES_NO_TENANT;
        return NGX_DECLINED;
    }

    if (tenant->len > NGX_HTTP_INVITES_MAX_TENANT) {
        goto invalid;
    }

    p = tenant->data;

    while (p < tenant->data + tenant->len) {

        if (*p == '\0') {
            goto invalid;
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        if (ngx_utf8_decode(&p, tenant->data + tenant->len - p) > 0x10ffff) {
            goto invalid;
        }
    }

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "invites: the tenant is not valid UTF-8 or longer than %d "
                  "bytes", NGX_HTTP_INVITES_MAX_TENANT);

    *err = NGX_HTTP_INVITES_BAD_TENANT;

    return NGX_DECLINED;
}


/* parses and validates the body, hands its statement to the pool */

static ngx_int_t
ngx_http_invites_start(ngx_http_request_t *r, ngx_http_invites_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_str_t                     body;
    ngx_http_invites_err_e        err;
    ngx_http_invites_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_invites_module);

    /* the request runs as this tenant from now on */
    ctx->outcome.tenant = ctx->tenant;

    err = ngx_http_invites_json_parse(ctx->body.data, ctx->body.len,
                                      &ctx->req, &ctx->alloc);

    if (err == NGX_HTTP_INVITES_OK) {
        err = ngx_http_invites_op_init(&ctx->op, ctx->outcome.endpoint,
                                       &ctx->req,
                                       &ctx->tenant, &ilcf->op_conf);
    }

    if (err != NGX_HTTP_INVITES_OK) {
        if (err != NGX_HTTP_INVITES_DB_ERROR) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "invites: bad request: %V",
                          &ngx_http_invites_error(err)->detail);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                          "invites: cannot make an invite");
        }

        return ngx_http_invites_send_error(r, err);
    }

    if (ctx->op.direct) {
        if (ctx->op.direct_err != NGX_HTTP_INVITES_OK) {
            return ngx_http_invites_send_error(r, ctx->op.direct_err);
        }

        return ngx_http_invites_send(r, NGX_HTTP_OK,
                                     ngx_http_invites_json_empty(&ctx->alloc,
                                                                 &body)
                                     == NGX_OK ? &body : NULL);
    }

    ctx->query.once = ctx->op.stmt->once;

    rc = ngx_http_invites_send_query(r, ctx, ctx->op.stmt->name,
                                     ctx->op.nparams, ctx->op.values,
                                     ctx->op.lengths, ctx->op.stmt->light,
                                     &err);

    return ngx_http_invites_answer(r, rc, err);
}


/* NGX_DONE once the pool has the statement, else NGX_DECLINED or NGX_ERROR */

static ngx_int_t
ngx_http_invites_send_query(ngx_http_request_t *r,
    ngx_http_invites_ctx_t *ctx, const char *stmt, int nparams,
    const char *const *values, const int *lengths, ngx_uint_t light,
    ngx_http_invites_err_e *err)
{
    ngx_http_cleanup_t           *cln;
    ngx_http_invites_loc_conf_t  *ilcf;
    ngx_http_invites_db_query_t  *q;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_invites_module);

    q = &ctx->query;

    if (q->handler == NULL) {
        cln = ngx_http_cleanup_add(r, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_invites_cleanup;
        cln->data = ctx;

        q->timeout = ilcf->timeout;
        q->handler = ngx_http_invites_done;
        q->data = ctx;
        q->log = r->connection->log;
    }

    q->stmt = stmt;
    q->nparams = nparams;
    q->values = values;
    q->lengths = lengths;
    q->light = light;

    *err = ngx_http_invites_db_send(ilcf->db, q);

    if (*err != NGX_HTTP_INVITES_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "invites: no database connection for the request");
        return NGX_DECLINED;
    }

    ctx->pending = 1;
    ctx->query_start = ngx_current_msec;

    /* notice a client that goes away while the query waits or runs */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_DONE;
}


/* the pool's answer, on a PostgreSQL event or timer */

static void
ngx_http_invites_done(ngx_http_invites_db_query_t *q,
    ngx_http_invites_db_result_t *res)
{
    ngx_int_t                rc;
    ngx_http_invites_err_e   err;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_invites_ctx_t  *ctx;

    ctx = q->data;
    r = ctx->request;
    c = r->connection;

    ctx->pending = 0;
    ngx_http_invites_db_time(ctx);

    ngx_http_set_log_request(c->log, r);

    err = NGX_HTTP_INVITES_OK;

    if (ctx->authenticating) {
        rc = ngx_http_invites_authenticated(r, ctx, res, &err);

        rc = (rc == NGX_OK) ? ngx_http_invites_start(r, ctx)
                            : ngx_http_invites_answer(r, rc, err);

    } else if (ngx_http_invites_result(r, ctx, res, &rc) == NGX_AGAIN) {
        /* again, with what the op holds now (Create: a new id and code) */
        rc = ngx_http_invites_send_query(r, ctx, q->stmt, q->nparams,
                                         q->values, q->lengths, q->light,
                                         &err);
        rc = ngx_http_invites_answer(r, rc, err);
    }

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Answers from the statement's result: NGX_OK with *rc the status of the
 * response sent, or NGX_AGAIN, nothing sent, when the statement must run
 * again.
 */

static ngx_int_t
ngx_http_invites_result(ngx_http_request_t *r, ngx_http_invites_ctx_t *ctx,
    ngx_http_invites_db_result_t *res, ngx_int_t *rc)
{
    ngx_str_t                     body, *id_value;
    ngx_http_invites_field_t     *id;
    ngx_http_invites_answer_t     answer;
    ngx_http_invites_loc_conf_t  *ilcf;

    if (ngx_http_invites_op_rows(&ctx->op, res, r->pool, r->connection->log,
                                 &answer)
        == NGX_AGAIN)
    {
        return NGX_AGAIN;
    }

    if (answer.err != NGX_HTTP_INVITES_OK) {
        *rc = ngx_http_invites_send_error(r, answer.err);
        return NGX_OK;
    }

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_invites_module);
    answer.m3o = (ilcf->op_conf.fields == NGX_HTTP_INVITES_FIELDS_M3O);

    if (answer.shape == NGX_HTTP_INVITES_SHAPE_INVITE) {
        id_value = &answer.invites->value[NGX_HTTP_INVITES_F_ID];
        ngx_http_invites_invite_id(r, ctx, id_value);

    } else {
        /* the request's own id: it lives as long as the request */
        id = &ctx->req.field[NGX_HTTP_INVITES_F_ID];

        if (id->present) {
            ctx->outcome.invite_id.data = id->data;
            ctx->outcome.invite_id.len = id->len;
        }
    }

    *rc = ngx_http_invites_send(r, NGX_HTTP_OK,
                                ngx_http_invites_json_answer(&answer,
                                                             &ctx->alloc,
                                                             &body)
                                == NGX_OK ? &body : NULL);

    return NGX_OK;
}


/* the row goes with its result: the log gets a copy */

static void
ngx_http_invites_invite_id(ngx_http_request_t *r, ngx_http_invites_ctx_t *ctx,
    ngx_str_t *id)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, id->len);
    if (p == NULL) {
        return;
    }

    ngx_memcpy(p, id->data, id->len);

    ctx->outcome.invite_id.data = p;
    ctx->outcome.invite_id.len = id->len;
}


/* the time from sending a query to its answer, or to its client leaving */

static void
ngx_http_invites_db_time(ngx_http_invites_ctx_t *ctx)
{
    ctx->outcome.db_time += ngx_current_msec - ctx->query_start;
    ctx->outcome.queried = 1;
}


static void
ngx_http_invites_cleanup(void *data)
{
    ngx_http_invites_ctx_t  *ctx = data;

    if (ctx->pending) {
        ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                      "invites: client left before the database answered");

        ngx_http_invites_db_cancel(&ctx->query);
        ctx->pending = 0;
        ngx_http_invites_db_time(ctx);
    }
}


/* turns a step's outcome into the response, unless the step goes on */

static ngx_int_t
ngx_http_invites_answer(ngx_http_request_t *r, ngx_int_t rc,
    ngx_http_invites_err_e err)
{
    switch (rc) {

    case NGX_DECLINED:
        return ngx_http_invites_send_error(r, err);

    case NGX_ERROR:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    default: /* NGX_DONE */
        return rc;
    }
}


static ngx_int_t
ngx_http_invites_send_error(ngx_http_request_t *r, ngx_http_invites_err_e err)
{
    ngx_str_t                        body;
    yajl_alloc_funcs                 af;
    ngx_table_elt_t                 *h;
    ngx_http_invites_ctx_t          *ctx;
    const ngx_http_invites_error_t  *e;

    ctx = ngx_http_get_module_ctx(r, ngx_http_invites_module);

    if (ctx) {
        ctx->outcome.err = err;
    }

    e = ngx_http_invites_error(err);

    /* a missing key asks for one; a missing tenant is not the client's */

    if (e->status == NGX_HTTP_NOT_ALLOWED
        || err == NGX_HTTP_INVITES_UNAUTHORIZED)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;

        if (e->status == NGX_HTTP_NOT_ALLOWED) {
            ngx_str_set(&h->key, "Allow");
            ngx_str_set(&h->value, "POST");

        } else {
            ngx_str_set(&h->key, "WWW-Authenticate");
            ngx_str_set(&h->value, "Bearer");
        }
    }

    ngx_http_invites_yajl_pool(r->pool, &af);

    return ngx_http_invites_send(r, e->status,
                                 ngx_http_invites_json_error(err, &af, &body)
                                 == NGX_OK ? &body : NULL);
}


static ngx_int_t
ngx_http_invites_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (body == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "invites: cannot write the JSON response");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the writer's buffer is in the request's pool: sent as it is */

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->connection->log->action = "sending response to client";

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_invites_count(r, ngx_http_get_module_ctx(r,
                                                      ngx_http_invites_module));

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Counted as its response leaves, so that a client that has it sees it in
 * the next scrape; what the module never answers is counted as it is
 * logged.
 */

static void
ngx_http_invites_count(ngx_http_request_t *r, ngx_http_invites_ctx_t *ctx)
{
    if (ctx == NULL || ctx->counted) {
        return;
    }

    ctx->counted = 1;

    ngx_http_invites_metrics_request(ctx->outcome.endpoint,
                                     r->headers_out.status,
                                     ngx_http_invites_metrics_clock()
                                     - ctx->start);
}


ngx_http_invites_outcome_t *
ngx_http_invites_outcome(ngx_http_request_t *r)
{
    ngx_http_invites_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_invites_module);

    return ctx ? &ctx->outcome : NULL;
}


/* counts what an invites_api location answered without the module's send */

ngx_int_t
ngx_http_invites_log_handler(ngx_http_request_t *r)
{
    uint64_t                      usec;
    ngx_time_t                   *tp;
    ngx_msec_int_t                ms;
    ngx_http_invites_ctx_t       *ctx;
    ngx_http_invites_endpoint_e   endpoint;
    ngx_http_invites_loc_conf_t  *ilcf;

    ilcf = ngx_http_get_module_loc_conf(r, ngx_http_invites_module);

    if (!ilcf->api) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_invites_module);

    if (ctx) {
        /* a 499, a 500 of nginx's: or counted already */
        ngx_http_invites_count(r, ctx);
        return NGX_OK;
    }

    /* nginx answered before the module saw it: client_max_body_size */

    if (ngx_http_invites_endpoint(r, &endpoint) != NGX_OK) {
        endpoint = NGX_HTTP_INVITES_NENDPOINTS;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    usec = (uint64_t) ngx_max(ms, 0) * 1000;

    ngx_http_invites_metrics_request(endpoint, r->headers_out.status, usec);

    return NGX_OK;
}


/*
 * yajl allocates from the request's pool: no malloc() per request, and
 * nothing to free but what the pool frees with the request.  A block keeps
 * its size in front of it for realloc(); large blocks go back at once.
 */

static void
ngx_http_invites_yajl_pool(ngx_pool_t *pool, yajl_alloc_funcs *af)
{
    af->malloc = ngx_http_invites_yajl_malloc;
    af->realloc = ngx_http_invites_yajl_realloc;
    af->free = ngx_http_invites_yajl_free;
    af->ctx = pool;
}


static void *
ngx_http_invites_yajl_malloc(void *pool, size_t size)
{
    size_t  *p;

    p = ngx_palloc(pool, sizeof(size_t) + size);
    if (p == NULL) {
        return NULL;
    }

    *p = size;

    return p + 1;
}


static void *
ngx_http_invites_yajl_realloc(void *pool, void *ptr, size_t size)
{
    void    *p;
    size_t  *old;

    if (ptr == NULL) {
        return ngx_http_invites_yajl_malloc(pool, size);
    }

    old = (size_t *) ptr - 1;

    if (size <= *old) {
        return ptr;
    }

    p = ngx_http_invites_yajl_malloc(pool, size);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, ptr, *old);

    (void) ngx_pfree(pool, old);

    return p;
}


static void
ngx_http_invites_yajl_free(void *pool, void *ptr)
{
    if (ptr) {
        (void) ngx_pfree(pool, (size_t *) ptr - 1);
    }
}
