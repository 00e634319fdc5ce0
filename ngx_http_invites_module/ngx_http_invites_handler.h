
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_HANDLER_H_INCLUDED_
#define _NGX_HTTP_INVITES_HANDLER_H_INCLUDED_


#include "ngx_http_invites_module.h"


ngx_int_t ngx_http_invites_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_INVITES_HANDLER_H_INCLUDED_ */
