
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_ERRORS_H_INCLUDED_
#define _NGX_HTTP_INVITES_ERRORS_H_INCLUDED_


#include "ngx_http_invites_module.h"


/*
 * The API's errors: for each ngx_http_invites_err_e, the HTTP status and
 * the micro error's id, detail and status text.  Plain data, for the JSON
 * writer and its tests.
 */


typedef struct {
    ngx_uint_t                  status;
    ngx_str_t                   id;
    ngx_str_t                   detail;
    ngx_str_t                   status_text;
} ngx_http_invites_error_t;


const ngx_http_invites_error_t *ngx_http_invites_error(
    ngx_http_invites_err_e err);


#endif /* _NGX_HTTP_INVITES_ERRORS_H_INCLUDED_ */
