
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_OPS_H_INCLUDED_
#define _NGX_HTTP_INVITES_OPS_H_INCLUDED_


#include "ngx_http_invites_module.h"
#include "ngx_http_invites_db.h"


/*
 * The operations as data: one row each in ngx_http_invites_ops[], saying
 * how a parsed request is validated (which prepared statement it runs with
 * which parameters), what a result with no row means, and the shape of the
 * answer.  The handler only follows the row.
 */


#define NGX_HTTP_INVITES_MAX_PARAMS      7

/* invites_code_length: 8 as m3o; up to 18 digits fit 64 random bits */
#define NGX_HTTP_INVITES_MIN_CODE        6
#define NGX_HTTP_INVITES_MAX_CODE        18

/*
 * A code collision is retried with a new code, a change that raced with
 * another statement run again, this many times
 */
#define NGX_HTTP_INVITES_ATTEMPTS        8

/* a page token: created_at in 16 hex digits, then the id's 32 */
#define NGX_HTTP_INVITES_TOKEN_LEN       48


typedef enum {
    NGX_HTTP_INVITES_STMT_CREATE = 0,
    NGX_HTTP_INVITES_STMT_READ_ID,
    NGX_HTTP_INVITES_STMT_READ_CODE,
    NGX_HTTP_INVITES_STMT_LIST_GROUP,
    NGX_HTTP_INVITES_STMT_LIST_GROUP_AFTER,
    NGX_HTTP_INVITES_STMT_LIST_EMAIL,
    NGX_HTTP_INVITES_STMT_LIST_EMAIL_AFTER,
    NGX_HTTP_INVITES_STMT_LIST_BOTH,
    NGX_HTTP_INVITES_STMT_LIST_BOTH_AFTER,
    NGX_HTTP_INVITES_STMT_DELETE,
    NGX_HTTP_INVITES_STMT_REDEEM_ID,
    NGX_HTTP_INVITES_STMT_REDEEM_CODE,
    NGX_HTTP_INVITES_STMT_REVOKE
} ngx_http_invites_stmt_e;


/* what a statement that returns no row means */
typedef enum {
    NGX_HTTP_INVITES_NONE_ANSWER = 0,      /* the answer, without rows */
    NGX_HTTP_INVITES_NONE_NOT_FOUND,
    NGX_HTTP_INVITES_NONE_AGAIN            /* run again: a new id and code */
} ngx_http_invites_none_e;


typedef struct ngx_http_invites_op_s  ngx_http_invites_op_t;

typedef ngx_http_invites_err_e (*ngx_http_invites_validate_pt)(
    ngx_http_invites_op_t *op, ngx_http_invites_req_t *req);

/*
 * For a statement that changes a row only from pending and says whether
 * it did: what an unchanged row of this status means.  NGX_OK answers the
 * row as it is, NGX_AGAIN runs the statement again, NGX_DECLINED answers
 * *err.
 */
typedef ngx_int_t (*ngx_http_invites_unchanged_pt)(ngx_str_t *status,
    ngx_http_invites_err_e *err);


typedef struct {
    ngx_str_t                     name;      /* the endpoint, lowercase */
    ngx_http_invites_validate_pt  validate;  /* in m3o's order of checks */
    ngx_http_invites_none_e       none;
    ngx_http_invites_shape_e      shape;
    ngx_http_invites_unchanged_pt unchanged; /* NULL: no such column */
    unsigned                      renews:1;  /* renews revoked, expired */
} ngx_http_invites_op_desc_t;


/* what the configuration gives every operation */
typedef struct {
    ngx_uint_t                    code_length;
    time_t                        expiry;      /* invites_expiry; 0: off */
    ngx_uint_t                    list_limit;
    ngx_uint_t                    fields;      /* NGX_HTTP_INVITES_FIELDS_ */
} ngx_http_invites_op_conf_t;

/* a List page's largest size, and invites_list_limit's default */
#define NGX_HTTP_INVITES_MAX_LIMIT       1000

#define NGX_HTTP_INVITES_FIELDS_ALL      0
#define NGX_HTTP_INVITES_FIELDS_M3O      1


typedef struct {
    const char                   *name;
    unsigned                      light:1;   /* a row by its key */
    unsigned                      once:1;    /* not safe to run twice */
} ngx_http_invites_stmt_t;


struct ngx_http_invites_op_s {
    const ngx_http_invites_op_desc_t  *desc;
    const ngx_http_invites_stmt_t     *stmt;

    /* set when the answer is known without asking the database */
    unsigned                     direct:1;
    ngx_http_invites_err_e       direct_err;

    const ngx_http_invites_op_conf_t  *conf;
    ngx_uint_t                   attempts;
    ngx_uint_t                   limit;     /* a List's page size */
    int                          nparams;
    const char                  *values[NGX_HTTP_INVITES_MAX_PARAMS];
    int                          lengths[NGX_HTTP_INVITES_MAX_PARAMS];

    /* libpq takes text parameters NUL-terminated; NULL is SQL's NULL */
    u_char                       tenant[NGX_HTTP_INVITES_MAX_TENANT + 1];
    u_char                       id[37];
    u_char                       code[NGX_HTTP_INVITES_MAX_CODE + 1];
    u_char                       number[NGX_INT64_LEN + 1];
    u_char                       limit_text[NGX_INT64_LEN + 1];
    u_char                       metadata[NGX_HTTP_INVITES_MAX_METADATA + 1];
};


ngx_int_t ngx_http_invites_op_endpoint(ngx_str_t *name,
    ngx_http_invites_endpoint_e *endpoint);
ngx_str_t *ngx_http_invites_op_endpoint_name(
    ngx_http_invites_endpoint_e endpoint);
ngx_http_invites_err_e ngx_http_invites_op_init(ngx_http_invites_op_t *op,
    ngx_http_invites_endpoint_e endpoint, ngx_http_invites_req_t *req,
    ngx_str_t *tenant, const ngx_http_invites_op_conf_t *conf);
const char *ngx_http_invites_op_prepare_sql(void);
ngx_int_t ngx_http_invites_op_rows(ngx_http_invites_op_t *op,
    ngx_http_invites_db_result_t *res, ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_invites_answer_t *answer);


#endif /* _NGX_HTTP_INVITES_OPS_H_INCLUDED_ */
