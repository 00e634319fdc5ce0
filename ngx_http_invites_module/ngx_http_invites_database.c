
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_database.h"
#include "ngx_http_invites_auth.h"

#include <libpq-fe.h>


static char *ngx_http_invites_database_handler(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_invites_database_conninfo(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_invites_database_named(ngx_str_t *name);
static ngx_http_invites_db_t *ngx_http_invites_database_find(
    ngx_http_invites_main_conf_t *imcf, ngx_str_t *name);
static ngx_http_invites_db_t *ngx_http_invites_database_add(ngx_conf_t *cf,
    ngx_http_invites_loc_conf_t *conf, ngx_str_t *name);
static ngx_int_t ngx_http_invites_database_label(ngx_conf_t *cf,
    ngx_http_invites_main_conf_t *imcf, ngx_str_t *name);
static char *ngx_http_invites_database_positive_check(ngx_conf_t *cf,
    void *post, void *data);


ngx_conf_post_handler_pt  ngx_http_invites_database_positive =
    ngx_http_invites_database_positive_check;


/* the settings of an invites_database block, as in the location */

static ngx_command_t  ngx_http_invites_database_commands[] = {

    { ngx_string("conninfo"),
      NGX_CONF_TAKE1,
      ngx_http_invites_database_conninfo,
      0,
      offsetof(ngx_http_invites_loc_conf_t, conninfo),
      NULL },

    { ngx_string("pool"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_http_invites_loc_conf_t, pool_size),
      &ngx_http_invites_database_positive },

    { ngx_string("queue"),
      NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      0,
      offsetof(ngx_http_invites_loc_conf_t, queue_max),
      NULL },

    { ngx_string("pipeline"),
      NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      0,
      offsetof(ngx_http_invites_loc_conf_t, pipeline),
      NULL },

    { ngx_string("idle_timeout"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_invites_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("connect_timeout"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_invites_loc_conf_t, connect_timeout),
      &ngx_http_invites_database_positive },

    { ngx_string("timeout"),
      NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_http_invites_loc_conf_t, timeout),
      &ngx_http_invites_database_positive },

      ngx_null_command
};


/* the location directives that a named database sets in its block */

static ngx_str_t  ngx_http_invites_database_settings =
    ngx_string("\"invites_db_pool\", \"invites_db_queue\", "
               "\"invites_db_pipeline\", \"invites_db_idle_timeout\", "
               "\"invites_db_connect_timeout\" and \"invites_db_timeout\"");


char *
ngx_http_invites_database_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                          *rv;
    ngx_str_t                     *value, name;
    ngx_conf_t                     save;
    ngx_http_invites_db_t         *db;
    ngx_http_invites_loc_conf_t   *settings, defaults;
    ngx_http_invites_main_conf_t  *imcf;

    value = cf->args->elts;

    /* the block's lines reuse cf->args; the words themselves stay */
    name = value[1];

    if (!ngx_http_invites_database_named(&name)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid invites_database name \"%V\": letters, "
                           "digits, \"_\", \"-\" and \".\" only",
                           &name);
        return NGX_CONF_ERROR;
    }

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_invites_module);

    if (ngx_http_invites_database_find(imcf, &name) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate invites_database \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    /* what the block's lines set: the parser keeps a pointer to it */

    settings = ngx_pcalloc(cf->pool, sizeof(ngx_http_invites_loc_conf_t));
    if (settings == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_invites_database_unset(settings);

    save = *cf;
    cf->handler = ngx_http_invites_database_handler;
    cf->handler_conf = (char *) settings;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (settings->conninfo.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invites_database \"%V\" has no \"conninfo\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&defaults, sizeof(ngx_http_invites_loc_conf_t));
    ngx_http_invites_database_unset(&defaults);

    if (ngx_http_invites_database_merge(cf, settings, &defaults)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    db = ngx_http_invites_database_add(cf, settings, &name);
    if (db == NULL) {
        return NGX_CONF_ERROR;
    }

    db->named = 1;

    return NGX_CONF_OK;
}


/* one line of an invites_database block */

static char *
ngx_http_invites_database_handler(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    char           *rv;
    ngx_str_t      *value;
    ngx_command_t  *cmd;

    value = cf->args->elts;

    for (cmd = ngx_http_invites_database_commands; cmd->name.len; cmd++) {

        if (cmd->name.len != value[0].len
            || ngx_strncmp(cmd->name.data, value[0].data, value[0].len) != 0)
        {
            continue;
        }

        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid number of arguments in \"%V\" of "
                               "invites_database", &value[0]);
            return NGX_CONF_ERROR;
        }

        rv = cmd->set(cf, cmd, conf);

        if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR) {
            return rv;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" of invites_database "
                           "%s", &value[0], rv);

        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown \"%V\" in invites_database: conninfo, pool, "
                       "queue, pipeline, idle_timeout, connect_timeout or "
                       "timeout", &value[0]);

    return NGX_CONF_ERROR;
}


/*
 * "invites_db NAME" names a database declared by invites_database;
 * anything else (it has "=", or a postgresql:// URI's ":") is the
 * connection string of an unnamed database, checked now.  The name is
 * looked up at merge time, when every block has been read.
 */

char *
ngx_http_invites_database_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_invites_loc_conf_t *ilcf = conf;

    ngx_str_t  *value;

    if (ilcf->conninfo.data || ilcf->database.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a database name or a connection string, not an "
               "empty one";
    }

    if (ngx_http_invites_database_named(&value[1])) {
        ilcf->database = value[1];
        return NGX_CONF_OK;
    }

    return ngx_http_invites_database_conninfo(cf, cmd, conf);
}


static char *
ngx_http_invites_database_conninfo(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_invites_loc_conf_t *ilcf = conf;

    char              *err;
    size_t             len;
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

    err = NULL;
    opts = PQconninfoParse((char *) value[1].data, &err);

    if (opts == NULL) {
        len = err ? ngx_strlen(err) : 0;

        while (len && err[len - 1] == '\n') {
            len--;
        }

        /* not the string itself: it may hold a password */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid connection string in \"%V\": %*s",
                           &value[0], len, err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    PQconninfoFree(opts);

    ilcf->conninfo = value[1];

    return NGX_CONF_OK;
}


/* a name, not a connection string: [A-Za-z0-9_.-]+ */

static ngx_int_t
ngx_http_invites_database_named(ngx_str_t *name)
{
    u_char  c, *p, *last;

    if (name->len == 0) {
        return 0;
    }

    last = name->data + name->len;

    for (p = name->data; p < last; p++) {
        c = *p;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


void
ngx_http_invites_database_unset(ngx_http_invites_loc_conf_t *conf)
{
    conf->pool_size = NGX_CONF_UNSET_UINT;
    conf->queue_max = NGX_CONF_UNSET_UINT;
    conf->connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->pipeline = NGX_CONF_UNSET;
}


/* the database a location uses, and its settings, from above or defaults */

char *
ngx_http_invites_database_merge(ngx_conf_t *cf,
    ngx_http_invites_loc_conf_t *conf, ngx_http_invites_loc_conf_t *prev)
{
    if (conf->conninfo.data == NULL && conf->database.data == NULL) {
        conf->conninfo = prev->conninfo;
        conf->database = prev->database;
    }

    if (conf->database.data
        && (conf->pool_size != NGX_CONF_UNSET_UINT
            || conf->queue_max != NGX_CONF_UNSET_UINT
            || conf->connect_timeout != NGX_CONF_UNSET_MSEC
            || conf->timeout != NGX_CONF_UNSET_MSEC
            || conf->idle_timeout != NGX_CONF_UNSET_MSEC
            || conf->pipeline != NGX_CONF_UNSET))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V have no effect with \"invites_db %V\": set "
                           "them in its invites_database block",
                           &ngx_http_invites_database_settings,
                           &conf->database);
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(conf->pool_size, prev->pool_size, 4);
    ngx_conf_merge_uint_value(conf->queue_max, prev->queue_max, 1024);
    ngx_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                              5000);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 5000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 60000);
    ngx_conf_merge_value(conf->pipeline, prev->pipeline, 0);

    return NGX_CONF_OK;
}


/*
 * The pool of an invites_api location: its named database, or the unnamed
 * one of the same connection string, whose settings must then agree.
 */

ngx_int_t
ngx_http_invites_database_of(ngx_conf_t *cf,
    ngx_http_invites_loc_conf_t *conf)
{
    ngx_uint_t                     i;
    ngx_http_invites_db_t        **dbp, *db;
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_invites_module);

    if (conf->database.data) {
        db = ngx_http_invites_database_find(imcf, &conf->database);

        if (db == NULL || !db->named) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no invites_database \"%V\" for \"invites_db\"",
                               &conf->database);
            return NGX_ERROR;
        }

        /* the block's timeout, which its statement_timeout backs up */
        conf->timeout = db->statement_timeout;
        goto found;
    }

    dbp = imcf->dbs.elts;

    for (i = 0; i < imcf->dbs.nelts; i++) {
        db = dbp[i];

        if (db->named
            || db->conninfo.len != conf->conninfo.len
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
                               "\"invites_db\"; an invites_database block "
                               "declares them once");
            return NGX_ERROR;
        }

        db->statement_timeout = ngx_max(db->statement_timeout, conf->timeout);
        goto found;
    }

    db = ngx_http_invites_database_add(cf, conf, NULL);
    if (db == NULL) {
        return NGX_ERROR;
    }

found:

    db->auth |= (conf->auth == NGX_HTTP_INVITES_AUTH_KEY);
    conf->db = db;

    return NGX_OK;
}


static ngx_http_invites_db_t *
ngx_http_invites_database_find(ngx_http_invites_main_conf_t *imcf,
    ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_http_invites_db_t  **dbp;

    dbp = imcf->dbs.elts;

    for (i = 0; i < imcf->dbs.nelts; i++) {
        if (dbp[i]->name.len == name->len
            && ngx_strncmp(dbp[i]->name.data, name->data, name->len) == 0)
        {
            return dbp[i];
        }
    }

    return NULL;
}


/* a new pool with these settings, named, or labelled "dbN" when unnamed */

static ngx_http_invites_db_t *
ngx_http_invites_database_add(ngx_conf_t *cf,
    ngx_http_invites_loc_conf_t *conf, ngx_str_t *name)
{
    ngx_http_invites_db_t         *db, **dbp;
    ngx_http_invites_main_conf_t  *imcf;

    imcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_invites_module);

    db = ngx_pcalloc(cf->pool, sizeof(ngx_http_invites_db_t));
    if (db == NULL) {
        return NULL;
    }

    if (name) {
        db->name = *name;

    } else if (ngx_http_invites_database_label(cf, imcf, &db->name)
               != NGX_OK)
    {
        return NULL;
    }

    db->conninfo = conf->conninfo;
    db->size = conf->pool_size;
    db->queue_max = conf->queue_max;
    db->connect_timeout = conf->connect_timeout;
    db->idle_timeout = conf->idle_timeout;
    db->statement_timeout = conf->timeout;
    db->pipeline = conf->pipeline;
    db->index = imcf->dbs.nelts;

    dbp = ngx_array_push(&imcf->dbs);
    if (dbp == NULL) {
        return NULL;
    }

    *dbp = db;

    return db;
}


/* unnamed databases are labelled db1, db2... skipping the names taken */

static ngx_int_t
ngx_http_invites_database_label(ngx_conf_t *cf,
    ngx_http_invites_main_conf_t *imcf, ngx_str_t *name)
{
    ngx_uint_t               i, n;
    ngx_http_invites_db_t  **dbp;

    name->data = ngx_pnalloc(cf->pool, sizeof("db") + NGX_INT_T_LEN);
    if (name->data == NULL) {
        return NGX_ERROR;
    }

    dbp = imcf->dbs.elts;
    n = 1;

    for (i = 0; i < imcf->dbs.nelts; i++) {
        n += !dbp[i]->named;
    }

    for ( /* void */ ; /* void */ ; n++) {
        name->len = ngx_sprintf(name->data, "db%ui", n) - name->data;

        if (ngx_http_invites_database_find(imcf, name) == NULL) {
            return NGX_OK;
        }
    }
}


static char *
ngx_http_invites_database_positive_check(ngx_conf_t *cf, void *post,
    void *data)
{
    ngx_uint_t  *np = data;

    if (*np == 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}
