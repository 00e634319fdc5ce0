
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <time.h>

#include "ngx_http_invites_conf.h"
#include "ngx_http_invites_ops.h"
#include "ngx_http_invites_metrics.h"
#include "ngx_http_invites_version.h"


/* two lines: adjacent-line prefetch must not pull a neighbour's slot in */
#define NGX_HTTP_INVITES_METRICS_ALIGN     128

/* HTTP statuses are counted by value below this, 0 above it */
#define NGX_HTTP_INVITES_METRICS_STATUSES  600

#define NGX_HTTP_INVITES_METRICS_BUCKETS   13

/* the endpoints, and the requests for none of them */
#define NGX_HTTP_INVITES_METRICS_ENDPOINTS (NGX_HTTP_INVITES_NENDPOINTS + 1)

/* a line's length, its label values and numbers aside */
#define NGX_HTTP_INVITES_METRICS_LINE      128


/*
 * A worker's counts, all words, so that a scrape sums slots word by word.
 * Histogram buckets count each request once (the scrape makes them
 * cumulative); the last is +Inf.
 */

typedef struct {
    ngx_atomic_t          requests[NGX_HTTP_INVITES_METRICS_ENDPOINTS]
                                  [NGX_HTTP_INVITES_METRICS_STATUSES];
    ngx_atomic_t          buckets[NGX_HTTP_INVITES_METRICS_ENDPOINTS]
                                 [NGX_HTTP_INVITES_METRICS_BUCKETS + 1];
    ngx_atomic_t          usec[NGX_HTTP_INVITES_METRICS_ENDPOINTS];
    ngx_atomic_t          auth[2];                     /* miss, hit */
    ngx_atomic_t          db[1];    /* NGX_HTTP_INVITES_DB_NEVENTS per db */
} ngx_http_invites_metrics_slot_t;


/* the zone's data: set when nginx reads its configuration */
typedef struct {
    ngx_uint_t            nslots;
    ngx_uint_t            ndbs;
    size_t                slot_size;
    u_char               *slots;                       /* in the zone */
} ngx_http_invites_metrics_t;


static ngx_int_t ngx_http_invites_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_invites_metrics_add(ngx_atomic_t *counter,
    ngx_int_t delta);
static ngx_http_invites_metrics_slot_t *ngx_http_invites_metrics_sum(
    ngx_http_invites_metrics_t *m, ngx_pool_t *pool);
static size_t ngx_http_invites_metrics_size(ngx_http_invites_metrics_slot_t *t,
    ngx_array_t *dbs);
static u_char *ngx_http_invites_metrics_write(u_char *p,
    ngx_http_invites_metrics_slot_t *t, ngx_array_t *dbs);
static u_char *ngx_http_invites_metrics_write_db(u_char *p,
    ngx_http_invites_metrics_slot_t *t, ngx_http_invites_db_t *db);
static u_char *ngx_http_invites_metrics_label(u_char *p, ngx_str_t *value);
static ngx_str_t *ngx_http_invites_metrics_endpoint(ngx_uint_t endpoint);


static ngx_http_invites_metrics_slot_t  *ngx_http_invites_metrics_mine;


/* the upper bounds, in microseconds and as "le" labels */

static const uint64_t  ngx_http_invites_metrics_bounds[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000
};

static ngx_str_t  ngx_http_invites_metrics_le[] = {
    ngx_string("0.0005"), ngx_string("0.001"), ngx_string("0.0025"),
    ngx_string("0.005"), ngx_string("0.01"), ngx_string("0.025"),
    ngx_string("0.05"), ngx_string("0.1"), ngx_string("0.25"),
    ngx_string("0.5"), ngx_string("1"), ngx_string("2.5"), ngx_string("5"),
    ngx_string("+Inf")
};

static ngx_str_t  ngx_http_invites_metrics_unknown = ngx_string("unknown");


static const char  ngx_http_invites_metrics_head_info[] =
    "# HELP nginx_invites_info The Invites module's version.\n"
    "# TYPE nginx_invites_info gauge\n";

static const char  ngx_http_invites_metrics_head_requests[] =
    "# HELP nginx_invites_requests_total Requests answered in invites_api "
    "locations, by endpoint and HTTP status.\n"
    "# TYPE nginx_invites_requests_total counter\n";

static const char  ngx_http_invites_metrics_head_duration[] =
    "# HELP nginx_invites_request_duration_seconds Time from the module "
    "taking a request to its response, by endpoint.\n"
    "# TYPE nginx_invites_request_duration_seconds histogram\n";

static const char  ngx_http_invites_metrics_head_connections[] =
    "# HELP nginx_invites_db_connections PostgreSQL connections of all "
    "workers, by state.\n"
    "# TYPE nginx_invites_db_connections gauge\n";

static const char  ngx_http_invites_metrics_head_waiting[] =
    "# HELP nginx_invites_db_waiting Queries waiting in the pools' queues "
    "for a connection.\n"
    "# TYPE nginx_invites_db_waiting gauge\n";

static const char  ngx_http_invites_metrics_head_connects[] =
    "# HELP nginx_invites_db_connects_total Connections opened to "
    "PostgreSQL (statements prepared), or that failed to open.\n"
    "# TYPE nginx_invites_db_connects_total counter\n";

static const char  ngx_http_invites_metrics_head_errors[] =
    "# HELP nginx_invites_db_errors_total Queries answered with a database "
    "error, by kind.\n"
    "# TYPE nginx_invites_db_errors_total counter\n";

static const char  ngx_http_invites_metrics_head_auth[] =
    "# HELP nginx_invites_auth_cache_total API keys found in a worker's "
    "cache (hit) or looked up in PostgreSQL (miss).\n"
    "# TYPE nginx_invites_auth_cache_total counter\n";


#define ngx_http_invites_metrics_text(p, s)                                   \
    ngx_cpymem(p, s, sizeof(s) - 1)


/*
 * One zone for the whole configuration.  Its name holds the number of
 * slots and the pools' names: a reload that changes neither reuses the
 * zone, and counting goes on; one that does gets a new, zeroed zone.
 */

ngx_shm_zone_t *
ngx_http_invites_metrics_zone(ngx_conf_t *cf, ngx_array_t *dbs)
{
    size_t                       size;
    uint32_t                     crc;
    ngx_str_t                    name;
    ngx_uint_t                   i;
    ngx_shm_zone_t              *zone;
    ngx_core_conf_t             *ccf;
    ngx_http_invites_db_t      **dbp;
    ngx_http_invites_metrics_t  *m;

    m = ngx_pcalloc(cf->pool, sizeof(ngx_http_invites_metrics_t));
    if (m == NULL) {
        return NULL;
    }

    /* worker_processes comes before http {} as a rule; else a guess */

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    m->nslots = (ccf->worker_processes == NGX_CONF_UNSET
                 || ccf->worker_processes < 1)
                ? (ngx_uint_t) ngx_max(ngx_ncpu, 1)
                : (ngx_uint_t) ccf->worker_processes;

    m->ndbs = dbs->nelts;
    m->slot_size = ngx_align(offsetof(ngx_http_invites_metrics_slot_t, db)
                             + m->ndbs * NGX_HTTP_INVITES_DB_NEVENTS
                               * sizeof(ngx_atomic_t),
                             NGX_HTTP_INVITES_METRICS_ALIGN);

    ngx_crc32_init(crc);

    dbp = dbs->elts;

    for (i = 0; i < dbs->nelts; i++) {
        ngx_crc32_update(&crc, dbp[i]->name.data, dbp[i]->name.len + 1);
    }

    ngx_crc32_final(crc);

    name.data = ngx_pnalloc(cf->pool, sizeof("invites_metrics__") - 1
                                      + NGX_INT_T_LEN + 8);
    if (name.data == NULL) {
        return NULL;
    }

    name.len = ngx_sprintf(name.data, "invites_metrics_%ui_%08xD",
                           m->nslots, crc)
               - name.data;

    /* the slab pool's own pages, the slots, and room to align them */

    size = 8 * ngx_pagesize + NGX_HTTP_INVITES_METRICS_ALIGN
           + m->nslots * m->slot_size;

    zone = ngx_shared_memory_add(cf, &name, ngx_align(size, ngx_pagesize),
                                 &ngx_http_invites_module);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_invites_metrics_init_zone;
    zone->data = m;

    return zone;
}


static ngx_int_t
ngx_http_invites_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_invites_metrics_t *old = data;

    u_char                      *p;
    ngx_slab_pool_t             *shpool;
    ngx_http_invites_metrics_t  *m;

    m = zone->data;

    if (old) {
        /* the same name: the same layout, and the counts go on */
        m->slots = old->slots;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    p = ngx_slab_calloc(shpool, m->nslots * m->slot_size
                                + NGX_HTTP_INVITES_METRICS_ALIGN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    m->slots = ngx_align_ptr(p, NGX_HTTP_INVITES_METRICS_ALIGN);

    return NGX_OK;
}


void
ngx_http_invites_metrics_init_process(ngx_shm_zone_t *zone)
{
    ngx_http_invites_metrics_t  *m;

    if (zone == NULL) {
        ngx_http_invites_metrics_mine = NULL;
        return;
    }

    m = zone->data;

    ngx_http_invites_metrics_mine = (ngx_http_invites_metrics_slot_t *)
        (m->slots + (ngx_worker % m->nslots) * m->slot_size);
}


uint64_t
ngx_http_invites_metrics_clock(void)
{
    struct timespec  ts;

    if (ngx_http_invites_metrics_mine == NULL
        || clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
    {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


void
ngx_http_invites_metrics_request(ngx_http_invites_endpoint_e endpoint,
    ngx_uint_t status, uint64_t usec)
{
    ngx_uint_t                        b;
    ngx_http_invites_metrics_slot_t  *s;

    s = ngx_http_invites_metrics_mine;

    if (s == NULL) {
        return;
    }

    if (status >= NGX_HTTP_INVITES_METRICS_STATUSES) {
        status = 0;
    }

    for (b = 0; b < NGX_HTTP_INVITES_METRICS_BUCKETS; b++) {
        if (usec <= ngx_http_invites_metrics_bounds[b]) {
            break;
        }
    }

    ngx_http_invites_metrics_add(&s->requests[endpoint][status], 1);
    ngx_http_invites_metrics_add(&s->buckets[endpoint][b], 1);
    ngx_http_invites_metrics_add(&s->usec[endpoint], (ngx_int_t) usec);
}


void
ngx_http_invites_metrics_auth(ngx_uint_t hit)
{
    if (ngx_http_invites_metrics_mine) {
        ngx_http_invites_metrics_add(
            &ngx_http_invites_metrics_mine->auth[hit ? 1 : 0], 1);
    }
}


/* the pools' ngx_http_invites_db_event_pt */

void
ngx_http_invites_metrics_db(ngx_http_invites_db_t *db,
    ngx_http_invites_db_event_e ev, ngx_int_t delta)
{
    if (ngx_http_invites_metrics_mine) {
        ngx_http_invites_metrics_add(
            &ngx_http_invites_metrics_mine->db[db->index
                                               * NGX_HTTP_INVITES_DB_NEVENTS
                                               + ev],
            delta);
    }
}


static void
ngx_http_invites_metrics_add(ngx_atomic_t *counter, ngx_int_t delta)
{
    (void) ngx_atomic_fetch_add(counter, (ngx_atomic_int_t) delta);
}


ngx_int_t
ngx_http_invites_metrics_handler(ngx_http_request_t *r)
{
    size_t                            size;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_chain_t                       out;
    ngx_http_invites_metrics_t       *m;
    ngx_http_invites_metrics_slot_t  *t;
    ngx_http_invites_main_conf_t     *imcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    imcf = ngx_http_get_module_main_conf(r, ngx_http_invites_module);

    if (imcf->metrics == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m = imcf->metrics->data;

    t = ngx_http_invites_metrics_sum(m, r->pool);
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = ngx_http_invites_metrics_size(t, &imcf->dbs);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_http_invites_metrics_write(b->last, t, &imcf->dbs);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* every worker's slot added up, word by word, as unsigned: gauges wrap */

static ngx_http_invites_metrics_slot_t *
ngx_http_invites_metrics_sum(ngx_http_invites_metrics_t *m, ngx_pool_t *pool)
{
    ngx_uint_t          i, k, n;
    ngx_atomic_t       *slot;
    ngx_atomic_uint_t  *sum;

    sum = ngx_pcalloc(pool, m->slot_size);
    if (sum == NULL) {
        return NULL;
    }

    n = m->slot_size / sizeof(ngx_atomic_t);

    for (i = 0; i < m->nslots; i++) {
        slot = (ngx_atomic_t *) (m->slots + i * m->slot_size);

        for (k = 0; k < n; k++) {
            sum[k] += slot[k];
        }
    }

    return (ngx_http_invites_metrics_slot_t *) sum;
}


static size_t
ngx_http_invites_metrics_size(ngx_http_invites_metrics_slot_t *t,
    ngx_array_t *dbs)
{
    size_t                   size;
    ngx_uint_t               i, k, lines;
    ngx_http_invites_db_t  **dbp;

    size = sizeof(ngx_http_invites_metrics_head_info)
           + sizeof(ngx_http_invites_metrics_head_requests)
           + sizeof(ngx_http_invites_metrics_head_duration)
           + sizeof(ngx_http_invites_metrics_head_connections)
           + sizeof(ngx_http_invites_metrics_head_waiting)
           + sizeof(ngx_http_invites_metrics_head_connects)
           + sizeof(ngx_http_invites_metrics_head_errors)
           + sizeof(ngx_http_invites_metrics_head_auth);

    lines = 1 + 2
            + NGX_HTTP_INVITES_METRICS_ENDPOINTS
              * (NGX_HTTP_INVITES_METRICS_BUCKETS + 1 + 2);

    for (i = 0; i < NGX_HTTP_INVITES_METRICS_ENDPOINTS; i++) {
        for (k = 0; k < NGX_HTTP_INVITES_METRICS_STATUSES; k++) {
            if (t->requests[i][k]) {
                lines++;
            }
        }
    }

    size += lines * (NGX_HTTP_INVITES_METRICS_LINE + 2 * NGX_ATOMIC_T_LEN);

    /* each db's name, escaped at most twice as long, on each of its lines */

    dbp = dbs->elts;

    for (i = 0; i < dbs->nelts; i++) {
        size += NGX_HTTP_INVITES_DB_NEVENTS
                * (NGX_HTTP_INVITES_METRICS_LINE + NGX_ATOMIC_T_LEN
                   + 2 * dbp[i]->name.len);
    }

    return size;
}


static u_char *
ngx_http_invites_metrics_write(u_char *p, ngx_http_invites_metrics_slot_t *t,
    ngx_array_t *dbs)
{
    ngx_str_t               *e;
    ngx_uint_t               i, k;
    ngx_atomic_uint_t        n;
    ngx_http_invites_db_t  **dbp;

    p = ngx_http_invites_metrics_text(p, ngx_http_invites_metrics_head_info);
    p = ngx_sprintf(p, "nginx_invites_info{version=\"%s\"} 1\n",
                    NGX_HTTP_INVITES_VERSION);

    p = ngx_http_invites_metrics_text(p,
                                      ngx_http_invites_metrics_head_requests);

    for (i = 0; i < NGX_HTTP_INVITES_METRICS_ENDPOINTS; i++) {
        e = ngx_http_invites_metrics_endpoint(i);

        for (k = 0; k < NGX_HTTP_INVITES_METRICS_STATUSES; k++) {
            if (t->requests[i][k]) {
                p = ngx_sprintf(p, "nginx_invites_requests_total{endpoint="
                                "\"%V\",status=\"%ui\"} %uA\n",
                                e, k, t->requests[i][k]);
            }
        }
    }

    p = ngx_http_invites_metrics_text(p,
                                      ngx_http_invites_metrics_head_duration);

    for (i = 0; i < NGX_HTTP_INVITES_METRICS_ENDPOINTS; i++) {
        e = ngx_http_invites_metrics_endpoint(i);
        n = 0;

        for (k = 0; k <= NGX_HTTP_INVITES_METRICS_BUCKETS; k++) {
            n += t->buckets[i][k];
            p = ngx_sprintf(p, "nginx_invites_request_duration_seconds_bucket"
                            "{endpoint=\"%V\",le=\"%V\"} %uA\n",
                            e, &ngx_http_invites_metrics_le[k], n);
        }

        p = ngx_sprintf(p, "nginx_invites_request_duration_seconds_sum"
                        "{endpoint=\"%V\"} %uA.%06uA\n", e,
                        t->usec[i] / 1000000, t->usec[i] % 1000000);
        p = ngx_sprintf(p, "nginx_invites_request_duration_seconds_count"
                        "{endpoint=\"%V\"} %uA\n", e, n);
    }

    dbp = dbs->elts;

    p = ngx_http_invites_metrics_text(p,
                                   ngx_http_invites_metrics_head_connections);

    for (i = 0; i < dbs->nelts; i++) {
        p = ngx_http_invites_metrics_write_db(p, t, dbp[i]);
    }

    p = ngx_http_invites_metrics_text(p,
                                      ngx_http_invites_metrics_head_waiting);

    for (i = 0; i < dbs->nelts; i++) {
        p = ngx_cpymem(p, "nginx_invites_db_waiting{db=\"",
                       sizeof("nginx_invites_db_waiting{db=\"") - 1);
        p = ngx_http_invites_metrics_label(p, &dbp[i]->name);
        p = ngx_sprintf(p, "\"} %A\n", (ngx_atomic_int_t)
                        t->db[dbp[i]->index * NGX_HTTP_INVITES_DB_NEVENTS
                              + NGX_HTTP_INVITES_DB_EV_WAITING]);
    }

    p = ngx_http_invites_metrics_text(p,
                                      ngx_http_invites_metrics_head_connects);

    for (i = 0; i < dbs->nelts; i++) {
        for (k = NGX_HTTP_INVITES_DB_EV_CONNECT_OK;
             k <= NGX_HTTP_INVITES_DB_EV_CONNECT_FAILED;
             k++)
        {
            p = ngx_cpymem(p, "nginx_invites_db_connects_total{db=\"",
                           sizeof("nginx_invites_db_connects_total{db=\"")
                           - 1);
            p = ngx_http_invites_metrics_label(p, &dbp[i]->name);
            p = ngx_sprintf(p, "\",result=\"%s\"} %uA\n",
                            k == NGX_HTTP_INVITES_DB_EV_CONNECT_OK
                            ? "ok" : "failed",
                            t->db[dbp[i]->index * NGX_HTTP_INVITES_DB_NEVENTS
                                  + k]);
        }
    }

    p = ngx_http_invites_metrics_text(p, ngx_http_invites_metrics_head_errors);

    for (i = 0; i < dbs->nelts; i++) {
        for (k = NGX_HTTP_INVITES_DB_EV_TIMEOUT;
             k <= NGX_HTTP_INVITES_DB_EV_ERROR;
             k++)
        {
            p = ngx_cpymem(p, "nginx_invites_db_errors_total{db=\"",
                           sizeof("nginx_invites_db_errors_total{db=\"") - 1);
            p = ngx_http_invites_metrics_label(p, &dbp[i]->name);
            p = ngx_sprintf(p, "\",kind=\"%s\"} %uA\n",
                            k == NGX_HTTP_INVITES_DB_EV_TIMEOUT ? "timeout"
                            : k == NGX_HTTP_INVITES_DB_EV_UNAVAILABLE
                              ? "unavailable"
                            : k == NGX_HTTP_INVITES_DB_EV_READ_ONLY
                              ? "read_only" : "error",
                            t->db[dbp[i]->index * NGX_HTTP_INVITES_DB_NEVENTS
                                  + k]);
        }
    }

    p = ngx_http_invites_metrics_text(p, ngx_http_invites_metrics_head_auth);
    p = ngx_sprintf(p, "nginx_invites_auth_cache_total{result=\"hit\"} %uA\n"
                    "nginx_invites_auth_cache_total{result=\"miss\"} %uA\n",
                    t->auth[1], t->auth[0]);

    return p;
}


static u_char *
ngx_http_invites_metrics_write_db(u_char *p,
    ngx_http_invites_metrics_slot_t *t, ngx_http_invites_db_t *db)
{
    ngx_uint_t           k;
    ngx_atomic_uint_t   *ev;
    static const char   *states[] = { "connecting", "idle", "busy" };

    ev = (ngx_atomic_uint_t *) &t->db[db->index * NGX_HTTP_INVITES_DB_NEVENTS];

    /* CONNECTING, IDLE, BUSY are the first three events */

    for (k = 0; k < 3; k++) {
        p = ngx_cpymem(p, "nginx_invites_db_connections{db=\"",
                       sizeof("nginx_invites_db_connections{db=\"") - 1);
        p = ngx_http_invites_metrics_label(p, &db->name);
        p = ngx_sprintf(p, "\",state=\"%s\"} %A\n", states[k],
                        (ngx_atomic_int_t) ev[k]);
    }

    return p;
}


/* a label value as the text format wants it: \\, \" and \n escaped */

static u_char *
ngx_http_invites_metrics_label(u_char *p, ngx_str_t *value)
{
    u_char  *s, *last;

    last = value->data + value->len;

    for (s = value->data; s < last; s++) {

        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }
    }

    return p;
}


static ngx_str_t *
ngx_http_invites_metrics_endpoint(ngx_uint_t endpoint)
{
    if (endpoint >= NGX_HTTP_INVITES_NENDPOINTS) {
        return &ngx_http_invites_metrics_unknown;
    }

    return ngx_http_invites_op_endpoint_name(endpoint);
}
