
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_variables.h"
#include "ngx_http_invites_handler.h"
#include "ngx_http_invites_errors.h"
#include "ngx_http_invites_ops.h"


static ngx_int_t ngx_http_invites_var_endpoint(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_invites_var_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_invites_var_error(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_invites_var_db_time(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_invites_var_set(ngx_http_variable_value_t *v,
    u_char *data, size_t len);


/* none is cacheable: a value may be read before the request has it */

static ngx_http_variable_t  ngx_http_invites_vars[] = {

    { ngx_string("invites_endpoint"), NULL,
      ngx_http_invites_var_endpoint, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("invites_tenant"), NULL,
      ngx_http_invites_var_str,
      offsetof(ngx_http_invites_outcome_t, tenant),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("invites_error"), NULL,
      ngx_http_invites_var_error, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("invites_db_time"), NULL,
      ngx_http_invites_var_db_time, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("invites_invite_id"), NULL,
      ngx_http_invites_var_str,
      offsetof(ngx_http_invites_outcome_t, invite_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_invites_variables_add(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_invites_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_invites_var_endpoint(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                   *name;
    ngx_http_invites_outcome_t  *o;

    o = ngx_http_invites_outcome(r);

    if (o == NULL || o->endpoint >= NGX_HTTP_INVITES_NENDPOINTS) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_http_invites_op_endpoint_name(o->endpoint);

    ngx_http_invites_var_set(v, name->data, name->len);

    return NGX_OK;
}


/* an ngx_str_t of the outcome, at offset data; not found while unset */

static ngx_int_t
ngx_http_invites_var_str(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t                   *s;
    ngx_http_invites_outcome_t  *o;

    o = ngx_http_invites_outcome(r);

    if (o == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) o + data);

    if (s->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_invites_var_set(v, s->data, s->len);

    return NGX_OK;
}


/* the id of the error body sent, empty after a success */

static ngx_int_t
ngx_http_invites_var_error(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    const ngx_http_invites_error_t  *e;
    ngx_http_invites_outcome_t      *o;

    o = ngx_http_invites_outcome(r);

    if (o == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (o->err == NGX_HTTP_INVITES_OK) {
        ngx_http_invites_var_set(v, (u_char *) "", 0);
        return NGX_OK;
    }

    e = ngx_http_invites_error(o->err);

    ngx_http_invites_var_set(v, e->id.data, e->id.len);

    return NGX_OK;
}


/* seconds with milliseconds, as $upstream_response_time */

static ngx_int_t
ngx_http_invites_var_db_time(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_http_invites_outcome_t  *o;

    o = ngx_http_invites_outcome(r);

    if (o == NULL || !o->queried) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_invites_var_set(v, p,
                             ngx_sprintf(p, "%T.%03M",
                                         (time_t) (o->db_time / 1000),
                                         o->db_time % 1000)
                             - p);

    return NGX_OK;
}


static void
ngx_http_invites_var_set(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = data;
}
