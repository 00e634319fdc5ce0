
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


#ifndef _NGX_HTTP_INVITES_METRICS_H_INCLUDED_
#define _NGX_HTTP_INVITES_METRICS_H_INCLUDED_


#include "ngx_http_invites_module.h"
#include "ngx_http_invites_db.h"


/*
 * Counters for every worker in one shared memory zone, summed when
 * invites_status is scraped.  Each worker adds to a slot of its own (by
 * ngx_worker, on its own cache lines), with atomic adds: after a reload an
 * old and a new worker with the same number share a slot, and both counts
 * stay right.  Gauges are kept as the +1 / -1 of what they count, so that
 * what an exiting worker closes leaves the sum.  Without invites_status in
 * the configuration there is no zone and nothing is counted.
 */


ngx_shm_zone_t *ngx_http_invites_metrics_zone(ngx_conf_t *cf,
    ngx_array_t *dbs);
void ngx_http_invites_metrics_init_process(ngx_shm_zone_t *zone);

/* a microsecond clock for durations: monotonic, read without a syscall */
uint64_t ngx_http_invites_metrics_clock(void);

void ngx_http_invites_metrics_request(ngx_http_invites_endpoint_e endpoint,
    ngx_uint_t status, uint64_t usec);
void ngx_http_invites_metrics_auth(ngx_uint_t hit);
void ngx_http_invites_metrics_db(ngx_http_invites_db_t *db,
    ngx_http_invites_db_event_e ev, ngx_int_t delta);

/* the invites_status location's content handler */
ngx_int_t ngx_http_invites_metrics_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_INVITES_METRICS_H_INCLUDED_ */
