
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
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_ID, NGX_HTTP_INVITES_OK, 1 },

    /* groupId: the lowerCamel spelling protobuf's JSON mapping accepts */
    { ngx_string("group_id"), ngx_string("groupId"),
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_GROUP_ID, NGX_HTTP_INVITES_LONG_GROUP_ID, 1 },

    { ngx_string("email"), ngx_null_string,
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_MAX_EMAIL,
      NGX_HTTP_INVITES_BAD_EMAIL, NGX_HTTP_INVITES_LONG_EMAIL, 1 },

    { ngx_string("code"), ngx_null_string,
      NGX_HTTP_INVITES_T_STRING, NGX_HTTP_INVITES_MAX_FIELD,
      NGX_HTTP_INVITES_BAD_CODE, NGX_HTTP_INVITES_LONG_CODE, 1 }
};
