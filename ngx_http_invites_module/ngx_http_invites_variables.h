
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_INVITES_VARIABLES_H_INCLUDED_


#include "ngx_http_invites_module.h"


/* $invites_endpoint, $invites_tenant, ...: what a request did, for logs */

ngx_int_t ngx_http_invites_variables_add(ngx_conf_t *cf);


#endif /* _NGX_HTTP_INVITES_VARIABLES_H_INCLUDED_ */
