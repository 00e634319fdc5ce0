
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_DATABASE_H_INCLUDED_
#define _NGX_HTTP_INVITES_DATABASE_H_INCLUDED_


#include "ngx_http_invites_module.h"
#include "ngx_http_invites_conf.h"


/*
 * The databases of a configuration: "invites_database NAME { ... }" blocks
 * at http{} level, "invites_db NAME | conninfo" in a location, and the one
 * pool per worker that every location naming the same database shares.
 */


extern ngx_conf_post_handler_pt  ngx_http_invites_database_positive;


char *ngx_http_invites_database_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_invites_database_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
void ngx_http_invites_database_unset(ngx_http_invites_loc_conf_t *conf);
char *ngx_http_invites_database_merge(ngx_conf_t *cf,
    ngx_http_invites_loc_conf_t *conf, ngx_http_invites_loc_conf_t *prev);
ngx_int_t ngx_http_invites_database_of(ngx_conf_t *cf,
    ngx_http_invites_loc_conf_t *conf);


#endif /* _NGX_HTTP_INVITES_DATABASE_H_INCLUDED_ */
