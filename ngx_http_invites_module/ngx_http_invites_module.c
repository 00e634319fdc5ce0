
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_module.h"
#include "ngx_http_invites_conf.h"
#include "ngx_http_invites_database.h"
#include "ngx_http_invites_ops.h"
#include "ngx_http_invites_auth.h"
#include "ngx_http_invites_handler.h"
#include "ngx_http_invites_schema.h"
#include "ngx_http_invites_metrics.h"
#include "ngx_http_invites_variables.h"


static void *ngx_http_invites_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_invites_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_invites_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_invites_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_invites_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_invites_prepare(ngx_conf_t *cf,
    ngx_http_invites_db_t *db);
static char *ngx_http_invites_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_invites_code_length(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_invites_list_limit(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_invites_expiry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_invites_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_invites_init_process(ngx_cycle_t *cycle);
static void ngx_http_invites_exit_process(ngx_cycle_t *cycle);


static ngx_conf_post_handler_pt  ngx_http_invites_code_length_post =
    ngx_http_invites_code_length;

static ngx_conf_post_handler_pt  ngx_http_invites_list_limit_post =
    ngx_http_invites_list_limit;


static ngx_conf_enum_t  ngx_http_invites_fields_modes[] = {
    { ngx_string("all"), NGX_HTTP_INVITES_FIELDS_ALL },
    { ngx_string("m3o"), NGX_HTTP_INVITES_FIELDS_M3O },
    { ngx_null_string, 0 }
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

    { ngx_string("invites_database"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_invites_database_block,
      0,
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
      ngx_http_invites_database_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("invites_db_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, pool_size),
      &ngx_http_invites_database_positive },

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
      &ngx_http_invites_database_positive },

    { ngx_string("invites_db_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, timeout),
      &ngx_http_invites_database_positive },

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
      offsetof(ngx_http_invites_loc_conf_t, op_conf.code_length),
      &ngx_http_invites_code_length_post },

    { ngx_string("invites_expiry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_invites_expiry,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, op_conf.expiry),
      NULL },

    { ngx_string("invites_list_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, op_conf.list_limit),
      &ngx_http_invites_list_limit_post },

    { ngx_string("invites_fields"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_invites_loc_conf_t, op_conf.fields),
      &ngx_http_invites_fields_modes },

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
     *     conf->database = { 0, NULL };
     *     conf->tenant = NULL;
     *     conf->db = NULL;
     */

    ngx_http_invites_database_unset(conf);
    conf->auth = NGX_CONF_UNSET_UINT;
    conf->auth_cache_ttl = NGX_CONF_UNSET_MSEC;
    conf->op_conf.code_length = NGX_CONF_UNSET_UINT;
    conf->op_conf.expiry = NGX_CONF_UNSET;
    conf->op_conf.list_limit = NGX_CONF_UNSET_UINT;
    conf->op_conf.fields = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_invites_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_invites_loc_conf_t *prev = parent;
    ngx_http_invites_loc_conf_t *conf = child;

    if (ngx_http_invites_database_merge(cf, conf, prev) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->tenant == NULL) {
        conf->tenant = prev->tenant;
    }

    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_INVITES_AUTH_OFF);
    ngx_conf_merge_msec_value(conf->auth_cache_ttl, prev->auth_cache_ttl,
                              30000);
    ngx_conf_merge_uint_value(conf->op_conf.code_length,
                              prev->op_conf.code_length, 8);
    ngx_conf_merge_sec_value(conf->op_conf.expiry, prev->op_conf.expiry, 0);
    ngx_conf_merge_uint_value(conf->op_conf.list_limit,
                              prev->op_conf.list_limit,
                              NGX_HTTP_INVITES_MAX_LIMIT);
    ngx_conf_merge_uint_value(conf->op_conf.fields, prev->op_conf.fields,
                              NGX_HTTP_INVITES_FIELDS_ALL);

    if (!conf->api) {
        return NGX_CONF_OK;
    }

    if (conf->conninfo.data == NULL && conf->database.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"invites_api\" requires \"invites_db\" in this "
                           "location or above it");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_invites_database_of(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->auth == NGX_HTTP_INVITES_AUTH_KEY && conf->tenant) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"invites_tenant\" is ignored where "
                           "\"invites_auth key\" is on: the key's tenant "
                           "wins");
    }

    return NGX_CONF_OK;
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


/*
 * What a new connection sends: the schema version check, then the
 * statements it prepares; the key lookup, and 002_api_keys, if used.
 */

static ngx_int_t
ngx_http_invites_prepare(ngx_conf_t *cf, ngx_http_invites_db_t *db)
{
    u_char      *p;
    size_t       len;
    const char  *ops, *auth;

    ops = ngx_http_invites_op_prepare_sql();
    auth = db->auth ? ngx_http_invites_auth_prepare_sql() : "";

    len = sizeof(NGX_HTTP_INVITES_SCHEMA_SQL) - 1 + ngx_strlen(ops)
          + ngx_strlen(auth) + 1;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    db->prepare = (const char *) p;

    p = ngx_cpymem(p, NGX_HTTP_INVITES_SCHEMA_SQL,
                   sizeof(NGX_HTTP_INVITES_SCHEMA_SQL) - 1);
    p = ngx_cpymem(p, ops, ngx_strlen(ops));
    p = ngx_cpymem(p, auth, ngx_strlen(auth));
    *p = '\0';

    db->schema = NGX_HTTP_INVITES_SCHEMA;

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



/* as ngx_conf_check_num_bounds(), but nginx names the directive */

static char *
ngx_http_invites_code_length(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *np = data;

    static char  msg[] = "must be between "
                         ngx_value(NGX_HTTP_INVITES_MIN_CODE)
                         " and "
                         ngx_value(NGX_HTTP_INVITES_MAX_CODE);

    if (*np < NGX_HTTP_INVITES_MIN_CODE || *np > NGX_HTTP_INVITES_MAX_CODE) {
        return msg;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_invites_list_limit(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *np = data;

    static char  msg[] = "must be between 1 and "
                         ngx_value(NGX_HTTP_INVITES_MAX_LIMIT);

    if (*np < 1 || *np > NGX_HTTP_INVITES_MAX_LIMIT) {
        return msg;
    }

    return NGX_CONF_OK;
}


/* invites_expiry off | time: how long a new invite lasts by default */

static char *
ngx_http_invites_expiry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    time_t     *sp, s;
    ngx_str_t  *value;

    sp = (time_t *) (p + cmd->offset);

    if (*sp != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *sp = 0;
        return NGX_CONF_OK;
    }

    s = ngx_parse_time(&value[1], 1);

    if (s == (time_t) NGX_ERROR || s == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": a time such as "
                           "\"7d\", or \"off\"", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    *sp = s;

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
