
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_module.h"
#include "ngx_http_invites_conf.h"
#include "ngx_http_invites_ops.h"
#include "ngx_http_invites_auth.h"
#include "ngx_http_invites_handler.h"
#include "ngx_http_invites_metrics.h"
#include "ngx_http_invites_variables.h"


static void *ngx_http_invites_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_invites_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_invites_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_invites_pool_of(ngx_conf_t *cf,
    ngx_http_invites_loc_conf_t *conf);
static ngx_int_t ngx_http_invites_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_invites_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_invites_prepare(ngx_conf_t *cf,
    ngx_http_invites_db_t *db);
static char *ngx_http_invites_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_invites_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_invites_db_directive(ngx_conf_t *cf,
    ngx_command_t *cmd,
    void *conf);
static char *ngx_http_invites_positive(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_invites_init_process(ngx_cycle_t *cycle);
static void ngx_http_invites_exit_process(ngx_cycle_t *cycle);


static ngx_conf_post_handler_pt  ngx_http_invites_positive_post =
    ngx_http_invites_positive;

static ngx_conf_num_bounds_t  ngx_http_invites_code_length_bounds = {
    ngx_conf_check_num_bounds,
    NGX_HTTP_INVITES_MIN_CODE, NGX_HTTP_INVITES_MAX_CODE
};


static ngx_conf_enum_t  ngx_http_invites_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_INVITES_AUTH_OFF },
    { ngx_string("key"), NGX_HTTP_INVITES_AUTH_KEY },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_invites_commands[] = {

    { ngx_string("invites_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_invites_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("invites_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_invites_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("invites_db"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_invites_db_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, conninfo),
      NULL },

    { ngx_string("invites_db_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, pool_size),
      &ngx_http_invites_positive_post },

    { ngx_string("invites_db_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, queue_max),
      NULL },

    { ngx_string("invites_db_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, connect_timeout),
      &ngx_http_invites_positive_post },

    { ngx_string("invites_db_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, timeout),
      &ngx_http_invites_positive_post },

    { ngx_string("invites_db_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("invites_db_pipeline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, pipeline),
      NULL },

    { ngx_string("invites_tenant"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, tenant),
      NULL },

    { ngx_string("invites_code_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, code_length),
      &ngx_http_invites_code_length_bounds },

    { ngx_string("invites_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, auth),
      &ngx_http_invites_auth_modes },

    { ngx_string("invites_auth_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, auth_cache_ttl),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_invites_module_ctx = {
    ngx_http_invites_preconfiguration,     /* preconfiguration */
    ngx_http_invites_postconfiguration,    /* postconfiguration */

    ngx_http_invites_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_invites_create_loc_conf,      /* create location configuration */
    ngx_http_invites_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_invites_module = {
    NGX_MODULE_V1,
    &ngx_http_invites_module_ctx,          /* module context */
    ngx_http_invites_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_invites_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_invites_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_invites_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_invites_main_conf_t));
    if (imcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&imcf->dbs, cf->pool, 2,
                       sizeof(ngx_http_invites_db_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return imcf;
}


static void *
ngx_http_invites_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_invites_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_invites_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->api = 0;
     *     conf->conninfo = { 0, NULL };
     *     conf->tenant = NULL;
     *     conf->db = NULL;
     */

    conf->pool_size = NGX_CONF_UNSET_UINT;
    conf->queue_max = NGX_CONF_UNSET_UINT;
    conf->connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->pipeline = NGX_CONF_UNSET;
    conf->auth = NGX_CONF_UNSET_UINT;
    conf->auth_cache_ttl = NGX_CONF_UNSET_MSEC;
    conf->code_length = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_invites_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_invites_loc_conf_t *prev = parent;
    ngx_http_invites_loc_conf_t *conf = child;

    if (conf->conninfo.data == NULL) {
        conf->conninfo = prev->conninfo;
    }

    ngx_conf_merge_uint_value(conf->pool_size, prev->pool_size, 4);
    ngx_conf_merge_uint_value(conf->queue_max, prev->queue_max, 1024);
    ngx_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                              5000);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 5000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 60000);
    ngx_conf_merge_value(conf->pipeline, prev->pipeline, 0);

    if (conf->tenant == NULL) {
        conf->tenant = prev->tenant;
    }

    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_INVITES_AUTH_OFF);
    ngx_conf_merge_msec_value(conf->auth_cache_ttl, prev->auth_cache_ttl,
                              30000);
    ngx_conf_merge_uint_value(conf->code_length, prev->code_length, 8);

    if (!conf->api) {
        return NGX_CONF_OK;
    }

    if (conf->conninfo.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"invites_api\" requires \"invites_db\" in this "
                           "location or above it");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_invites_pool_of(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* locations that name the same conninfo share one pool per worker */

static ngx_int_t
ngx_http_invites_pool_of(ngx_conf_t *cf, ngx_http_invites_loc_conf_t *conf)
{
    ngx_uint_t                     i;
    ngx_http_invites_db_t        **dbp, *db;
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_invites_module);

    dbp = imcf->dbs.elts;

    for (i = 0; i < imcf->dbs.nelts; i++) {
        db = dbp[i];

        if (db->conninfo.len != conf->conninfo.len
            || ngx_strncmp(db->conninfo.data, conf->conninfo.data,
                           db->conninfo.len)
               != 0)
        {
            continue;
        }

        if (db->size != conf->pool_size
            || db->queue_max != conf->queue_max
            || db->connect_timeout != conf->connect_timeout
            || db->idle_timeout != conf->idle_timeout
            || db->pipeline != (ngx_uint_t) conf->pipeline)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "conflicting \"invites_db_pool\", "
                               "\"invites_db_queue\", "
                               "\"invites_db_connect_timeout\", "
                               "\"invites_db_idle_timeout\" or "
                               "\"invites_db_pipeline\" for the same "
                               "\"invites_db\"");
            return NGX_ERROR;
        }

        db->statement_timeout = ngx_max(db->statement_timeout, conf->timeout);
        db->auth |= (conf->auth == NGX_HTTP_INVITES_AUTH_KEY);
        conf->db = db;

        return NGX_OK;
    }

    db = ngx_pcalloc(cf->pool, sizeof(ngx_http_invites_db_t));
    if (db == NULL) {
        return NGX_ERROR;
    }

    /* an unnamed database is labelled by its place in the configuration */
    db->name.data = ngx_pnalloc(cf->pool, sizeof("db") + NGX_INT_T_LEN);
    if (db->name.data == NULL) {
        return NGX_ERROR;
    }

    db->name.len = ngx_sprintf(db->name.data, "db%ui", imcf->dbs.nelts + 1)
                   - db->name.data;

    db->conninfo = conf->conninfo;
    db->size = conf->pool_size;
    db->queue_max = conf->queue_max;
    db->connect_timeout = conf->connect_timeout;
    db->idle_timeout = conf->idle_timeout;
    db->statement_timeout = conf->timeout;
    db->pipeline = conf->pipeline;
    db->auth = (conf->auth == NGX_HTTP_INVITES_AUTH_KEY);
    db->index = imcf->dbs.nelts;

    dbp = ngx_array_push(&imcf->dbs);
    if (dbp == NULL) {
        return NGX_ERROR;
    }

    *dbp = db;
    conf->db = db;

    return NGX_OK;
}


static ngx_int_t
ngx_http_invites_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_invites_variables_add(cf);
}


static ngx_int_t
ngx_http_invites_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                     i;
    ngx_http_handler_pt           *h;
    ngx_http_invites_db_t        **dbp;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_invites_module);

    dbp = imcf->dbs.elts;

    for (i = 0; i < imcf->dbs.nelts; i++) {
        if (ngx_http_invites_prepare(cf, dbp[i]) != NGX_OK
            || ngx_http_invites_db_configure(cf, dbp[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!imcf->status) {
        return NGX_OK;
    }

    /* counted only where it can be read */

    imcf->metrics = ngx_http_invites_metrics_zone(cf, &imcf->dbs);
    if (imcf->metrics == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < imcf->dbs.nelts; i++) {
        dbp[i]->event = ngx_http_invites_metrics_db;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_invites_log_handler;

    return NGX_OK;
}


/* the statements a new connection prepares: the key lookup if used */

static ngx_int_t
ngx_http_invites_prepare(ngx_conf_t *cf, ngx_http_invites_db_t *db)
{
    u_char      *p;
    size_t       len;
    const char  *ops, *auth;

    ops = ngx_http_invites_op_prepare_sql();
    auth = db->auth ? ngx_http_invites_auth_prepare_sql() : "";

    len = ngx_strlen(ops) + ngx_strlen(auth) + 1;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(ngx_cpymem(p, ops, ngx_strlen(ops)), auth, ngx_strlen(auth))
        = '\0';

    db->prepare = (const char *) p;

    return NGX_OK;
}


static char *
ngx_http_invites_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_invites_loc_conf_t *ilcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (ilcf->api) {
        return "is duplicate";
    }

    ilcf->api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_invites_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_invites_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_invites_module);
    imcf->status = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_invites_metrics_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_invites_db_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_invites_loc_conf_t *ilcf = conf;

    char              *err, *conninfo;
    ngx_str_t         *value;
    PQconninfoOption  *opts;

    if (ilcf->conninfo.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a connection string, not an empty one";
    }

    /* the arguments nginx parsed are NUL-terminated */
    conninfo = (char *) value[1].data;

    err = NULL;
    opts = PQconninfoParse(conninfo, &err);

    if (opts == NULL) {
        /* not the string itself: it may hold a password */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid connection string: %s",
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    PQconninfoFree(opts);

    ilcf->conninfo = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_invites_positive(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *np = data;

    if (*np == 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_invites_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_invites_db_t        **dbp;
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_invites_module);
    if (imcf == NULL) {
        return NGX_OK;
    }

    ngx_http_invites_metrics_init_process(imcf->metrics);

    dbp = imcf->dbs.elts;

    for (i = 0; i < imcf->dbs.nelts; i++) {
        if (ngx_http_invites_db_init(dbp[i], cycle) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_invites_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_invites_db_t        **dbp;
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_invites_module);
    if (imcf == NULL) {
        return;
    }

    dbp = imcf->dbs.elts;

    for (i = 0; i < imcf->dbs.nelts; i++) {
        ngx_http_invites_db_done(dbp[i]);
    }
}
