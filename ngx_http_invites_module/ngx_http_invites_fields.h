
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_FIELDS_H_INCLUDED_
#define _NGX_HTTP_INVITES_FIELDS_H_INCLUDED_


#include "ngx_http_invites_module.h"


/*
 * An invite's fields, described once: the request parser, the validators,
 * the row mapping and the response writer all read this table.  Indexed by
 * ngx_http_invites_field_e; plain data, so that the JSON layer runs
 * without nginx.
 */


typedef enum {
    NGX_HTTP_INVITES_T_NONE = 0,    /* not taken, or not written */
    NGX_HTTP_INVITES_T_STRING,
    NGX_HTTP_INVITES_T_INTEGER,     /* in a request: from min to max */
    NGX_HTTP_INVITES_T_OBJECT,      /* in a request: at most max bytes */
    NGX_HTTP_INVITES_T_TIME,        /* a column of microseconds, written
                                       as RFC 3339 UTC with milliseconds */
    NGX_HTTP_INVITES_T_JSON         /* a column of JSON, written as it is */
} ngx_http_invites_type_e;


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   alias;      /* also taken in a request */
    ngx_http_invites_type_e     in;         /* its type in a request */
    ngx_http_invites_type_e     out;        /* in a response */
    int64_t                     min;
    size_t                      max;        /* a string's, an integer's */
    ngx_http_invites_err_e      bad_type;   /* a value of another type */
    ngx_http_invites_err_e      too_long;   /* a value past max */
    unsigned                    m3o:1;      /* one of m3o's four */
    unsigned                    nullable:1; /* its column may be NULL */
} ngx_http_invites_field_desc_t;


extern const ngx_http_invites_field_desc_t
    ngx_http_invites_fields[NGX_HTTP_INVITES_NFIELDS];


#endif /* _NGX_HTTP_INVITES_FIELDS_H_INCLUDED_ */
