
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <netdb.h>

#include "ngx_http_invites_db.h"

#include <libpq-fe.h>


static ngx_int_t ngx_http_invites_db_resolve(ngx_conf_t *cf,
    PQconninfoOption *opts, ngx_array_t *kw, ngx_array_t *vals);
static ngx_int_t ngx_http_invites_db_split(ngx_pool_t *pool,
    const char *list, ngx_array_t *out);
static ngx_int_t ngx_http_invites_db_push(ngx_array_t *a, u_char *data,
    size_t len);
static char *ngx_http_invites_db_join(ngx_pool_t *pool, ngx_array_t *a);
static ngx_int_t ngx_http_invites_db_param(ngx_array_t *kw,
    ngx_array_t *vals, const char *keyword, const char *value);
static const char *ngx_http_invites_db_strdup(ngx_pool_t *pool,
    const char *s);


/*
 * Builds the connection parameters once, at configuration time: the user's
 * conninfo, plus what a worker needs to connect without blocking (a host
 * name resolved here, no GSSAPI negotiation), UTF-8, and the server's own
 * statement_timeout as a backstop for invites_db_timeout.
 */

ngx_int_t
ngx_http_invites_db_configure(ngx_conf_t *cf, ngx_http_invites_db_t *db)
{
    char              *err, *conninfo;
    u_char            *p;
    size_t             len;
    ngx_str_t          options;
    ngx_uint_t         has_gss, has_encoding;
    ngx_array_t        kw, vals;
    const char       **k, **v;
    PQconninfoOption  *opts, *o;

    conninfo = ngx_pnalloc(cf->pool, db->conninfo.len + 1);
    if (conninfo == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn((u_char *) conninfo, db->conninfo.data,
                       db->conninfo.len + 1);

    err = NULL;
    opts = PQconninfoParse(conninfo, &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"invites_db\" connection string: %s",
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_ERROR;
    }

    if (ngx_array_init(&kw, cf->pool, 32, sizeof(char *)) != NGX_OK
        || ngx_array_init(&vals, cf->pool, 32, sizeof(char *)) != NGX_OK)
    {
        goto failed;
    }

    has_gss = 0;
    has_encoding = 0;
    ngx_str_null(&options);

    for (o = opts; o->keyword; o++) {

        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "options") == 0) {
            options.data = (u_char *) o->val;
            options.len = ngx_strlen(o->val);
            continue;
        }

        if (ngx_strcmp(o->keyword, "gssencmode") == 0) {
            has_gss = 1;
        }

        if (ngx_strcmp(o->keyword, "client_encoding") == 0) {
            has_encoding = 1;
        }

        if (ngx_strcmp(o->keyword, "host") == 0
            || ngx_strcmp(o->keyword, "hostaddr") == 0
            || ngx_strcmp(o->keyword, "port") == 0)
        {
            /* resolved below */
            continue;
        }

        k = ngx_array_push(&kw);
        v = ngx_array_push(&vals);
        if (k == NULL || v == NULL) {
            goto failed;
        }

        *k = o->keyword;
        *v = o->val;
    }

    if (ngx_http_invites_db_resolve(cf, opts, &kw, &vals) != NGX_OK) {
        goto failed;
    }

    if (!has_gss) {
        k = ngx_array_push(&kw);
        v = ngx_array_push(&vals);
        if (k == NULL || v == NULL) {
            goto failed;
        }

        *k = "gssencmode";
        *v = "disable";
    }

    if (!has_encoding) {
        k = ngx_array_push(&kw);
        v = ngx_array_push(&vals);
        if (k == NULL || v == NULL) {
            goto failed;
        }

        *k = "client_encoding";
        *v = "UTF8";
    }

    len = options.len + sizeof(" -c statement_timeout=") + NGX_INT_T_LEN;

    p = ngx_pnalloc(cf->pool, len);

    k = ngx_array_push(&kw);
    v = ngx_array_push(&vals);
    if (p == NULL || k == NULL || v == NULL) {
        goto failed;
    }

    *k = "options";
    *v = (char *) p;

    p = ngx_snprintf(p, len - 1, "%V%s-c statement_timeout=%M", &options,
                     options.len ? " " : "", db->statement_timeout);
    *p = '\0';

    k = ngx_array_push(&kw);
    v = ngx_array_push(&vals);
    if (k == NULL || v == NULL) {
        goto failed;
    }

    *k = NULL;
    *v = NULL;

    /* the strings stay in the configuration pool, the options go away */

    for (k = kw.elts, v = vals.elts; *k; k++, v++) {
        *k = ngx_http_invites_db_strdup(cf->pool, *k);
        *v = ngx_http_invites_db_strdup(cf->pool, *v);

        if (*k == NULL || *v == NULL) {
            goto failed;
        }
    }

    db->keywords = kw.elts;
    db->values = vals.elts;

    PQconninfoFree(opts);

    return NGX_OK;

failed:

    PQconninfoFree(opts);

    return NGX_ERROR;
}


/*
 * Host names are looked up now rather than by libpq in a worker, where
 * getaddrinfo() would block: every address of every host becomes an entry
 * of "hostaddr", libpq tries them in turn, and "host" stays beside each for
 * TLS checks.  A socket directory keeps an empty hostaddr entry.
 */

static ngx_int_t
ngx_http_invites_db_resolve(ngx_conf_t *cf, PQconninfoOption *opts,
    ngx_array_t *kw, ngx_array_t *vals)
{
    int                 rc;
    char               *host, *hostaddr, *port, *name, *addrs, *joined;
    size_t              len;
    ngx_str_t          *hs, *ps, *pt;
    ngx_uint_t          i;
    ngx_array_t         hosts, ports, out_h, out_a, out_p;
    struct addrinfo     hints, *res, *ai;
    u_char             *addr;
    PQconninfoOption   *o;

    host = NULL;
    hostaddr = NULL;
    port = NULL;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;

        } else if (ngx_strcmp(o->keyword, "port") == 0) {
            port = o->val;
        }
    }

    if (host == NULL || hostaddr != NULL) {
        /* libpq's default socket, or addresses the user chose */
        return ngx_http_invites_db_param(kw, vals, "host", host)
               | ngx_http_invites_db_param(kw, vals, "hostaddr", hostaddr)
               | ngx_http_invites_db_param(kw, vals, "port", port);
    }

    if (ngx_http_invites_db_split(cf->pool, host, &hosts) != NGX_OK
        || ngx_http_invites_db_split(cf->pool, port ? port : "", &ports)
           != NGX_OK
        || ngx_array_init(&out_h, cf->pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&out_a, cf->pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&out_p, cf->pool, 4, sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    hs = hosts.elts;
    ps = ports.elts;

    for (i = 0; i < hosts.nelts; i++) {

        /* one port for all hosts, or one each */
        pt = &ps[ports.nelts == 1 ? 0 : ngx_min(i, ports.nelts - 1)];

        if (hs[i].len == 0 || hs[i].data[0] == '/' || hs[i].data[0] == '@') {
            if (ngx_http_invites_db_push(&out_h, hs[i].data, hs[i].len)
                || ngx_http_invites_db_push(&out_a, (u_char *) "", 0)
                || ngx_http_invites_db_push(&out_p, pt->data, pt->len))
            {
                return NGX_ERROR;
            }

            continue;
        }

        name = (char *) hs[i].data;

        ngx_memzero(&hints, sizeof(struct addrinfo));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;

        rc = getaddrinfo(name, NULL, &hints, &res);

        if (rc != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invites_db host \"%s\" not found: %s",
                               name, gai_strerror(rc));
            return NGX_ERROR;
        }

        for (ai = res; ai; ai = ai->ai_next) {
            addr = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN);
            if (addr == NULL) {
                freeaddrinfo(res);
                return NGX_ERROR;
            }

            len = ngx_sock_ntop(ai->ai_addr, ai->ai_addrlen, addr,
                                NGX_SOCKADDR_STRLEN, 0);

            if (ngx_http_invites_db_push(&out_h, hs[i].data, hs[i].len)
                || ngx_http_invites_db_push(&out_a, addr, len)
                || ngx_http_invites_db_push(&out_p, pt->data, pt->len))
            {
                freeaddrinfo(res);
                return NGX_ERROR;
            }
        }

        freeaddrinfo(res);
    }

    name = ngx_http_invites_db_join(cf->pool, &out_h);
    addrs = ngx_http_invites_db_join(cf->pool, &out_a);
    joined = ngx_http_invites_db_join(cf->pool, &out_p);

    if (name == NULL || addrs == NULL || joined == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_invites_db_param(kw, vals, "host", name)
           | ngx_http_invites_db_param(kw, vals, "hostaddr", addrs)
           | ngx_http_invites_db_param(kw, vals, "port", port ? joined : NULL);
}


/* "a,b,,c" -> NUL-terminated strings; "" -> one empty string */

static ngx_int_t
ngx_http_invites_db_split(ngx_pool_t *pool, const char *list,
    ngx_array_t *out)
{
    u_char      *p, *comma;
    ngx_str_t   *s;

    if (ngx_array_init(out, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    p = (u_char *) list;

    for ( ;; ) {
        comma = (u_char *) ngx_strchr(p, ',');

        s = ngx_array_push(out);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->len = comma ? (size_t) (comma - p) : ngx_strlen(p);
        s->data = ngx_pnalloc(pool, s->len + 1);
        if (s->data == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(s->data, p, s->len) = '\0';

        if (comma == NULL) {
            return NGX_OK;
        }

        p = comma + 1;
    }
}


/* NGX_OK (0) or NGX_ERROR, so that results can be or'ed */

static ngx_int_t
ngx_http_invites_db_push(ngx_array_t *a, u_char *data, size_t len)
{
    ngx_str_t  *s;

    s = ngx_array_push(a);
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->data = data;
    s->len = len;

    return NGX_OK;
}


static char *
ngx_http_invites_db_join(ngx_pool_t *pool, ngx_array_t *a)
{
    u_char      *p, *list;
    size_t       len;
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = a->elts;
    len = 1;

    for (i = 0; i < a->nelts; i++) {
        len += s[i].len + 1;
    }

    list = ngx_pnalloc(pool, len);
    if (list == NULL) {
        return NULL;
    }

    p = list;

    for (i = 0; i < a->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, s[i].data, s[i].len);
    }

    *p = '\0';

    return (char *) list;
}


/* adds keyword = value, unless the value is NULL */

static ngx_int_t
ngx_http_invites_db_param(ngx_array_t *kw, ngx_array_t *vals,
    const char *keyword, const char *value)
{
    const char  **k, **v;

    if (value == NULL) {
        return NGX_OK;
    }

    k = ngx_array_push(kw);
    v = ngx_array_push(vals);
    if (k == NULL || v == NULL) {
        return NGX_ERROR;
    }

    *k = keyword;
    *v = value;

    return NGX_OK;
}


static const char *
ngx_http_invites_db_strdup(ngx_pool_t *pool, const char *s)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(s) + 1;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len);

    return (const char *) p;
}
