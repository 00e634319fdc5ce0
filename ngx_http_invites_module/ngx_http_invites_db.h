
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_DB_H_INCLUDED_
#define _NGX_HTTP_INVITES_DB_H_INCLUDED_


#include "ngx_http_invites_module.h"


/*
 * A per-worker pool of non-blocking PostgreSQL connections driven by nginx
 * events, with a bounded FIFO of queries waiting for a free connection.
 * It knows statements by name, and whether they write; the caller owns
 * what they mean.
 *
 * A new connection sends "prepare" in one round trip: first a statement
 * that answers the schema version (one integer; an undefined table counts
 * as 0), then the PREPAREs.  Below "schema", or on any error, the
 * connection is closed and the pool backs off as after a failed connect.
 */


/* queries a connection carries at once in pipeline mode (else 1) */
#define NGX_HTTP_INVITES_DB_DEPTH        32

/* in a pipeline, a query that is not light has one ahead of it at most */
#define NGX_HTTP_INVITES_DB_HEAVY_DEPTH  2


typedef struct ngx_http_invites_db_s        ngx_http_invites_db_t;
typedef struct ngx_http_invites_db_conn_s   ngx_http_invites_db_conn_t;
typedef struct ngx_http_invites_db_query_s  ngx_http_invites_db_query_t;

/*
 * A statement's result, classified once.  The rows stay the pool's: read
 * them with ngx_http_invites_db_value() during the handler's call, after
 * which the pool frees them.
 */

typedef enum {
    NGX_HTTP_INVITES_DB_ROWS = 0,           /* nrows > 0 */
    NGX_HTTP_INVITES_DB_NONE,               /* it worked, with no row */
    NGX_HTTP_INVITES_DB_CONFLICT,           /* a unique key was taken */
    NGX_HTTP_INVITES_DB_TIMED_OUT,
    NGX_HTTP_INVITES_DB_LOST,               /* no connection */
    NGX_HTTP_INVITES_DB_NO_WRITES,          /* a standby, or read-only */
    NGX_HTTP_INVITES_DB_FAILED              /* any other error */
} ngx_http_invites_db_kind_e;

typedef struct {
    ngx_http_invites_db_kind_e       kind;
    ngx_uint_t                       nrows;
    ngx_uint_t                       ncols;
    void                            *pg;        /* the pool's own */
} ngx_http_invites_db_result_t;


/* called once per query that was accepted, with its result */
typedef void (*ngx_http_invites_db_handler_pt)(ngx_http_invites_db_query_t *q,
    ngx_http_invites_db_result_t *res);


/*
 * What the pool reports as it goes, for metrics.  The gauges (connections
 * by state, queries waiting) move by +1 and -1, so that a connection closed
 * as the worker exits takes back what it added; the counters move by 1: a
 * connect that worked or failed, a query answered with an error.
 */

typedef enum {
    NGX_HTTP_INVITES_DB_EV_CONNECTING = 0,
    NGX_HTTP_INVITES_DB_EV_IDLE,
    NGX_HTTP_INVITES_DB_EV_BUSY,
    NGX_HTTP_INVITES_DB_EV_WAITING,
    NGX_HTTP_INVITES_DB_EV_CONNECT_OK,
    NGX_HTTP_INVITES_DB_EV_CONNECT_FAILED,
    NGX_HTTP_INVITES_DB_EV_TIMEOUT,
    NGX_HTTP_INVITES_DB_EV_UNAVAILABLE,
    NGX_HTTP_INVITES_DB_EV_READ_ONLY,
    NGX_HTTP_INVITES_DB_EV_ERROR,
    NGX_HTTP_INVITES_DB_NEVENTS
} ngx_http_invites_db_event_e;

typedef void (*ngx_http_invites_db_event_pt)(ngx_http_invites_db_t *db,
    ngx_http_invites_db_event_e ev, ngx_int_t delta);


struct ngx_http_invites_db_query_s {
    /* set by the caller */
    const char                      *stmt;
    int                              nparams;
    const char *const               *values;
    const int                       *lengths;
    ngx_msec_t                       timeout;
    ngx_http_invites_db_handler_pt   handler;
    void                            *data;
    ngx_log_t                       *log;
    unsigned                         light:1;   /* a row by its key */
    unsigned                         once:1;    /* its change may have
                                                   committed: not run
                                                   again on a connection
                                                   that broke under it */

    /* owned by the pool */
    ngx_http_invites_db_t           *db;
    ngx_http_invites_db_conn_t      *conn;
    ngx_queue_t                      queue;
    ngx_event_t                      wait;
    ngx_uint_t                       retries;
};


struct ngx_http_invites_db_s {
    /* configuration */
    ngx_str_t                        name;      /* labels logs, metrics */
    ngx_str_t                        conninfo;
    const char                     **keywords;
    const char                     **values;
    const char                      *prepare;   /* see above */
    ngx_uint_t                       schema;    /* the version needed */
    ngx_uint_t                       size;
    ngx_uint_t                       queue_max;
    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       statement_timeout;
    ngx_msec_t                       idle_timeout;    /* 0: never */
    unsigned                         auth:1;
    unsigned                         pipeline:1;
    unsigned                         named:1;   /* by invites_database */

    /* set by the caller: where events go (NULL: nowhere), the pool's place */
    ngx_http_invites_db_event_pt     event;
    ngx_uint_t                       index;

    /* the worker's state */
    ngx_log_t                       *log;
    ngx_http_invites_db_conn_t      *conns;
    ngx_queue_t                      ready;
    ngx_queue_t                      waiting;
    ngx_uint_t                       nwaiting;
    ngx_uint_t                       nopen;
    ngx_uint_t                       nstarting;
    ngx_msec_t                       retry_at;
    unsigned                         backoff:1;
};


ngx_int_t ngx_http_invites_db_configure(ngx_conf_t *cf,
    ngx_http_invites_db_t *db);
ngx_int_t ngx_http_invites_db_init(ngx_http_invites_db_t *db,
    ngx_cycle_t *cycle);
void ngx_http_invites_db_done(ngx_http_invites_db_t *db);
ngx_http_invites_err_e ngx_http_invites_db_send(ngx_http_invites_db_t *db,
    ngx_http_invites_db_query_t *q);
void ngx_http_invites_db_cancel(ngx_http_invites_db_query_t *q);
void ngx_http_invites_db_value(ngx_http_invites_db_result_t *res,
    ngx_uint_t row, ngx_uint_t col, ngx_str_t *value);
void ngx_http_invites_db_row(ngx_http_invites_db_result_t *res,
    ngx_uint_t row, ngx_str_t *values, ngx_uint_t n, uint64_t nullable);
ngx_http_invites_err_e ngx_http_invites_db_err(
    ngx_http_invites_db_kind_e kind);
const char *ngx_http_invites_db_message(const char *msg);


#endif /* _NGX_HTTP_INVITES_DB_H_INCLUDED_ */
