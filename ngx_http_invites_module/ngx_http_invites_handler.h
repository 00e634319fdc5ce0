
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_HANDLER_H_INCLUDED_
#define _NGX_HTTP_INVITES_HANDLER_H_INCLUDED_


#include "ngx_http_invites_module.h"


/* what a request did, as the access log and the metrics see it */
typedef struct {
    ngx_http_invites_endpoint_e  endpoint;   /* NENDPOINTS: none */
    ngx_str_t                    tenant;     /* data NULL: none yet */
    ngx_http_invites_err_e       err;        /* the error answered */
    ngx_str_t                    invite_id;  /* data NULL: none */
    ngx_msec_t                   db_time;    /* of all its queries */
    unsigned                     queried:1;
} ngx_http_invites_outcome_t;


ngx_int_t ngx_http_invites_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_invites_log_handler(ngx_http_request_t *r);
ngx_http_invites_outcome_t *ngx_http_invites_outcome(ngx_http_request_t *r);


#endif /* _NGX_HTTP_INVITES_HANDLER_H_INCLUDED_ */
