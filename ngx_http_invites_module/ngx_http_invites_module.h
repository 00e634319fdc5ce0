
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_MODULE_H_INCLUDED_
#define _NGX_HTTP_INVITES_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the types every layer shares: API errors, the parsed request, an invite */


#define NGX_HTTP_INVITES_MAX_BODY     65536
#define NGX_HTTP_INVITES_MAX_FIELD    255
#define NGX_HTTP_INVITES_MAX_EMAIL    254
#define NGX_HTTP_INVITES_MAX_TENANT   255
#define NGX_HTTP_INVITES_MAX_METADATA 4096


typedef enum {
    NGX_HTTP_INVITES_OK = 0,
    NGX_HTTP_INVITES_MISSING_ID,
    NGX_HTTP_INVITES_MISSING_GROUP_ID,
    NGX_HTTP_INVITES_MISSING_EMAIL,
    NGX_HTTP_INVITES_INVALID_EMAIL,
    NGX_HTTP_INVITES_ID_OR_CODE_REQUIRED,
    NGX_HTTP_INVITES_GROUP_ID_OR_EMAIL_REQUIRED,
    NGX_HTTP_INVITES_NOT_FOUND,
    NGX_HTTP_INVITES_NO_ENDPOINT,
    NGX_HTTP_INVITES_BAD_JSON,
    NGX_HTTP_INVITES_NOT_OBJECT,
    NGX_HTTP_INVITES_BAD_UTF8,
    NGX_HTTP_INVITES_BAD_ID,
    NGX_HTTP_INVITES_BAD_GROUP_ID,
    NGX_HTTP_INVITES_BAD_EMAIL,
    NGX_HTTP_INVITES_BAD_CODE,
    NGX_HTTP_INVITES_NUL_CHAR,
    NGX_HTTP_INVITES_SURROGATE,
    NGX_HTTP_INVITES_LONG_GROUP_ID,
    NGX_HTTP_INVITES_LONG_EMAIL,
    NGX_HTTP_INVITES_LONG_CODE,
    NGX_HTTP_INVITES_BAD_TENANT,
    NGX_HTTP_INVITES_UNAUTHORIZED,
    NGX_HTTP_INVITES_FORBIDDEN,
    NGX_HTTP_INVITES_METHOD_NOT_ALLOWED,
    NGX_HTTP_INVITES_TOO_LARGE,
    NGX_HTTP_INVITES_DB_UNAVAILABLE,
    NGX_HTTP_INVITES_DB_TIMEOUT,
    NGX_HTTP_INVITES_DB_ERROR,
    NGX_HTTP_INVITES_ALREADY_ACCEPTED,
    NGX_HTTP_INVITES_REVOKED,
    NGX_HTTP_INVITES_EXPIRED,
    NGX_HTTP_INVITES_BAD_STATUS,
    NGX_HTTP_INVITES_BAD_METADATA,
    NGX_HTTP_INVITES_LONG_METADATA,
    NGX_HTTP_INVITES_BAD_EXPIRES_IN_DAYS,
    NGX_HTTP_INVITES_BAD_LIMIT,
    NGX_HTTP_INVITES_BAD_PAGE_TOKEN,
    NGX_HTTP_INVITES_NO_TENANT,
    NGX_HTTP_INVITES_DB_READ_ONLY,
    NGX_HTTP_INVITES_NERRORS
} ngx_http_invites_err_e;


typedef enum {
    NGX_HTTP_INVITES_CREATE = 0,
    NGX_HTTP_INVITES_READ,
    NGX_HTTP_INVITES_LIST,
    NGX_HTTP_INVITES_DELETE,
    NGX_HTTP_INVITES_REDEEM,
    NGX_HTTP_INVITES_REVOKE,
    NGX_HTTP_INVITES_NENDPOINTS            /* also: not an endpoint */
} ngx_http_invites_endpoint_e;


/*
 * An invite's fields, as ngx_http_invites_fields[] describes them: those
 * a statement returns come first, in the order of its columns.
 */
typedef enum {
    NGX_HTTP_INVITES_F_ID = 0,
    NGX_HTTP_INVITES_F_GROUP_ID,
    NGX_HTTP_INVITES_F_EMAIL,
    NGX_HTTP_INVITES_F_CODE,
    NGX_HTTP_INVITES_F_STATUS,
    NGX_HTTP_INVITES_F_CREATED_AT,
    NGX_HTTP_INVITES_F_EXPIRES_AT,
    NGX_HTTP_INVITES_F_ACCEPTED_AT,
    NGX_HTTP_INVITES_F_REVOKED_AT,
    NGX_HTTP_INVITES_F_METADATA,
    NGX_HTTP_INVITES_F_EXPIRES_IN_DAYS,     /* the request's only */
    NGX_HTTP_INVITES_F_LIMIT,
    NGX_HTTP_INVITES_F_PAGE_TOKEN,
    NGX_HTTP_INVITES_NFIELDS
} ngx_http_invites_field_e;

#define NGX_HTTP_INVITES_NCOLUMNS     (NGX_HTTP_INVITES_F_METADATA + 1)


/*
 * A field of the request body as the parser leaves it: a string's bytes
 * NUL-terminated in data, an integer in number, an object as raw JSON in
 * the body (json).
 */
typedef struct {
    size_t                      len;
    unsigned                    present:1;
    unsigned                    too_long:1;
    int64_t                     number;
    const u_char               *json;
    u_char                      data[NGX_HTTP_INVITES_MAX_FIELD + 1];
} ngx_http_invites_field_t;


typedef struct {
    ngx_http_invites_field_t    field[NGX_HTTP_INVITES_NFIELDS];
} ngx_http_invites_req_t;


/* an invite as a row gives it: by field; data NULL is not set */
typedef struct {
    ngx_str_t                   value[NGX_HTTP_INVITES_NCOLUMNS];
} ngx_http_invites_invite_t;


/* the shape of a successful answer */
typedef enum {
    NGX_HTTP_INVITES_SHAPE_INVITE = 0,     /* {"invite":{...}}, one row */
    NGX_HTTP_INVITES_SHAPE_LIST,           /* {"invites":[...]} */
    NGX_HTTP_INVITES_SHAPE_EMPTY           /* {} */
} ngx_http_invites_shape_e;


/* what to answer: an error, or invites in a shape */
typedef struct {
    ngx_http_invites_err_e        err;
    ngx_http_invites_shape_e      shape;
    ngx_http_invites_invite_t    *invites;
    ngx_uint_t                    n;
    ngx_str_t                     next;      /* a List's next_page_token */
    unsigned                      m3o:1;     /* m3o's four fields only */
} ngx_http_invites_answer_t;


#endif /* _NGX_HTTP_INVITES_MODULE_H_INCLUDED_ */
