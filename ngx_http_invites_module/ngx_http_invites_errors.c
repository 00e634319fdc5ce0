
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_errors.h"


/* in the order of ngx_http_invites_err_e */

#define ngx_http_invites_err(st, id, detail, text)                            \
    { st, ngx_string(id), ngx_string(detail), ngx_string(text) }

static const ngx_http_invites_error_t  ngx_http_invites_errors[] = {

    /* NGX_HTTP_INVITES_OK is never sent */
    ngx_http_invites_err(200, "", "", "OK"),

    ngx_http_invites_err(400, "MISSING_ID", "Missing ID", "Bad Request"),
    ngx_http_invites_err(400, "MISSING_GROUP_ID", "Missing GroupID",
                         "Bad Request"),
    ngx_http_invites_err(400, "MISSING_EMAIL", "Missing Email",
                         "Bad Request"),
    ngx_http_invites_err(400, "INVALID_EMAIL",
                         "The email provided was invalid", "Bad Request"),
    ngx_http_invites_err(400, "ID_OR_CODE_REQUIRED",
                         "An id or code is required to read an invite",
                         "Bad Request"),
    ngx_http_invites_err(400, "GROUP_ID_OR_EMAIL_REQUIRED",
                         "An email address or group id is needed to list "
                         "invites", "Bad Request"),
    ngx_http_invites_err(404, "NOT_FOUND", "Invite not found", "Not Found"),
    ngx_http_invites_err(404, "NOT_FOUND",
                         "Unknown endpoint: use Create, Read, List, Delete, "
                         "Redeem or Revoke",
                         "Not Found"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "The request body is not valid JSON",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "The request body must be a JSON object",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "The request body is not valid UTF-8",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST", "Field id must be a string",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field group_id must be a string", "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST", "Field email must be a string",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST", "Field code must be a string",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "A string in the request body contains a NUL "
                         "character", "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "A string in the request body holds a lone UTF-16 "
                         "surrogate", "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field group_id is longer than 255 bytes",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field email is longer than 254 bytes",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field code is longer than 255 bytes",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "The tenant is not valid UTF-8 or is longer "
                         "than 255 bytes", "Bad Request"),
    ngx_http_invites_err(401, "UNAUTHORIZED",
                         "A valid API key is required: "
                         "Authorization: Bearer <key>", "Unauthorized"),
    ngx_http_invites_err(403, "FORBIDDEN",
                         "The namespace is not the API key's tenant",
                         "Forbidden"),
    ngx_http_invites_err(405, "METHOD_NOT_ALLOWED", "Only POST is allowed",
                         "Method Not Allowed"),
    ngx_http_invites_err(413, "REQUEST_TOO_LARGE",
                         "The request body is larger than 65536 bytes",
                         "Request Entity Too Large"),
    ngx_http_invites_err(503, "DB_UNAVAILABLE",
                         "The database is unavailable",
                         "Service Unavailable"),
    ngx_http_invites_err(504, "DB_TIMEOUT",
                         "The database did not answer in time",
                         "Gateway Timeout"),
    ngx_http_invites_err(500, "DB_ERROR", "Database error",
                         "Internal Server Error"),
    ngx_http_invites_err(409, "ALREADY_ACCEPTED",
                         "The invite has already been accepted", "Conflict"),
    ngx_http_invites_err(410, "REVOKED", "The invite has been revoked",
                         "Gone"),
    ngx_http_invites_err(410, "EXPIRED", "The invite has expired", "Gone"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field status must be pending, accepted, revoked "
                         "or expired", "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field metadata must be a JSON object",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field metadata is larger than 4096 bytes, nested "
                         "deeper than 32 levels, or holds a number out of "
                         "range", "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field expires_in_days must be an integer from 1 "
                         "to 365", "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field limit must be an integer from 1 to 1000",
                         "Bad Request"),
    ngx_http_invites_err(400, "BAD_REQUEST",
                         "Field page_token is not a page token of this list",
                         "Bad Request"),
    ngx_http_invites_err(401, "UNAUTHORIZED", "No tenant for the request",
                         "Unauthorized"),
    ngx_http_invites_err(503, "DB_READ_ONLY",
                         "The database accepts no writes now",
                         "Service Unavailable")
};


const ngx_http_invites_error_t *
ngx_http_invites_error(ngx_http_invites_err_e err)
{
    if ((ngx_uint_t) err >= NGX_HTTP_INVITES_NERRORS) {
        err = NGX_HTTP_INVITES_DB_ERROR;
    }

    return &ngx_http_invites_errors[err];
}
