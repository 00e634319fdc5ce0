
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_AUTH_H_INCLUDED_
#define _NGX_HTTP_INVITES_AUTH_H_INCLUDED_


#include "ngx_http_invites_module.h"
#include "ngx_http_invites_db.h"


/*
 * Bearer API keys: the key from the Authorization header, its SHA-256 as
 * the lookup parameter, a per-worker cache of hash -> tenant, and the
 * mapping of the lookup's rows.  The key itself is never kept or logged.
 */


#define NGX_HTTP_INVITES_AUTH_OFF   0
#define NGX_HTTP_INVITES_AUTH_KEY   1

#define NGX_HTTP_INVITES_AUTH_STMT  "invites_auth"


typedef struct {
    /* the key's SHA-256, in hex: the statement's parameter */
    u_char                      hash[65];
    const char                 *values[1];
    int                         lengths[1];
} ngx_http_invites_auth_t;


ngx_int_t ngx_http_invites_auth_key(ngx_http_request_t *r,
    ngx_http_invites_auth_t *auth);
ngx_int_t ngx_http_invites_auth_cached(ngx_http_invites_auth_t *auth,
    void *scope, ngx_msec_t ttl, ngx_str_t *tenant);
void ngx_http_invites_auth_remember(ngx_http_invites_auth_t *auth,
    void *scope, ngx_str_t *tenant);
ngx_int_t ngx_http_invites_auth_rows(ngx_http_invites_db_result_t *res,
    ngx_log_t *log, ngx_str_t *tenant, ngx_http_invites_err_e *err);
ngx_int_t ngx_http_invites_auth_namespace(ngx_http_request_t *r,
    ngx_str_t *tenant);
const char *ngx_http_invites_auth_prepare_sql(void);


#endif /* _NGX_HTTP_INVITES_AUTH_H_INCLUDED_ */
