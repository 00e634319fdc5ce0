
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_CONF_H_INCLUDED_
#define _NGX_HTTP_INVITES_CONF_H_INCLUDED_


#include "ngx_http_invites_module.h"
#include "ngx_http_invites_db.h"
#include "ngx_http_invites_ops.h"


typedef struct {
    ngx_array_t                  dbs;      /* of ngx_http_invites_db_t * */
    ngx_shm_zone_t              *metrics;  /* NULL: no invites_status */
    ngx_flag_t                   status;   /* invites_status is used */
} ngx_http_invites_main_conf_t;


typedef struct {
    ngx_flag_t                   api;
    ngx_str_t                    conninfo;
    ngx_str_t                    database;  /* invites_db NAME */
    ngx_uint_t                   pool_size;
    ngx_uint_t                   queue_max;
    ngx_msec_t                   connect_timeout;
    ngx_msec_t                   timeout;
    ngx_msec_t                   idle_timeout;
    ngx_flag_t                   pipeline;
    ngx_http_complex_value_t    *tenant;
    ngx_uint_t                   auth;
    ngx_msec_t                   auth_cache_ttl;
    ngx_http_invites_op_conf_t   op_conf;
    ngx_http_invites_db_t       *db;
} ngx_http_invites_loc_conf_t;


extern ngx_module_t  ngx_http_invites_module;


#endif /* _NGX_HTTP_INVITES_CONF_H_INCLUDED_ */
