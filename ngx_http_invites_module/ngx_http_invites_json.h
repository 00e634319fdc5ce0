
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_JSON_H_INCLUDED_
#define _NGX_HTTP_INVITES_JSON_H_INCLUDED_


#include "ngx_http_invites_module.h"
#include "ngx_http_invites_errors.h"
#include "ngx_http_invites_fields.h"

#include <yajl/yajl_common.h>


/*
 * The request parser and the response writer.  Neither needs a running
 * nginx: a test or fuzz program can call them with plain buffers.  Both
 * allocate with af (the module passes the request's pool), or with
 * malloc() when af is NULL; the writers leave the whole response in one
 * buffer.
 */


ngx_http_invites_err_e ngx_http_invites_json_parse(const u_char *body,
    size_t len, ngx_http_invites_req_t *req, yajl_alloc_funcs *af);

ngx_int_t ngx_http_invites_json_invite(ngx_http_invites_invite_t *invite,
    ngx_uint_t m3o, yajl_alloc_funcs *af, ngx_str_t *out);
ngx_int_t ngx_http_invites_json_list(ngx_http_invites_invite_t *invites,
    ngx_uint_t n, ngx_str_t *next, ngx_uint_t m3o, yajl_alloc_funcs *af,
    ngx_str_t *out);
ngx_int_t ngx_http_invites_json_empty(yajl_alloc_funcs *af, ngx_str_t *out);
ngx_int_t ngx_http_invites_json_answer(ngx_http_invites_answer_t *answer,
    yajl_alloc_funcs *af, ngx_str_t *out);
ngx_int_t ngx_http_invites_json_error(ngx_http_invites_err_e err,
    yajl_alloc_funcs *af, ngx_str_t *out);


#endif /* _NGX_HTTP_INVITES_JSON_H_INCLUDED_ */
