
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_SCHEMA_H_INCLUDED_
#define _NGX_HTTP_INVITES_SCHEMA_H_INCLUDED_


/*
 * The migrations of sql/ the module needs, by number.  Each records itself
 * in the ledger of sql/000_migrations.sql; a new connection reads the
 * highest number there before it prepares the statements, and a database
 * that has no ledger is at 0.  Numbers are cumulative: a migration expects
 * all those before it.
 */

#define NGX_HTTP_INVITES_SCHEMA       3     /* 003_lifecycle, after 002 */

#define NGX_HTTP_INVITES_SCHEMA_SQL                                           \
    "SELECT coalesce(max(version), 0) FROM invites_migrations;"


#endif /* _NGX_HTTP_INVITES_SCHEMA_H_INCLUDED_ */
