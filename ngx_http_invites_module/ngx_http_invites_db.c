
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_invites_db.h"

#include <libpq-fe.h>


/* after a failed connect, no new one is tried for this long */
#define NGX_HTTP_INVITES_DB_BACKOFF  1000


typedef enum {
    NGX_HTTP_INVITES_DB_FREE = 0,
    NGX_HTTP_INVITES_DB_CONNECTING,
    NGX_HTTP_INVITES_DB_PREPARING,
    NGX_HTTP_INVITES_DB_IDLE,
    NGX_HTTP_INVITES_DB_BUSY
} ngx_http_invites_db_state_e;


/* a query sent on a connection; q is NULL once its client left */
typedef struct {
    ngx_http_invites_db_query_t     *q;
    ngx_msec_t                       deadline;
} ngx_http_invites_db_slot_t;


struct ngx_http_invites_db_conn_s {
    ngx_http_invites_db_t           *db;
    PGconn                          *pg;
    ngx_connection_t                *c;
    ngx_queue_t                      queue;     /* in db->ready */
    ngx_event_t                      timer;
    ngx_event_t                      push;      /* posted: corked */
    ngx_http_invites_db_state_e      state;
    PostgresPollingStatusType        poll;

    /* in flight, a ring from head, oldest first */
    ngx_http_invites_db_slot_t       inflight[NGX_HTTP_INVITES_DB_DEPTH];
    ngx_uint_t                       head;
    ngx_uint_t                       ninflight;
    ngx_uint_t                       depth;
    PGresult                        *res;
    ngx_msec_t                       rested;    /* since, when idle */

    /* tells a reopened connection in this slot from the one it replaced */
    ngx_uint_t                       generation;
    ino_t                            socket_id;

    unsigned                         ready:1;
    unsigned                         flushing:1;
    unsigned                         failed:1;
    unsigned                         versioned:1;   /* its schema is read */
    unsigned                         read_only:1;   /* said so in the log */
    unsigned                         tcp_nopush:1;
};


#define ngx_http_invites_db_slot(pc, i)                                       \
    (&(pc)->inflight[((pc)->head + (i)) % NGX_HTTP_INVITES_DB_DEPTH])


static ngx_http_invites_db_conn_t *ngx_http_invites_db_pick(
    ngx_http_invites_db_t *db, ngx_http_invites_db_query_t *q);
static void ngx_http_invites_db_dispatch(ngx_http_invites_db_t *db,
    ngx_uint_t fail);
static ngx_int_t ngx_http_invites_db_in_backoff(ngx_http_invites_db_t *db);
static void ngx_http_invites_db_grow(ngx_http_invites_db_t *db,
    ngx_uint_t want);
static ngx_int_t ngx_http_invites_db_open(ngx_http_invites_db_t *db);
static ngx_int_t ngx_http_invites_db_wrap(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_unwrap(ngx_http_invites_db_conn_t *pc);
static ino_t ngx_http_invites_db_socket_id(ngx_http_invites_db_conn_t *pc);
static ngx_int_t ngx_http_invites_db_want_write(
    ngx_http_invites_db_conn_t *pc, ngx_uint_t on);
static void ngx_http_invites_db_connect_poll(ngx_http_invites_db_conn_t *pc);
static ngx_int_t ngx_http_invites_db_run(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_db_query_t *q);
static ngx_int_t ngx_http_invites_db_flush(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_cork(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_push_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_invites_db_is_tcp(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_read_handler(ngx_event_t *rev);
static void ngx_http_invites_db_write_handler(ngx_event_t *wev);
static void ngx_http_invites_db_timer_handler(ngx_event_t *ev);
static void ngx_http_invites_db_wait_handler(ngx_event_t *ev);
static void ngx_http_invites_db_results(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_setup(ngx_http_invites_db_conn_t *pc,
    PGresult *res);
static void ngx_http_invites_db_schema(ngx_http_invites_db_conn_t *pc,
    PGresult *res);
static void ngx_http_invites_db_prepared(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_complete(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_rest(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_timer_by(ngx_http_invites_db_conn_t *pc,
    ngx_msec_t at);
static ngx_int_t ngx_http_invites_db_due(ngx_http_invites_db_conn_t *pc,
    ngx_msec_t at);
static void ngx_http_invites_db_ready(ngx_http_invites_db_conn_t *pc,
    ngx_uint_t on);
static void ngx_http_invites_db_close(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_err_e err);
static void ngx_http_invites_db_fail(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_err_e err);
static void ngx_http_invites_db_sweep(ngx_http_invites_db_t *db);
static void ngx_http_invites_db_notice(void *arg, const char *message);
static const char *ngx_http_invites_db_error(ngx_http_invites_db_conn_t *pc);
static void ngx_http_invites_db_connect_failed(ngx_http_invites_db_conn_t *pc);
static u_char *ngx_http_invites_db_log_handler(ngx_log_t *log, u_char *buf,
    size_t len);
static const char *ngx_http_invites_db_result_error(PGresult *res);
static ngx_http_invites_db_kind_e ngx_http_invites_db_classify(
    PGresult *res);
static void ngx_http_invites_db_report(ngx_http_invites_db_t *db,
    ngx_http_invites_db_event_e ev, ngx_int_t delta);
static void ngx_http_invites_db_state(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_db_state_e state);
static void ngx_http_invites_db_answer(ngx_http_invites_db_query_t *q,
    ngx_http_invites_err_e err, PGresult *res, ngx_http_invites_db_conn_t *pc);


static u_char  ngx_http_invites_db_msg[512];


/* the gauge each state counts in; a free slot counts nowhere */
static const ngx_int_t  ngx_http_invites_db_state_events[] = {
    -1,                                    /* FREE */
    NGX_HTTP_INVITES_DB_EV_CONNECTING,     /* CONNECTING */
    NGX_HTTP_INVITES_DB_EV_CONNECTING,     /* PREPARING */
    NGX_HTTP_INVITES_DB_EV_IDLE,           /* IDLE */
    NGX_HTTP_INVITES_DB_EV_BUSY            /* BUSY */
};


ngx_int_t
ngx_http_invites_db_init(ngx_http_invites_db_t *db, ngx_cycle_t *cycle)
{
    ngx_uint_t                   i;
    ngx_http_invites_db_conn_t  *pc;

    /* every line the pool logs names its database */

    db->log = ngx_palloc(cycle->pool, sizeof(ngx_log_t));
    if (db->log == NULL) {
        return NGX_ERROR;
    }

    *db->log = *cycle->log;
    db->log->handler = ngx_http_invites_db_log_handler;
    db->log->data = db;

    db->conns = ngx_pcalloc(cycle->pool,
                            db->size * sizeof(ngx_http_invites_db_conn_t));
    if (db->conns == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < db->size; i++) {
        pc = &db->conns[i];

        pc->db = db;
        pc->timer.handler = ngx_http_invites_db_timer_handler;
        pc->timer.data = pc;
        pc->timer.log = db->log;

        pc->push.handler = ngx_http_invites_db_push_handler;
        pc->push.data = pc;
        pc->push.log = db->log;
    }

    ngx_queue_init(&db->ready);
    ngx_queue_init(&db->waiting);

    return NGX_OK;
}


/* the worker is exiting: close everything, nobody is left to answer */

void
ngx_http_invites_db_done(ngx_http_invites_db_t *db)
{
    ngx_uint_t                    i, k;
    ngx_queue_t                  *qu;
    ngx_http_invites_db_slot_t   *slot;
    ngx_http_invites_db_conn_t   *pc;
    ngx_http_invites_db_query_t  *q;

    if (db->conns == NULL) {
        return;
    }

    while (!ngx_queue_empty(&db->waiting)) {
        qu = ngx_queue_head(&db->waiting);
        q = ngx_queue_data(qu, ngx_http_invites_db_query_t, queue);
        ngx_http_invites_db_cancel(q);
    }

    for (i = 0; i < db->size; i++) {
        pc = &db->conns[i];

        for (k = 0; k < pc->ninflight; k++) {
            slot = ngx_http_invites_db_slot(pc, k);

            if (slot->q) {
                slot->q->conn = NULL;
                slot->q = NULL;
            }
        }

        if (pc->state != NGX_HTTP_INVITES_DB_FREE) {
            ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        }
    }
}


/*
 * Queues a query.  Its handler is called later, never from inside this
 * call; an error returned here means the handler will not be called.
 */

ngx_http_invites_err_e
ngx_http_invites_db_send(ngx_http_invites_db_t *db,
    ngx_http_invites_db_query_t *q)
{
    ngx_http_invites_db_conn_t  *pc;

    q->db = db;
    q->conn = NULL;
    q->retries = 0;

    if (db->nopen == 0 && ngx_http_invites_db_in_backoff(db)) {
        ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_UNAVAILABLE, 1);
        return NGX_HTTP_INVITES_DB_UNAVAILABLE;
    }

    ngx_memzero(&q->wait, sizeof(ngx_event_t));
    q->wait.handler = ngx_http_invites_db_wait_handler;
    q->wait.data = q;
    q->wait.log = q->log;

    /* the common case: a connection can take it now, nobody waits */

    while (ngx_queue_empty(&db->waiting) && !ngx_queue_empty(&db->ready)) {
        pc = ngx_http_invites_db_pick(db, q);

        if (pc == NULL) {
            break;
        }

        if (ngx_http_invites_db_run(pc, q) == NGX_OK) {

            /*
             * A query that is not light and found no connection free (in a
             * pipeline) waits for another one: open one more connection
             * for those to come.
             */

            if (!q->light && pc->ninflight > 1) {
                ngx_http_invites_db_grow(db, 1);
            }

            return NGX_HTTP_INVITES_OK;
        }

        ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
    }

    /* the queue bounds those who wait once every connection is taken */

    if (db->nopen >= db->size && db->nwaiting >= db->queue_max) {
        ngx_log_error(NGX_LOG_WARN, q->log, 0,
                      "invites: %ui requests already wait for a database "
                      "connection, rejecting", db->nwaiting);
        ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_UNAVAILABLE, 1);
        return NGX_HTTP_INVITES_DB_UNAVAILABLE;
    }

    ngx_queue_insert_tail(&db->waiting, &q->queue);
    db->nwaiting++;
    ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_WAITING, 1);

    ngx_add_timer(&q->wait, q->timeout);

    ngx_http_invites_db_dispatch(db, 0);

    if (q->conn == NULL && db->nopen == 0) {
        /* no connection could even be started */
        ngx_http_invites_db_cancel(q);
        ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_UNAVAILABLE, 1);
        return NGX_HTTP_INVITES_DB_UNAVAILABLE;
    }

    return NGX_HTTP_INVITES_OK;
}


/* the query's client went away: forget it, keep the connection */

void
ngx_http_invites_db_cancel(ngx_http_invites_db_query_t *q)
{
    ngx_uint_t                   k;
    ngx_http_invites_db_slot_t  *slot;
    ngx_http_invites_db_conn_t  *pc;

    if (q->wait.timer_set) {
        ngx_del_timer(&q->wait);
    }

    pc = q->conn;

    if (pc == NULL) {
        if (q->queue.next) {
            ngx_queue_remove(&q->queue);
            q->queue.next = NULL;
            q->db->nwaiting--;
            ngx_http_invites_db_report(q->db, NGX_HTTP_INVITES_DB_EV_WAITING,
                                       -1);
        }

        return;
    }

    for (k = 0; k < pc->ninflight; k++) {
        slot = ngx_http_invites_db_slot(pc, k);

        if (slot->q == q) {
            slot->q = NULL;
        }
    }

    q->conn = NULL;
}


/*
 * The connection that takes q next.  A light query (one row by its key)
 * goes to the first in line: in a pipeline, such queries pile up there and
 * its backend takes them in batches.  Any other goes to the one with the
 * fewest queries in flight, if it waits there behind one at most: writes,
 * whose commits wait for the disk, then run side by side on several
 * backends, and a List is never stuck behind a batch, nor one List behind
 * many.  NULL: q waits.
 */

static ngx_http_invites_db_conn_t *
ngx_http_invites_db_pick(ngx_http_invites_db_t *db,
    ngx_http_invites_db_query_t *q)
{
    ngx_queue_t                 *qu;
    ngx_http_invites_db_conn_t  *pc, *best;

    best = ngx_queue_data(ngx_queue_head(&db->ready),
                          ngx_http_invites_db_conn_t, queue);

    if (q->light) {
        return best;
    }

    for (qu = ngx_queue_head(&db->ready);
         qu != ngx_queue_sentinel(&db->ready) && best->ninflight;
         qu = ngx_queue_next(qu))
    {
        pc = ngx_queue_data(qu, ngx_http_invites_db_conn_t, queue);

        if (pc->ninflight < best->ninflight) {
            best = pc;
        }
    }

    return best->ninflight < NGX_HTTP_INVITES_DB_HEAVY_DEPTH ? best : NULL;
}


/*
 * Gives waiting queries, first come first served, to the connections pick()
 * chooses for them, and opens connections for the rest.  With fail set,
 * waiting queries that no connection can serve are answered DB_UNAVAILABLE.
 */

static void
ngx_http_invites_db_dispatch(ngx_http_invites_db_t *db, ngx_uint_t fail)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *qu;
    ngx_http_invites_db_conn_t   *pc;
    ngx_http_invites_db_query_t  *q;

    while (!ngx_queue_empty(&db->waiting) && !ngx_queue_empty(&db->ready)) {

        qu = ngx_queue_head(&db->waiting);
        q = ngx_queue_data(qu, ngx_http_invites_db_query_t, queue);

        pc = ngx_http_invites_db_pick(db, q);

        if (pc == NULL) {
            /* first in line, q waits for a connection with room for it */
            break;
        }

        ngx_queue_remove(&q->queue);
        q->queue.next = NULL;
        db->nwaiting--;
        ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_WAITING, -1);

        if (q->wait.timer_set) {
            ngx_del_timer(&q->wait);
        }

        if (ngx_http_invites_db_run(pc, q) != NGX_OK) {
            /* q waits first in line again; try the next connection */
            ngx_queue_insert_head(&db->waiting, &q->queue);
            db->nwaiting++;
            ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_WAITING, 1);
            ngx_add_timer(&q->wait, q->timeout);

            ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        }
    }

    ngx_http_invites_db_grow(db, db->nwaiting);

    if (fail && db->nopen == 0) {
        while (!ngx_queue_empty(&db->waiting)) {
            qu = ngx_queue_head(&db->waiting);
            q = ngx_queue_data(qu, ngx_http_invites_db_query_t, queue);

            ngx_http_invites_db_cancel(q);
            ngx_http_invites_db_answer(q, NGX_HTTP_INVITES_DB_UNAVAILABLE,
                                       NULL, NULL);
        }
    }

    if (ngx_exiting || ngx_terminate) {
        for (i = 0; i < db->size; i++) {
            pc = &db->conns[i];

            if (pc->state == NGX_HTTP_INVITES_DB_IDLE) {
                ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
            }
        }
    }
}


static ngx_int_t
ngx_http_invites_db_in_backoff(ngx_http_invites_db_t *db)
{
    if (db->backoff
        && (ngx_msec_int_t) (db->retry_at - ngx_current_msec) > 0)
    {
        return 1;
    }

    db->backoff = 0;

    return 0;
}


/* opens connections until "want" are starting, as far as the pool allows */

static void
ngx_http_invites_db_grow(ngx_http_invites_db_t *db, ngx_uint_t want)
{
    while (db->nstarting < want && db->nopen < db->size
           && !ngx_http_invites_db_in_backoff(db))
    {
        if (ngx_http_invites_db_open(db) != NGX_OK) {
            break;
        }
    }
}


static ngx_int_t
ngx_http_invites_db_open(ngx_http_invites_db_t *db)
{
    ngx_uint_t                   i;
    ngx_http_invites_db_conn_t  *pc;

    pc = NULL;

    for (i = 0; i < db->size; i++) {
        if (db->conns[i].state == NGX_HTTP_INVITES_DB_FREE) {
            pc = &db->conns[i];
            break;
        }
    }

    if (pc == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, db->log, 0,
                   "invites: connecting to PostgreSQL");

    pc->pg = PQconnectStartParams(db->keywords, db->values, 0);

    if (pc->pg == NULL) {
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "invites: PQconnectStartParams() failed: out of memory");
        goto failed;
    }

    if (PQstatus(pc->pg) == CONNECTION_BAD
        || PQsetnonblocking(pc->pg, 1) != 0)
    {
        ngx_http_invites_db_connect_failed(pc);
        goto failed;
    }

    PQsetNoticeProcessor(pc->pg, ngx_http_invites_db_notice, db);

    ngx_http_invites_db_state(pc, NGX_HTTP_INVITES_DB_CONNECTING);
    pc->poll = PGRES_POLLING_WRITING;
    pc->head = 0;
    pc->ninflight = 0;
    pc->depth = db->pipeline ? NGX_HTTP_INVITES_DB_DEPTH : 1;
    pc->ready = 0;
    pc->flushing = 0;
    pc->failed = 0;
    pc->versioned = 0;
    pc->read_only = 0;
    pc->tcp_nopush = 0;
    pc->res = NULL;

    db->nopen++;
    db->nstarting++;

    if (ngx_http_invites_db_wrap(pc) != NGX_OK
        || ngx_http_invites_db_want_write(pc, 1) != NGX_OK)
    {
        ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_CONNECT_FAILED,
                                   1);
        db->backoff = 1;
        db->retry_at = ngx_current_msec + NGX_HTTP_INVITES_DB_BACKOFF;
        return NGX_ERROR;
    }

    ngx_add_timer(&pc->timer, db->connect_timeout);

    return NGX_OK;

failed:

    if (pc->pg) {
        PQfinish(pc->pg);
        pc->pg = NULL;
    }

    ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_CONNECT_FAILED, 1);

    db->backoff = 1;
    db->retry_at = ngx_current_msec + NGX_HTTP_INVITES_DB_BACKOFF;

    return NGX_ERROR;
}


/* libpq owns the socket; nginx only watches it (c->shared) */

static ngx_int_t
ngx_http_invites_db_wrap(ngx_http_invites_db_conn_t *pc)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(pc->pg);

    if (fd == -1) {
        ngx_log_error(NGX_LOG_ERR, pc->db->log, 0,
                      "invites: PostgreSQL connection has no socket: %s",
                      ngx_http_invites_db_error(pc));
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pc->db->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->shared = 1;
    c->data = pc;

    pc->socket_id = ngx_http_invites_db_socket_id(pc);
    c->read->handler = ngx_http_invites_db_read_handler;
    c->write->handler = ngx_http_invites_db_write_handler;
    c->read->log = pc->db->log;
    c->write->log = pc->db->log;

    pc->c = c;

    /*
     * Level-triggered: one PQconsumeInput() may leave bytes in the socket,
     * and libpq may change state without reading; the event fires again.
     */

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_invites_db_unwrap(pc);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_invites_db_unwrap(ngx_http_invites_db_conn_t *pc)
{
    ngx_connection_t  *c;

    c = pc->c;

    if (c == NULL) {
        return;
    }

    /* libpq closes (or has closed) the socket, which leaves epoll by itself */

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    ngx_close_connection(c);

    pc->c = NULL;
}


static ino_t
ngx_http_invites_db_socket_id(ngx_http_invites_db_conn_t *pc)
{
    struct stat  st;

    if (PQsocket(pc->pg) == -1 || fstat(PQsocket(pc->pg), &st) == -1) {
        return 0;
    }

    return st.st_ino;
}


static ngx_int_t
ngx_http_invites_db_want_write(ngx_http_invites_db_conn_t *pc, ngx_uint_t on)
{
    ngx_event_t  *wev;

    wev = pc->c->write;

    if (on && !wev->active) {
        return ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }

    if (!on && wev->active) {
        return ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }

    return NGX_OK;
}


static void
ngx_http_invites_db_connect_poll(ngx_http_invites_db_conn_t *pc)
{
    ngx_http_invites_db_t  *db;

    db = pc->db;

    pc->poll = PQconnectPoll(pc->pg);

    /*
     * libpq may move to another socket (the next address, an SSL retry),
     * which may even get the same number as the one it closed: the inode
     * tells them apart.
     */

    if (pc->poll != PGRES_POLLING_FAILED
        && ngx_http_invites_db_socket_id(pc) != pc->socket_id)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, db->log, 0,
                       "invites: libpq moved to another socket");

        ngx_http_invites_db_unwrap(pc);

        if (ngx_http_invites_db_wrap(pc) != NGX_OK) {
            ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
            return;
        }
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, db->log, 0,
                   "invites: connect poll %d, host %s (%s) port %s, fd %d",
                   pc->poll, PQhost(pc->pg), PQhostaddr(pc->pg),
                   PQport(pc->pg), PQsocket(pc->pg));

    switch (pc->poll) {

    case PGRES_POLLING_READING:
        if (ngx_http_invites_db_want_write(pc, 0) != NGX_OK) {
            ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        }

        return;

    case PGRES_POLLING_WRITING:
        if (ngx_http_invites_db_want_write(pc, 1) != NGX_OK) {
            ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        }

        return;

    case PGRES_POLLING_OK:
        break;

    default: /* PGRES_POLLING_FAILED */
        ngx_http_invites_db_connect_failed(pc);
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, db->log, 0,
                   "invites: connected, checking the schema, preparing "
                   "statements");

    ngx_http_invites_db_state(pc, NGX_HTTP_INVITES_DB_PREPARING);

    if (PQsendQuery(pc->pg, db->prepare) == 0
        || ngx_http_invites_db_flush(pc) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "invites: cannot prepare statements: %s",
                      ngx_http_invites_db_error(pc));
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
    }
}


/* sends q on pc, which can take it; on failure the caller closes pc */

static ngx_int_t
ngx_http_invites_db_run(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_db_query_t *q)
{
    ngx_http_invites_db_t       *db;
    ngx_http_invites_db_slot_t  *slot;

    db = pc->db;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, q->log, 0,
                   "invites: running %s, %ui in flight before",
                   q->stmt, pc->ninflight);

    if (pc->ninflight && pc->tcp_nopush && !pc->push.posted) {
        ngx_http_invites_db_cork(pc);
    }

    /* in a pipeline, a Sync of its own: an error ends this query only */

    if (PQsendQueryPrepared(pc->pg, q->stmt, q->nparams, q->values,
                            q->lengths, NULL, 0)
        == 0
        || (db->pipeline && PQpipelineSync(pc->pg) == 0)
        || ngx_http_invites_db_flush(pc) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "invites: cannot send %s: %s", q->stmt,
                      ngx_http_invites_db_error(pc));

        return NGX_ERROR;
    }

    slot = ngx_http_invites_db_slot(pc, pc->ninflight);
    slot->q = q;
    slot->deadline = ngx_current_msec + q->timeout;

    q->conn = pc;

    if (pc->ninflight++ == 0) {
        ngx_http_invites_db_state(pc, NGX_HTTP_INVITES_DB_BUSY);
        pc->c->idle = 0;
        ngx_http_invites_db_timer_by(pc, slot->deadline);
    }

    /*
     * Where pc waits for its next query.  Full, it leaves the line.  After
     * a query that is not light it goes to the back, so that light ones
     * pile up on another connection (see pick()).
     */

    if (pc->ninflight == pc->depth) {
        ngx_http_invites_db_ready(pc, 0);

    } else if (!q->light) {
        ngx_http_invites_db_ready(pc, 0);
        ngx_http_invites_db_ready(pc, 1);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_invites_db_flush(ngx_http_invites_db_conn_t *pc)
{
    switch (PQflush(pc->pg)) {

    case 0:
        pc->flushing = 0;
        return ngx_http_invites_db_want_write(pc, 0);

    case 1:
        pc->flushing = 1;
        return ngx_http_invites_db_want_write(pc, 1);

    default:
        return NGX_ERROR;
    }
}


/*
 * libpq sends a pipeline's every Sync at once.  While the backend is busy
 * anyway, the queries of one turn of the event loop are held back in the
 * socket and leave together after it: one segment, one wakeup of the
 * backend, and no wait added, as the push is posted to this very turn.
 */

static void
ngx_http_invites_db_cork(ngx_http_invites_db_conn_t *pc)
{
    if (ngx_tcp_nopush(pc->c->fd) == -1) {
        ngx_log_error(NGX_LOG_WARN, pc->db->log, ngx_socket_errno,
                      "invites: " ngx_tcp_nopush_n " failed, sending "
                      "every query at once");
        pc->tcp_nopush = 0;
        return;
    }

    ngx_post_event(&pc->push, &ngx_posted_events);
}


static void
ngx_http_invites_db_push_handler(ngx_event_t *ev)
{
    ngx_http_invites_db_conn_t  *pc;

    pc = ev->data;

    if (ngx_tcp_push(pc->c->fd) == -1) {
        ngx_log_error(NGX_LOG_ERR, pc->db->log, ngx_socket_errno,
                      "invites: " ngx_tcp_push_n " failed");
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
    }
}


static ngx_uint_t
ngx_http_invites_db_is_tcp(ngx_http_invites_db_conn_t *pc)
{
    socklen_t       len;
    ngx_sockaddr_t  sa;

    len = sizeof(ngx_sockaddr_t);

    /* clang-analyzer does not know that getsockname() fills it */
    sa.sockaddr.sa_family = AF_UNSPEC;

    if (getsockname(pc->c->fd, &sa.sockaddr, &len) == -1) {
        return 0;
    }

    return sa.sockaddr.sa_family == AF_INET
           || sa.sockaddr.sa_family == AF_INET6;
}


static void
ngx_http_invites_db_read_handler(ngx_event_t *rev)
{
    ngx_connection_t            *c;
    ngx_http_invites_db_conn_t  *pc;

    c = rev->data;
    pc = c->data;

    if (pc->state == NGX_HTTP_INVITES_DB_CONNECTING) {
        if (pc->poll == PGRES_POLLING_READING) {
            ngx_http_invites_db_connect_poll(pc);
        }

        return;
    }

    if (c->close && pc->state == NGX_HTTP_INVITES_DB_IDLE) {
        /* graceful shutdown: ngx_close_idle_connections() */
        ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    if (pc->state == NGX_HTTP_INVITES_DB_IDLE) {
        /*
         * Nothing is expected on an idle connection; what comes is most
         * likely the server saying goodbye (a FATAL, then EOF): let libpq
         * log it, and do not hand the connection out again.
         */

        (void) PQconsumeInput(pc->pg);

        ngx_log_error(NGX_LOG_INFO, pc->db->log, 0,
                      "invites: idle PostgreSQL connection closed: %s",
                      PQstatus(pc->pg) == CONNECTION_BAD
                      ? ngx_http_invites_db_error(pc) : "unexpected input");

        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    if (PQconsumeInput(pc->pg) == 0) {
        ngx_log_error(NGX_LOG_ERR, pc->db->log, 0,
                      "invites: PostgreSQL connection lost: %s",
                      ngx_http_invites_db_error(pc));
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    if (pc->flushing && ngx_http_invites_db_flush(pc) != NGX_OK) {
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    ngx_http_invites_db_results(pc);
}


static void
ngx_http_invites_db_write_handler(ngx_event_t *wev)
{
    ngx_connection_t            *c;
    ngx_http_invites_db_conn_t  *pc;

    c = wev->data;
    pc = c->data;

    if (pc->state == NGX_HTTP_INVITES_DB_CONNECTING) {
        if (pc->poll == PGRES_POLLING_WRITING) {
            ngx_http_invites_db_connect_poll(pc);
        }

        return;
    }

    if (ngx_http_invites_db_flush(pc) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, pc->db->log, 0,
                      "invites: cannot send to PostgreSQL: %s",
                      ngx_http_invites_db_error(pc));
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
    }
}


static void
ngx_http_invites_db_timer_handler(ngx_event_t *ev)
{
    ngx_msec_t                   idle_timeout;
    ngx_http_invites_db_conn_t  *pc;

    pc = ev->data;

    /* the timer may be one set for an earlier deadline: see timer_by() */

    if (pc->state == NGX_HTTP_INVITES_DB_BUSY) {
        if (!ngx_http_invites_db_due(pc,
                                     ngx_http_invites_db_slot(pc, 0)->deadline))
        {
            return;
        }

        ngx_log_error(NGX_LOG_ERR, pc->db->log, 0,
                      "invites: PostgreSQL did not answer in time, "
                      "closing the connection");
        ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_TIMEOUT);
        ngx_http_invites_db_dispatch(pc->db, 1);
        return;
    }

    if (pc->state == NGX_HTTP_INVITES_DB_IDLE) {
        idle_timeout = pc->db->idle_timeout;

        if (idle_timeout == 0) {
            return;
        }

        if (!ngx_http_invites_db_due(pc, pc->rested + idle_timeout)) {
            return;
        }

        ngx_log_error(NGX_LOG_INFO, pc->db->log, 0,
                      "invites: closing a PostgreSQL connection idle for "
                      "%M ms", idle_timeout);
        ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, pc->db->log, 0,
                  "invites: connecting to PostgreSQL timed out");
    ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
}


static void
ngx_http_invites_db_wait_handler(ngx_event_t *ev)
{
    ngx_http_invites_db_query_t  *q;

    q = ev->data;

    ngx_log_error(NGX_LOG_ERR, q->log, 0,
                  "invites: no database connection became free in time");

    ngx_http_invites_db_cancel(q);
    ngx_http_invites_db_answer(q, NGX_HTTP_INVITES_DB_UNAVAILABLE, NULL,
                               NULL);
}


/*
 * Takes what results are complete; never waits inside libpq.  A query ends
 * with NULL, or in a pipeline with its Sync (which libpq reports after the
 * NULL): then its client gets the result.
 */

static void
ngx_http_invites_db_results(ngx_http_invites_db_conn_t *pc)
{
    PGresult               *res;
    ngx_uint_t              generation, nulls;
    ngx_http_invites_db_t  *db;

    db = pc->db;
    generation = pc->generation;
    nulls = 0;

    while (!PQisBusy(pc->pg)) {

        res = PQgetResult(pc->pg);

        if (pc->state == NGX_HTTP_INVITES_DB_PREPARING) {

            if (res == NULL) {
                ngx_http_invites_db_prepared(pc);
                return;
            }

            ngx_http_invites_db_setup(pc, res);

            PQclear(res);
            continue;
        }

        if (pc->ninflight == 0) {
            /* nothing was asked: the server's goodbye, or nothing at all */
            if (res) {
                PQclear(res);
                ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
                return;
            }

            break;
        }

        if (res && (!db->pipeline
                    || PQresultStatus(res) != PGRES_PIPELINE_SYNC))
        {
            /* the statement's result; a statement has only one */
            nulls = 0;

            if (pc->res == NULL) {
                pc->res = res;

            } else {
                PQclear(res);
            }

            continue;
        }

        if (res == NULL && db->pipeline) {
            /* the end of a query's results; its Sync comes next */
            if (++nulls > 1) {
                break;
            }

            continue;
        }

        if (res) {
            /* PGRES_PIPELINE_SYNC */
            PQclear(res);
            nulls = 0;
        }

        ngx_http_invites_db_complete(pc);

        /* the client's handler may have closed pc, or reused its slot */

        if (pc->generation != generation) {
            ngx_http_invites_db_dispatch(db, 1);
            return;
        }
    }

    if (PQstatus(pc->pg) == CONNECTION_BAD) {
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    ngx_http_invites_db_dispatch(db, 1);
}


/*
 * A result of the round trip that sets a connection up: the schema version
 * first, then one per PREPARE.  A connection that fails logs one line: the
 * server skips what follows an error, and what follows an old schema would
 * only fail for the same reason.
 */

static void
ngx_http_invites_db_setup(ngx_http_invites_db_conn_t *pc, PGresult *res)
{
    if (!pc->versioned) {
        pc->versioned = 1;
        ngx_http_invites_db_schema(pc, res);
        return;
    }

    if (PQresultStatus(res) != PGRES_COMMAND_OK && !pc->failed) {
        ngx_log_error(NGX_LOG_ERR, pc->db->log, 0,
                      "invites: cannot prepare statements: %s",
                      ngx_http_invites_db_result_error(res));
        pc->failed = 1;
    }
}


/* the migrations the database has, against those the module needs */

static void
ngx_http_invites_db_schema(ngx_http_invites_db_conn_t *pc, PGresult *res)
{
    ngx_int_t               version;
    const char             *state;
    ngx_http_invites_db_t  *db;

    db = pc->db;

    switch (PQresultStatus(res)) {

    case PGRES_TUPLES_OK:
        version = NGX_ERROR;

        if (PQntuples(res) == 1 && PQnfields(res) == 1
            && !PQgetisnull(res, 0, 0))
        {
            version = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                               PQgetlength(res, 0, 0));
        }

        if (version == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, db->log, 0,
                          "invites: the schema version is not a number");
            pc->failed = 1;
            return;
        }

        break;

    case PGRES_FATAL_ERROR:
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        if (state && ngx_strcmp(state, "42P01") == 0) {
            /* undefined_table: migrated before the ledger, or never */
            version = 0;
            break;
        }

        /* fall through */

    default:
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "invites: cannot read the schema version: %s",
                      ngx_http_invites_db_result_error(res));
        pc->failed = 1;
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, db->log, 0,
                   "invites: schema version %i", version);

    if ((ngx_uint_t) version < db->schema) {
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "invites: schema version %i, this module needs %ui: "
                      "run the migrations", version, db->schema);
        pc->failed = 1;
    }
}


/* the statements are prepared: the connection takes queries from now on */

static void
ngx_http_invites_db_prepared(ngx_http_invites_db_conn_t *pc)
{
    ngx_http_invites_db_t  *db;

    db = pc->db;

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (pc->failed) {
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    if (db->pipeline && PQenterPipelineMode(pc->pg) == 0) {
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "invites: cannot enter pipeline mode: %s",
                      ngx_http_invites_db_error(pc));
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    db->nstarting--;

    ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_CONNECT_OK, 1);

    pc->tcp_nopush = db->pipeline && ngx_http_invites_db_is_tcp(pc);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, db->log, 0,
                   "invites: connection ready, pipeline depth %ui, nopush %ui",
                   pc->depth, (ngx_uint_t) pc->tcp_nopush);

    ngx_http_invites_db_rest(pc);
    ngx_http_invites_db_ready(pc, 1);

    ngx_http_invites_db_dispatch(db, 1);
}


/* the oldest query on pc is answered: hand over its result */

static void
ngx_http_invites_db_complete(ngx_http_invites_db_conn_t *pc)
{
    PGresult                     *res;
    ngx_http_invites_db_t        *db;
    ngx_http_invites_db_slot_t   *slot;
    ngx_http_invites_db_query_t  *q;

    db = pc->db;

    if (PQstatus(pc->pg) == CONNECTION_BAD) {
        /* the "result" is the server's farewell, not the statement's */
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "invites: PostgreSQL connection lost: %s",
                      ngx_http_invites_db_error(pc));
        ngx_http_invites_db_fail(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
        return;
    }

    slot = ngx_http_invites_db_slot(pc, 0);
    q = slot->q;
    res = pc->res;
    pc->res = NULL;

    pc->head = (pc->head + 1) % NGX_HTTP_INVITES_DB_DEPTH;
    pc->ninflight--;

    if (pc->ninflight) {
        /* the next query's own deadline */
        ngx_http_invites_db_timer_by(pc,
                                     ngx_http_invites_db_slot(pc, 0)->deadline);

    } else if (!db->pipeline
               && PQtransactionStatus(pc->pg) != PQTRANS_IDLE)
    {
        ngx_log_error(NGX_LOG_ERR, db->log, 0,
                      "invites: connection left inside a transaction, "
                      "closing it");
        ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);

    } else {
        ngx_http_invites_db_rest(pc);
    }

    if (pc->state != NGX_HTTP_INVITES_DB_FREE && !pc->ready) {
        ngx_http_invites_db_ready(pc, 1);
    }

    if (q) {
        q->conn = NULL;

        if (res == NULL) {
            ngx_log_error(NGX_LOG_ERR, q->log, 0,
                          "invites: %s returned no result", q->stmt);
            ngx_http_invites_db_answer(q, NGX_HTTP_INVITES_DB_ERROR, NULL,
                                       NULL);

        } else {
            ngx_http_invites_db_answer(q, NGX_HTTP_INVITES_OK, res, pc);
        }
    }

    if (res) {
        PQclear(res);
    }
}


/* pc has nothing in flight: it is closed if it rests too long */

static void
ngx_http_invites_db_rest(ngx_http_invites_db_conn_t *pc)
{
    ngx_http_invites_db_state(pc, NGX_HTTP_INVITES_DB_IDLE);
    pc->c->idle = 1;
    pc->rested = ngx_current_msec;

    if (pc->db->idle_timeout) {
        ngx_http_invites_db_timer_by(pc, pc->rested + pc->db->idle_timeout);
    }
}


/*
 * Makes pc's timer fire by "at".  One set for earlier is left as it is: the
 * handler sets it again for what is then due.  So a query that follows
 * another within the timeout touches no timer, where deleting and adding
 * it twice per query would cost two trips through the timer tree each.
 */

static void
ngx_http_invites_db_timer_by(ngx_http_invites_db_conn_t *pc, ngx_msec_t at)
{
    ngx_msec_int_t  left;

    if (pc->timer.timer_set
        && (ngx_msec_int_t) (at - (ngx_msec_t) pc->timer.timer.key) >= 0)
    {
        return;
    }

    left = at - ngx_current_msec;
    ngx_add_timer(&pc->timer, left > 0 ? (ngx_msec_t) left : 1);
}


/* whether "at" has come; if not, pc's timer is set again for it */

static ngx_int_t
ngx_http_invites_db_due(ngx_http_invites_db_conn_t *pc, ngx_msec_t at)
{
    if ((ngx_msec_int_t) (at - ngx_current_msec) > 0) {
        ngx_http_invites_db_timer_by(pc, at);
        return 0;
    }

    return 1;
}


/* pc joins (on) or leaves the connections that can take a query */

static void
ngx_http_invites_db_ready(ngx_http_invites_db_conn_t *pc, ngx_uint_t on)
{
    if (on && !pc->ready) {
        ngx_queue_insert_tail(&pc->db->ready, &pc->queue);
        pc->ready = 1;

    } else if (!on && pc->ready) {
        ngx_queue_remove(&pc->queue);
        pc->ready = 0;
    }
}


/* closes pc; its queries, if any, are answered with err */

static void
ngx_http_invites_db_close(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_err_e err)
{
    ngx_uint_t                    k, n;
    ngx_http_invites_db_t        *db;
    ngx_http_invites_db_query_t  *q, *inflight[NGX_HTTP_INVITES_DB_DEPTH];

    db = pc->db;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, db->log, 0,
                   "invites: closing connection, state %d", pc->state);

    ngx_http_invites_db_ready(pc, 0);

    if (pc->state == NGX_HTTP_INVITES_DB_CONNECTING
        || pc->state == NGX_HTTP_INVITES_DB_PREPARING)
    {
        db->nstarting--;
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (pc->push.posted) {
        ngx_delete_posted_event(&pc->push);
    }

    ngx_http_invites_db_unwrap(pc);

    if (pc->res) {
        PQclear(pc->res);
        pc->res = NULL;
    }

    PQfinish(pc->pg);
    pc->pg = NULL;

    n = pc->ninflight;

    for (k = 0; k < n; k++) {
        inflight[k] = ngx_http_invites_db_slot(pc, k)->q;
    }

    pc->head = 0;
    pc->ninflight = 0;
    ngx_http_invites_db_state(pc, NGX_HTTP_INVITES_DB_FREE);
    pc->generation++;
    db->nopen--;

    for (k = 0; k < n; k++) {
        q = inflight[k];

        if (q) {
            q->conn = NULL;
            ngx_http_invites_db_answer(q, err, NULL, NULL);
        }
    }
}


/* a connection broke: close it, back off if it never worked, move on */

static void
ngx_http_invites_db_fail(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_err_e err)
{
    ngx_uint_t                    k;
    ngx_http_invites_db_t        *db;
    ngx_http_invites_db_slot_t   *slot;
    ngx_http_invites_db_query_t  *q;

    db = pc->db;

    if (pc->state == NGX_HTTP_INVITES_DB_CONNECTING
        || pc->state == NGX_HTTP_INVITES_DB_PREPARING)
    {
        ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_CONNECT_FAILED,
                                   1);

        db->backoff = 1;
        db->retry_at = ngx_current_msec + NGX_HTTP_INVITES_DB_BACKOFF;

        if (db->nopen > 1) {
            ngx_log_error(NGX_LOG_WARN, db->log, 0,
                          "invites: no new PostgreSQL connection, going on "
                          "with %ui of %ui", db->nopen - 1, db->size);
        }
    }

    /*
     * A connection may have died while idle, unnoticed (a server restart,
     * pg_terminate_backend()): its queries run once more on another
     * connection, whatever the dying server said.  All the statements are
     * idempotent (but Redeem, "once").  The other idle connections likely
     * died the same way, some still unnoticed by the sweep (a terminated
     * backend closes its socket a moment later): a query runs again at
     * most once per connection of the pool, so that it reaches a live one.
     */

    if (pc->state == NGX_HTTP_INVITES_DB_BUSY) {

        ngx_http_invites_db_sweep(db);

        for (k = pc->ninflight; k > 0; k--) {
            slot = ngx_http_invites_db_slot(pc, k - 1);
            q = slot->q;

            if (q == NULL || q->retries >= db->size || q->once) {
                continue;
            }

            ngx_log_error(NGX_LOG_WARN, q->log, 0,
                          "invites: retrying %s on another connection",
                          q->stmt);

            slot->q = NULL;
            q->conn = NULL;
            q->retries++;

            ngx_queue_insert_head(&db->waiting, &q->queue);
            db->nwaiting++;
            ngx_http_invites_db_report(db, NGX_HTTP_INVITES_DB_EV_WAITING, 1);
            ngx_add_timer(&q->wait, q->timeout);
        }
    }

    ngx_http_invites_db_close(pc, err);
    ngx_http_invites_db_dispatch(db, 1);
}


/* closes idle connections whose server has gone (EOF or a message) */

static void
ngx_http_invites_db_sweep(ngx_http_invites_db_t *db)
{
    u_char                       buf[1];
    ssize_t                      n;
    ngx_err_t                    err;
    ngx_queue_t                 *qu, *next;
    ngx_http_invites_db_conn_t  *pc;

    for (qu = ngx_queue_head(&db->ready);
         qu != ngx_queue_sentinel(&db->ready);
         qu = next)
    {
        next = ngx_queue_next(qu);
        pc = ngx_queue_data(qu, ngx_http_invites_db_conn_t, queue);

        if (pc->ninflight) {
            /* answers may be waiting to be read: not a sign of death */
            continue;
        }

        n = recv(pc->c->fd, buf, 1, MSG_PEEK);
        err = ngx_socket_errno;

        if (n == -1 && err == NGX_EAGAIN) {
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, db->log, 0,
                       "invites: idle connection has gone, peek: %z", n);

        ngx_http_invites_db_close(pc, NGX_HTTP_INVITES_DB_UNAVAILABLE);
    }
}


static void
ngx_http_invites_db_notice(void *arg, const char *message)
{
    ngx_http_invites_db_t  *db = arg;

    ngx_log_error(NGX_LOG_NOTICE, db->log, 0, "invites: PostgreSQL: %s",
                  ngx_http_invites_db_message(message));
}


static const char *
ngx_http_invites_db_error(ngx_http_invites_db_conn_t *pc)
{
    return ngx_http_invites_db_message(PQerrorMessage(pc->pg));
}


/* where the attempt went, never with the password */

static void
ngx_http_invites_db_connect_failed(ngx_http_invites_db_conn_t *pc)
{
    const char  *host, *addr, *port, *dbname, *user;

    host = PQhost(pc->pg);
    addr = PQhostaddr(pc->pg);
    port = PQport(pc->pg);
    dbname = PQdb(pc->pg);
    user = PQuser(pc->pg);

    ngx_log_error(NGX_LOG_ERR, pc->db->log, 0,
                  "invites: cannot connect to PostgreSQL at host \"%s\" "
                  "(%s) port %s, database \"%s\", user \"%s\": %s",
                  host ? host : "", addr && addr[0] ? addr : "socket",
                  port ? port : "", dbname ? dbname : "", user ? user : "",
                  ngx_http_invites_db_error(pc));
}


static u_char *
ngx_http_invites_db_log_handler(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_invites_db_t  *db = log->data;

    return ngx_snprintf(buf, len, ", invites database: %V", &db->name);
}


static const char *
ngx_http_invites_db_result_error(PGresult *res)
{
    return ngx_http_invites_db_message(PQresultErrorMessage(res));
}


static void
ngx_http_invites_db_report(ngx_http_invites_db_t *db,
    ngx_http_invites_db_event_e ev, ngx_int_t delta)
{
    if (db->event) {
        db->event(db, ev, delta);
    }
}


static void
ngx_http_invites_db_state(ngx_http_invites_db_conn_t *pc,
    ngx_http_invites_db_state_e state)
{
    ngx_int_t  from, to;

    from = ngx_http_invites_db_state_events[pc->state];
    to = ngx_http_invites_db_state_events[state];

    pc->state = state;

    if (from == to) {
        return;
    }

    if (from != -1) {
        ngx_http_invites_db_report(pc->db, from, -1);
    }

    if (to != -1) {
        ngx_http_invites_db_report(pc->db, to, 1);
    }
}


/*
 * Every query's answer passes here: classified, logged, counted.  A server
 * that takes no writes is said once per connection (pc, when the answer
 * came on one), not once per request.
 */

static void
ngx_http_invites_db_answer(ngx_http_invites_db_query_t *q,
    ngx_http_invites_err_e err, PGresult *res, ngx_http_invites_db_conn_t *pc)
{
    ngx_uint_t                    level;
    ngx_http_invites_db_result_t  r;

    r.nrows = 0;
    r.ncols = 0;
    r.pg = res;

    switch (err) {

    case NGX_HTTP_INVITES_OK:
        r.kind = ngx_http_invites_db_classify(res);
        break;

    case NGX_HTTP_INVITES_DB_TIMEOUT:
        r.kind = NGX_HTTP_INVITES_DB_TIMED_OUT;
        break;

    case NGX_HTTP_INVITES_DB_UNAVAILABLE:
        r.kind = NGX_HTTP_INVITES_DB_LOST;
        break;

    default:
        r.kind = NGX_HTTP_INVITES_DB_FAILED;
        break;
    }

    switch (r.kind) {

    case NGX_HTTP_INVITES_DB_ROWS:
        r.nrows = PQntuples(res);
        r.ncols = PQnfields(res);
        break;

    case NGX_HTTP_INVITES_DB_NONE:
        r.ncols = PQnfields(res);
        break;

    case NGX_HTTP_INVITES_DB_TIMED_OUT:
        ngx_http_invites_db_report(q->db, NGX_HTTP_INVITES_DB_EV_TIMEOUT, 1);
        break;

    case NGX_HTTP_INVITES_DB_LOST:
        ngx_http_invites_db_report(q->db, NGX_HTTP_INVITES_DB_EV_UNAVAILABLE,
                                   1);
        break;

    case NGX_HTTP_INVITES_DB_NO_WRITES:
        ngx_http_invites_db_report(q->db, NGX_HTTP_INVITES_DB_EV_READ_ONLY, 1);
        break;

    default:
        ngx_http_invites_db_report(q->db, NGX_HTTP_INVITES_DB_EV_ERROR, 1);
        break;
    }

    if (r.kind == NGX_HTTP_INVITES_DB_NO_WRITES) {

        if (pc && !pc->read_only) {
            pc->read_only = 1;
            ngx_log_error(NGX_LOG_WARN, q->log, 0,
                          "invites: the database accepts no writes on this "
                          "connection: %s",
                          ngx_http_invites_db_result_error(res));
        }

    } else if (err == NGX_HTTP_INVITES_OK
               && r.kind > NGX_HTTP_INVITES_DB_NONE)
    {
        /* a key taken is the caller's to handle; the rest are faults */
        level = (r.kind == NGX_HTTP_INVITES_DB_CONFLICT) ? NGX_LOG_INFO
                                                         : NGX_LOG_ERR;

        ngx_log_error(level, q->log, 0, "invites: %s failed: %s", q->stmt,
                      ngx_http_invites_db_result_error(res));
    }

    q->handler(q, &r);
}


/*
 * The server's answer, classified once: rows or none, a unique key taken,
 * a statement_timeout (the server's side of invites_db_timeout), a
 * connection failure, a server that takes no writes, or any other error.
 */

static ngx_http_invites_db_kind_e
ngx_http_invites_db_classify(PGresult *res)
{
    char  *state;

    switch (PQresultStatus(res)) {

    case PGRES_TUPLES_OK:
        return PQntuples(res) ? NGX_HTTP_INVITES_DB_ROWS
                              : NGX_HTTP_INVITES_DB_NONE;

    case PGRES_COMMAND_OK:
        return NGX_HTTP_INVITES_DB_NONE;

    default:
        break;
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (state == NULL) {
        return NGX_HTTP_INVITES_DB_FAILED;
    }

    if (ngx_strcmp(state, "23505") == 0) {
        return NGX_HTTP_INVITES_DB_CONFLICT;
    }

    if (ngx_strcmp(state, "57014") == 0) {
        return NGX_HTTP_INVITES_DB_TIMED_OUT;
    }

    if (ngx_strcmp(state, "25006") == 0) {
        return NGX_HTTP_INVITES_DB_NO_WRITES;
    }

    if (ngx_strncmp(state, "08", 2) == 0) {
        return NGX_HTTP_INVITES_DB_LOST;
    }

    return NGX_HTTP_INVITES_DB_FAILED;
}


/* a cell of a result, during its handler's call; data NULL for SQL NULL */

void
ngx_http_invites_db_value(ngx_http_invites_db_result_t *res, ngx_uint_t row,
    ngx_uint_t col, ngx_str_t *value)
{
    if (PQgetisnull(res->pg, row, col)) {
        ngx_str_null(value);
        return;
    }

    value->data = (u_char *) PQgetvalue(res->pg, row, col);
    value->len = PQgetlength(res->pg, row, col);
}


/*
 * A row's first n cells; only those whose bit is set in nullable can be
 * NULL (data NULL), and only those cost the question.
 */

void
ngx_http_invites_db_row(ngx_http_invites_db_result_t *res, ngx_uint_t row,
    ngx_str_t *values, ngx_uint_t n, uint64_t nullable)
{
    int          r;
    ngx_uint_t   i;
    PGresult    *pg;

    pg = res->pg;
    r = (int) row;

    for (i = 0; i < n; i++) {

        if ((nullable & ((uint64_t) 1 << i)) && PQgetisnull(pg, r, i)) {
            ngx_str_null(&values[i]);
            continue;
        }

        values[i].data = (u_char *) PQgetvalue(pg, r, i);
        values[i].len = PQgetlength(pg, r, i);
    }
}


/* the API's error for a result that is not an answer */

ngx_http_invites_err_e
ngx_http_invites_db_err(ngx_http_invites_db_kind_e kind)
{
    switch (kind) {

    case NGX_HTTP_INVITES_DB_ROWS:
    case NGX_HTTP_INVITES_DB_NONE:
        return NGX_HTTP_INVITES_OK;

    case NGX_HTTP_INVITES_DB_TIMED_OUT:
        return NGX_HTTP_INVITES_DB_TIMEOUT;

    case NGX_HTTP_INVITES_DB_LOST:
        return NGX_HTTP_INVITES_DB_UNAVAILABLE;

    case NGX_HTTP_INVITES_DB_NO_WRITES:
        return NGX_HTTP_INVITES_DB_READ_ONLY;

    default:
        return NGX_HTTP_INVITES_DB_ERROR;
    }
}


/* libpq's messages end in a newline and may span lines; a log line may not */

const char *
ngx_http_invites_db_message(const char *msg)
{
    u_char  *p, *last;

    p = ngx_cpystrn(ngx_http_invites_db_msg, (u_char *) msg,
                    sizeof(ngx_http_invites_db_msg));

    while (p > ngx_http_invites_db_msg
           && (*(p - 1) == '\n' || *(p - 1) == ' '))
    {
        *--p = '\0';
    }

    last = p;

    for (p = ngx_http_invites_db_msg; p < last; p++) {
        if (*p == '\n' || *p == '\t') {
            *p = ' ';
        }
    }

    return (const char *) ngx_http_invites_db_msg;
}
