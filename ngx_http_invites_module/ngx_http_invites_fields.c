
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_fields.h"


/* in the order of ngx_http_invites_field_e */

const ngx_http_invites_field_desc_t
    ngx_http_invites_fields[NGX_HTTP_INVITES_NFIELDS] =
{
    /* an id too long to be a UUID names no invite: no error of its own */
    { ngx_string("id"), ngx_null_string,
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_T_STRING,
      0, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_ID, NGX_HTTP_INVITES_OK, 1, 0 },

    /* groupId: the lowerCamel spelling protobuf's JSON mapping accepts */
    { ngx_string("group_id"), ngx_string("groupId"),
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_T_STRING,
      0, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_GROUP_ID, NGX_HTTP_INVITES_LONG_GROUP_ID, 1, 0 },

    { ngx_string("email"), ngx_null_string,
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_T_STRING,
      0, NGX_HTTP_INVITES_MAX_EMAIL,
      NGX_HTTP_INVITES_BAD_EMAIL, NGX_HTTP_INVITES_LONG_EMAIL, 1, 0 },

    { ngx_string("code"), ngx_null_string,
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_T_STRING,
      0, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_CODE, NGX_HTTP_INVITES_LONG_CODE, 1, 0 },

    /* a List's filter; an unknown value is refused by its validator */
    { ngx_string("status"), ngx_null_string,
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_T_STRING,
      0, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_STATUS, NGX_HTTP_INVITES_BAD_STATUS, 0, 0 },

    { ngx_string("created_at"), ngx_null_string,
      NGX_HTTP_INVITES_T_NONE, NGX_HTTP_INVITES_T_TIME,
      0, 0, NGX_HTTP_INVITES_OK, NGX_HTTP_INVITES_OK, 0, 0 },

    { ngx_string("expires_at"), ngx_null_string,
      NGX_HTTP_INVITES_T_NONE, NGX_HTTP_INVITES_T_TIME,
      0, 0, NGX_HTTP_INVITES_OK, NGX_HTTP_INVITES_OK, 0, 1 },

    { ngx_string("accepted_at"), ngx_null_string,
      NGX_HTTP_INVITES_T_NONE, NGX_HTTP_INVITES_T_TIME,
      0, 0, NGX_HTTP_INVITES_OK, NGX_HTTP_INVITES_OK, 0, 1 },

    { ngx_string("revoked_at"), ngx_null_string,
      NGX_HTTP_INVITES_T_NONE, NGX_HTTP_INVITES_T_TIME,
      0, 0, NGX_HTTP_INVITES_OK, NGX_HTTP_INVITES_OK, 0, 1 },

    { ngx_string("metadata"), ngx_null_string,
      NGX_HTTP_INVITES_T_OBJECT, NGX_HTTP_INVITES_T_JSON,
      0, NGX_HTTP_INVITES_MAX_METADATA,
      NGX_HTTP_INVITES_BAD_METADATA, NGX_HTTP_INVITES_LONG_METADATA, 0, 1 },

    { ngx_string("expires_in_days"), ngx_null_string,
      NGX_HTTP_INVITES_T_INTEGER, NGX_HTTP_INVITES_T_NONE,
      1, 365, NGX_HTTP_INVITES_BAD_EXPIRES_IN_DAYS,
      NGX_HTTP_INVITES_BAD_EXPIRES_IN_DAYS, 0, 0 },

    { ngx_string("limit"), ngx_null_string,
      NGX_HTTP_INVITES_T_INTEGER, NGX_HTTP_INVITES_T_NONE,
      1, 1000, NGX_HTTP_INVITES_BAD_LIMIT, NGX_HTTP_INVITES_BAD_LIMIT, 0, 0 },

    { ngx_string("page_token"), ngx_null_string,
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_T_NONE,
      0, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_PAGE_TOKEN, NGX_HTTP_INVITES_BAD_PAGE_TOKEN, 0, 0 }
};
