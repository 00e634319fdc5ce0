
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_VERSION_H_INCLUDED_
#define _NGX_HTTP_INVITES_VERSION_H_INCLUDED_


/* the one version of the module: the package and CHANGELOG.md follow it */
#define NGX_HTTP_INVITES_VERSION  "1.0.0"


#endif /* _NGX_HTTP_INVITES_VERSION_H_INCLUDED_ */
