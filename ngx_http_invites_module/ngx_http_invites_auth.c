
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/sha.h>

#include "ngx_http_invites_auth.h"
#include "ngx_http_invites_db.h"


/* a direct-mapped cache: a colliding key only costs a lookup */
#define NGX_HTTP_INVITES_AUTH_SLOTS   1024

#define NGX_HTTP_INVITES_AUTH_MAX_KEY 512


typedef struct {
    void                       *scope;
    ngx_msec_t                  stored;
    size_t                      len;
    u_char                      hash[64];
    u_char                      tenant[NGX_HTTP_INVITES_MAX_TENANT];
} ngx_http_invites_auth_entry_t;


static ngx_http_invites_auth_entry_t *ngx_http_invites_auth_slot(
    ngx_http_invites_auth_t *auth, void *scope);


static ngx_http_invites_auth_entry_t  *ngx_http_invites_auth_cache;


static const char  ngx_http_invites_auth_prepare[] =
    "PREPARE " NGX_HTTP_INVITES_AUTH_STMT " (text) AS "
    "SELECT tenant FROM invites_api_keys "
    "WHERE key_hash = $1 AND revoked_at IS NULL;";


static ngx_str_t  ngx_http_invites_namespace = ngx_string("micro-namespace");


/* "Authorization: Bearer <key>" -> the key's hash; NGX_DECLINED if absent */

ngx_int_t
ngx_http_invites_auth_key(ngx_http_request_t *r,
    ngx_http_invites_auth_t *auth)
{
    u_char           *p, *last;
    ngx_str_t         key;
    ngx_table_elt_t  *h;
    u_char            digest[SHA256_DIGEST_LENGTH];

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    if (h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(p, (u_char *) "Bearer ", sizeof("Bearer ") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    p += sizeof("Bearer ") - 1;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && *(last - 1) == ' ') {
        last--;
    }

    key.data = p;
    key.len = last - p;

    if (key.len == 0 || key.len > NGX_HTTP_INVITES_AUTH_MAX_KEY) {
        return NGX_DECLINED;
    }

    for ( /* void */ ; p < last; p++) {
        if (*p <= ' ' || *p >= 0x7f) {
            return NGX_DECLINED;
        }
    }

    SHA256(key.data, key.len, digest);

    ngx_hex_dump(auth->hash, digest, SHA256_DIGEST_LENGTH);
    auth->hash[64] = '\0';

    auth->values[0] = (const char *) auth->hash;
    auth->lengths[0] = 64;

    return NGX_OK;
}


/* each location asks with its own invites_auth_cache_ttl; 0 never hits */

ngx_int_t
ngx_http_invites_auth_cached(ngx_http_invites_auth_t *auth, void *scope,
    ngx_msec_t ttl, ngx_str_t *tenant)
{
    ngx_http_invites_auth_entry_t  *e;

    if (ngx_http_invites_auth_cache == NULL || ttl == 0) {
        return NGX_DECLINED;
    }

    e = ngx_http_invites_auth_slot(auth, scope);

    if (e->scope != scope
        || ngx_current_msec - e->stored >= ttl
        || ngx_memcmp(e->hash, auth->hash, 64) != 0)
    {
        return NGX_DECLINED;
    }

    tenant->data = e->tenant;
    tenant->len = e->len;

    return NGX_OK;
}


void
ngx_http_invites_auth_remember(ngx_http_invites_auth_t *auth, void *scope,
    ngx_str_t *tenant)
{
    size_t                          size;
    ngx_http_invites_auth_entry_t  *e;

    if (tenant->len > NGX_HTTP_INVITES_MAX_TENANT) {
        return;
    }

    if (ngx_http_invites_auth_cache == NULL) {
        size = NGX_HTTP_INVITES_AUTH_SLOTS
               * sizeof(ngx_http_invites_auth_entry_t);

        ngx_http_invites_auth_cache = ngx_pcalloc(ngx_cycle->pool, size);
        if (ngx_http_invites_auth_cache == NULL) {
            return;
        }
    }

    e = ngx_http_invites_auth_slot(auth, scope);

    e->scope = scope;
    e->stored = ngx_current_msec;
    e->len = tenant->len;
    ngx_memcpy(e->hash, auth->hash, 64);
    ngx_memcpy(e->tenant, tenant->data, tenant->len);
}


/* the same key of two databases takes two slots */

static ngx_http_invites_auth_entry_t *
ngx_http_invites_auth_slot(ngx_http_invites_auth_t *auth, void *scope)
{
    ngx_uint_t  n;

    n = (ngx_uint_t) ngx_hextoi(auth->hash, 4) ^ ((uintptr_t) scope >> 4);

    return &ngx_http_invites_auth_cache[n % NGX_HTTP_INVITES_AUTH_SLOTS];
}


/* the lookup found the key's tenant (NGX_OK), nothing, or an error */

ngx_int_t
ngx_http_invites_auth_rows(ngx_http_invites_db_result_t *res, ngx_log_t *log,
    ngx_str_t *tenant, ngx_http_invites_err_e *err)
{
    switch (res->kind) {

    case NGX_HTTP_INVITES_DB_ROWS:
        break;

    case NGX_HTTP_INVITES_DB_NONE:
        return NGX_DECLINED;

    default:
        *err = ngx_http_invites_db_err(res->kind);
        return NGX_ERROR;
    }

    if (res->ncols != 1) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "invites: the API key lookup returned %ui columns "
                      "instead of 1", res->ncols);
        *err = NGX_HTTP_INVITES_DB_ERROR;
        return NGX_ERROR;
    }

    ngx_http_invites_db_value(res, 0, 0, tenant);

    if (tenant->data == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "invites: an API key's tenant is NULL");
        *err = NGX_HTTP_INVITES_DB_ERROR;
        return NGX_ERROR;
    }

    if (tenant->len > NGX_HTTP_INVITES_MAX_TENANT) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "invites: an API key's tenant is longer than %d bytes",
                      NGX_HTTP_INVITES_MAX_TENANT);
        *err = NGX_HTTP_INVITES_DB_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an m3o client may name its namespace; it must be the key's tenant */

ngx_int_t
ngx_http_invites_auth_namespace(ngx_http_request_t *r, ngx_str_t *tenant)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != ngx_http_invites_namespace.len
            || ngx_strncasecmp(h[i].key.data, ngx_http_invites_namespace.data,
                               h[i].key.len)
               != 0)
        {
            continue;
        }

        if (h[i].value.len != tenant->len
            || ngx_memcmp(h[i].value.data, tenant->data, tenant->len) != 0)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


const char *
ngx_http_invites_auth_prepare_sql(void)
{
    return ngx_http_invites_auth_prepare;
}
