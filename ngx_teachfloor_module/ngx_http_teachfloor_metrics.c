
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Counters of what the gates did, in shared memory and updated with atomic
 * operations, so that one scrape shows the sum over all workers; and the
 * teachfloor_metrics endpoint that writes them in Prometheus's text format.
 */


#include "ngx_http_teachfloor_module.h"
#include "tf_prom.h"


/* names kept apart (event names, secrets); the rest are counted "other" */
#define NGX_HTTP_TF_METRICS_EVENTS    128
#define NGX_HTTP_TF_METRICS_SECRETS   32
#define NGX_HTTP_TF_METRICS_NAME_LEN  64


/* the label of a slot: written once, before the slot is published */
typedef struct {
    size_t                          len;
    u_char                          name[NGX_HTTP_TF_METRICS_NAME_LEN];
} ngx_http_teachfloor_metrics_label_t;


typedef struct {
    ngx_http_teachfloor_metrics_label_t  label;     /* first */
    ngx_atomic_t                    count[NGX_HTTP_TF_NRESULTS];
} ngx_http_teachfloor_metrics_event_t;


typedef struct {
    ngx_http_teachfloor_metrics_label_t  label;     /* first */
    ngx_atomic_t                    count;
} ngx_http_teachfloor_metrics_secret_t;


typedef struct {
    /*
     * First, where an older version of the module had a counter that
     * stayed 0: a zone adopted on reload from another layout is not read.
     */
    ngx_atomic_t                    layout;
    ngx_atomic_t                    requests[NGX_HTTP_TF_NRESULTS];
    ngx_atomic_t                    upstream[4];
    /* what teachfloor_limit_dry_run let through: refused, delayed */
    ngx_atomic_t                    dry_run[2];
    ngx_atomic_t                    nevents;
    ngx_atomic_t                    nsecrets;
    /* the last one of each is "other" */
    ngx_http_teachfloor_metrics_event_t
                                    events[NGX_HTTP_TF_METRICS_EVENTS + 1];
    ngx_http_teachfloor_metrics_secret_t
                                    secrets[NGX_HTTP_TF_METRICS_SECRETS + 1];
} ngx_http_teachfloor_metrics_shctx_t;


#define NGX_HTTP_TF_METRICS_LAYOUT                                            \
    (0x74660000 + sizeof(ngx_http_teachfloor_metrics_shctx_t))


typedef struct {
    ngx_http_teachfloor_metrics_shctx_t  *sh;
    ngx_slab_pool_t                      *shpool;
} ngx_http_teachfloor_metrics_t;


static ngx_int_t ngx_http_teachfloor_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_http_teachfloor_metrics_t *ngx_http_teachfloor_metrics_get(
    ngx_http_request_t *r);
static ngx_http_teachfloor_metrics_label_t *
    ngx_http_teachfloor_metrics_slot(ngx_http_teachfloor_metrics_t *m,
    void *slots, size_t size, ngx_atomic_t *nslots, ngx_uint_t max,
    const u_char *name, size_t len);
static ngx_int_t ngx_http_teachfloor_metrics_handler(ngx_http_request_t *r);
static u_char *ngx_http_teachfloor_metrics_write(u_char *p, u_char *last,
    ngx_http_teachfloor_metrics_shctx_t *sh, ngx_uint_t nevents,
    ngx_uint_t nsecrets);
static u_char *ngx_http_teachfloor_metrics_counters(u_char *p, u_char *last,
    const char *name, const char *label, const char **values,
    ngx_atomic_t *counts, ngx_uint_t n);
static u_char *ngx_http_teachfloor_metrics_zones(u_char *p, u_char *last,
    ngx_uint_t dedupe);
static u_char *ngx_http_teachfloor_metrics_label(u_char *p, u_char *last,
    const u_char *value, size_t len);


static ngx_str_t  ngx_http_teachfloor_metrics_name =
    ngx_string("teachfloor_metrics");

static ngx_uint_t  ngx_http_teachfloor_metrics_tag;

static const char  *ngx_http_teachfloor_upstream_classes[] = {
    "2xx", "3xx", "4xx", "5xx"
};

static const char  *ngx_http_teachfloor_dry_run_actions[] = {
    "refused", "delayed"
};


char *
ngx_http_teachfloor_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_teachfloor_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_teachfloor_module);
    tmcf->metrics = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_teachfloor_metrics_handler;

    return NGX_CONF_OK;
}


/* the counters exist only where some location shows them */

ngx_int_t
ngx_http_teachfloor_metrics_init(ngx_conf_t *cf)
{
    size_t                            size;
    ngx_shm_zone_t                   *shm_zone;
    ngx_http_teachfloor_metrics_t    *m;
    ngx_http_teachfloor_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_teachfloor_module);

    if (!tmcf->metrics) {
        return NGX_OK;
    }

    m = ngx_pcalloc(cf->pool, sizeof(ngx_http_teachfloor_metrics_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    size = ngx_align(2 * sizeof(ngx_http_teachfloor_metrics_shctx_t),
                     ngx_pagesize);
    size = ngx_max(size, 8 * ngx_pagesize);

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_teachfloor_metrics_name,
                                     size, &ngx_http_teachfloor_metrics_tag);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_teachfloor_metrics_init_zone;
    shm_zone->data = m;

    tmcf->metrics_zone = shm_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_teachfloor_metrics_t  *om = data;

    ngx_str_t                       other = ngx_string("other");
    ngx_http_teachfloor_metrics_t  *m;

    m = shm_zone->data;

    /* a reload keeps the counts */

    if (om) {
        m->sh = om->sh;
        m->shpool = om->shpool;

    } else {
        m->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
        m->sh = shm_zone->shm.exists ? m->shpool->data : NULL;
    }

    if (m->sh && m->sh->layout == NGX_HTTP_TF_METRICS_LAYOUT) {
        return NGX_OK;
    }

    if (m->sh) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "teachfloor metrics start from zero: the counters of "
                      "another version of the module are not kept");

        ngx_slab_free(m->shpool, m->sh);
    }

    m->sh = ngx_slab_calloc(m->shpool,
                            sizeof(ngx_http_teachfloor_metrics_shctx_t));
    if (m->sh == NULL) {
        return NGX_ERROR;
    }

    m->shpool->data = m->sh;
    m->sh->layout = NGX_HTTP_TF_METRICS_LAYOUT;

    m->sh->events[NGX_HTTP_TF_METRICS_EVENTS].label.len = other.len;
    ngx_memcpy(m->sh->events[NGX_HTTP_TF_METRICS_EVENTS].label.name,
               other.data, other.len);

    m->sh->secrets[NGX_HTTP_TF_METRICS_SECRETS].label.len = other.len;
    ngx_memcpy(m->sh->secrets[NGX_HTTP_TF_METRICS_SECRETS].label.name,
               other.data, other.len);

    return NGX_OK;
}


static ngx_http_teachfloor_metrics_t *
ngx_http_teachfloor_metrics_get(ngx_http_request_t *r)
{
    ngx_http_teachfloor_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_teachfloor_module);

    if (tmcf->metrics_zone == NULL) {
        return NULL;
    }

    return tmcf->metrics_zone->data;
}


/* once per gate verdict: forwarded, or answered by the gate itself */

void
ngx_http_teachfloor_metrics_verdict(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx)
{
    ngx_http_teachfloor_metrics_t          *m;
    ngx_http_teachfloor_metrics_event_t    *ev;
    ngx_http_teachfloor_metrics_secret_t   *sec;

    m = ngx_http_teachfloor_metrics_get(r);

    if (m == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m->sh->requests[ctx->result], 1);

    /* a secret is counted by its name, else by its position */

    if (ctx->secret_label) {
        sec = (ngx_http_teachfloor_metrics_secret_t *)
                  ngx_http_teachfloor_metrics_slot(m, m->sh->secrets,
                      sizeof(ngx_http_teachfloor_metrics_secret_t),
                      &m->sh->nsecrets, NGX_HTTP_TF_METRICS_SECRETS,
                      ctx->secret_label->data, ctx->secret_label->len);

        (void) ngx_atomic_fetch_add(&sec->count, 1);
    }

    if (ctx->verified && ctx->envelope.event.len) {
        ev = (ngx_http_teachfloor_metrics_event_t *)
                 ngx_http_teachfloor_metrics_slot(m, m->sh->events,
                     sizeof(ngx_http_teachfloor_metrics_event_t),
                     &m->sh->nevents, NGX_HTTP_TF_METRICS_EVENTS,
                     ctx->envelope.event.data, ctx->envelope.event.len);

        (void) ngx_atomic_fetch_add(&ev->count[ctx->result], 1);
    }
}


/* the log phase: the final status of a forwarded event */

void
ngx_http_teachfloor_metrics_upstream(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, ngx_uint_t status)
{
    ngx_http_teachfloor_metrics_t  *m;

    if (ctx->result != NGX_HTTP_TF_ACCEPTED || status < 200 || status > 599) {
        return;
    }

    m = ngx_http_teachfloor_metrics_get(r);

    if (m == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m->sh->upstream[status / 100 - 2], 1);
}


/* an event a dry run forwarded that the limit would have refused or delayed */

void
ngx_http_teachfloor_metrics_dry_run(ngx_http_request_t *r, ngx_uint_t delayed)
{
    ngx_http_teachfloor_metrics_t  *m;

    m = ngx_http_teachfloor_metrics_get(r);

    if (m == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m->sh->dry_run[delayed ? 1 : 0], 1);
}


/*
 * Finds the slot of a name in a table of max slots of size bytes, each
 * starting with its label, without a lock: a slot is published by bumping
 * *nslots only once its label is written.  A new name takes the mutex; past
 * the last slot (the one after max), names share "other".
 */

static ngx_http_teachfloor_metrics_label_t *
ngx_http_teachfloor_metrics_slot(ngx_http_teachfloor_metrics_t *m,
    void *slots, size_t size, ngx_atomic_t *nslots, ngx_uint_t max,
    const u_char *name, size_t len)
{
    u_char                               *base;
    ngx_uint_t                            i, n;
    ngx_http_teachfloor_metrics_label_t  *l;

    base = slots;

    if (len > NGX_HTTP_TF_METRICS_NAME_LEN) {
        return (ngx_http_teachfloor_metrics_label_t *) (base + max * size);
    }

    n = *nslots;
    ngx_memory_barrier();

    for (i = 0; i < n; i++) {
        l = (ngx_http_teachfloor_metrics_label_t *) (base + i * size);

        if (l->len == len && ngx_memcmp(l->name, name, len) == 0) {
            return l;
        }
    }

    ngx_shmtx_lock(&m->shpool->mutex);

    for (n = *nslots; i < n; i++) {
        l = (ngx_http_teachfloor_metrics_label_t *) (base + i * size);

        if (l->len == len && ngx_memcmp(l->name, name, len) == 0) {
            ngx_shmtx_unlock(&m->shpool->mutex);
            return l;
        }
    }

    l = (ngx_http_teachfloor_metrics_label_t *) (base + n * size);

    if (n == max) {
        ngx_shmtx_unlock(&m->shpool->mutex);
        return l;
    }

    l->len = len;
    ngx_memcpy(l->name, name, len);

    ngx_memory_barrier();
    *nslots = n + 1;

    ngx_shmtx_unlock(&m->shpool->mutex);

    return l;
}


#define NGX_HTTP_TF_HELP(name, type, help)                                    \
    "# HELP " name " " help "\n# TYPE " name " " type "\n"

/* the longest fixed part of a sample line, before label values */
#define NGX_HTTP_TF_LINE_LEN  (64 + NGX_ATOMIC_T_LEN)


static ngx_int_t
ngx_http_teachfloor_metrics_handler(ngx_http_request_t *r)
{
    size_t                          size;
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_uint_t                      i, nevents, nsecrets;
    ngx_chain_t                     out;
    ngx_list_part_t                *part;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_teachfloor_metrics_t  *m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_http_teachfloor_metrics_get(r);

    /*
     * The size is known before anything is written: the fixed series, one
     * line per result for each event name kept, and one per zone, each
     * label at most twice its length once escaped.  Every write is then
     * bounded by it all the same.
     */

    nevents = 0;
    nsecrets = 0;

    if (m) {
        nevents = m->sh->nevents;
        nsecrets = m->sh->nsecrets;
        ngx_memory_barrier();
    }

    size = 0;
    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        size += 2 * (NGX_HTTP_TF_LINE_LEN + 2 * shm_zone[i].shm.name.len);
    }

    size += 4096 + ngx_http_teachfloor_spool_metrics_size()
            + (NGX_HTTP_TF_NRESULTS + 9) * NGX_HTTP_TF_LINE_LEN
            + (nsecrets + 1)
              * (NGX_HTTP_TF_LINE_LEN + 2 * NGX_HTTP_TF_METRICS_NAME_LEN)
            + (nevents + 1) * NGX_HTTP_TF_NRESULTS
              * (NGX_HTTP_TF_LINE_LEN + 2 * NGX_HTTP_TF_METRICS_NAME_LEN);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    if (m) {
        p = ngx_http_teachfloor_metrics_write(p, b->end, m->sh, nevents,
                                              nsecrets);
    }

    p = ngx_http_teachfloor_metrics_zones(p, b->end, 0);
    p = ngx_http_teachfloor_metrics_zones(p, b->end, 1);
    p = ngx_http_teachfloor_spool_metrics(p, b->end);

    b->last = p;
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


static u_char *
ngx_http_teachfloor_metrics_write(u_char *p, u_char *last,
    ngx_http_teachfloor_metrics_shctx_t *sh, ngx_uint_t n,
    ngx_uint_t nsecrets)
{
    ngx_str_t                             *name;
    ngx_uint_t                             i, j;
    ngx_atomic_uint_t                      v;
    ngx_http_teachfloor_metrics_event_t   *ev;
    ngx_http_teachfloor_metrics_secret_t  *sec;

    p = ngx_slprintf(p, last, NGX_HTTP_TF_HELP("teachfloor_requests_total",
                     "counter", "Requests a Teachfloor gate forwarded or "
                     "answered itself, by result."));

    for (i = NGX_HTTP_TF_ACCEPTED; i < NGX_HTTP_TF_NRESULTS; i++) {
        name = ngx_http_teachfloor_result_name(i);
        p = ngx_slprintf(p, last,
                         "teachfloor_requests_total{result=\"%V\"} %uA\n",
                         name, sh->requests[i]);
    }

    p = ngx_slprintf(p, last, NGX_HTTP_TF_HELP("teachfloor_events_total",
                     "counter", "Verified events by type and result; past "
                     "128 names, event=\"other\"."));

    for (j = 0; j <= NGX_HTTP_TF_METRICS_EVENTS; j++) {

        if (j == n) {
            j = NGX_HTTP_TF_METRICS_EVENTS;
        }

        ev = &sh->events[j];

        for (i = NGX_HTTP_TF_ACCEPTED; i < NGX_HTTP_TF_NRESULTS; i++) {
            v = ev->count[i];

            if (v == 0) {
                continue;
            }

            p = ngx_slprintf(p, last, "teachfloor_events_total{event=\"");
            p = ngx_http_teachfloor_metrics_label(p, last, ev->label.name,
                                                  ev->label.len);
            p = ngx_slprintf(p, last, "\",result=\"%V\"} %uA\n",
                             ngx_http_teachfloor_result_name(i), v);
        }
    }

    p = ngx_slprintf(p, last, NGX_HTTP_TF_HELP(
                     "teachfloor_secret_matches_total", "counter",
                     "Requests verified by each secret, by its name=, else "
                     "its 1-based position; past 32, secret=\"other\"."));

    for (j = 0; j <= NGX_HTTP_TF_METRICS_SECRETS; j++) {

        if (j == nsecrets) {
            j = NGX_HTTP_TF_METRICS_SECRETS;
        }

        sec = &sh->secrets[j];
        v = sec->count;

        if (v == 0) {
            continue;
        }

        p = ngx_slprintf(p, last, "teachfloor_secret_matches_total"
                         "{secret=\"");
        p = ngx_http_teachfloor_metrics_label(p, last, sec->label.name,
                                              sec->label.len);
        p = ngx_slprintf(p, last, "\"} %uA\n", v);
    }

    p = ngx_slprintf(p, last, NGX_HTTP_TF_HELP(
                     "teachfloor_upstream_responses_total", "counter",
                     "Final upstream status of forwarded events, by "
                     "class."));

    p = ngx_http_teachfloor_metrics_counters(p, last,
                                       "teachfloor_upstream_responses_total",
                                       "class",
                                       ngx_http_teachfloor_upstream_classes,
                                       sh->upstream, 4);

    p = ngx_slprintf(p, last, NGX_HTTP_TF_HELP(
                     "teachfloor_rate_limit_dry_run_total", "counter",
                     "Events teachfloor_limit_dry_run forwarded at once that "
                     "a rate limit would have refused or delayed."));

    p = ngx_http_teachfloor_metrics_counters(p, last,
                                       "teachfloor_rate_limit_dry_run_total",
                                       "action",
                                       ngx_http_teachfloor_dry_run_actions,
                                       sh->dry_run, 2);

    return p;
}


/* one line per value of a label every value of which is always listed */

static u_char *
ngx_http_teachfloor_metrics_counters(u_char *p, u_char *last,
    const char *name, const char *label, const char **values,
    ngx_atomic_t *counts, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, last, "%s{%s=\"%s\"} %uA\n",
                         name, label, values[i], counts[i]);
    }

    return p;
}


static u_char *
ngx_http_teachfloor_metrics_zones(u_char *p, u_char *last, ngx_uint_t dedupe)
{
    ngx_uint_t         i, n, items, found;
    ngx_list_part_t   *part;
    ngx_shm_zone_t    *shm_zone;
    ngx_atomic_uint_t  evictions;

    static const char *names[2][2] = {
        { "teachfloor_limit_zone_keys", "teachfloor_limit_zone_evictions" },
        { "teachfloor_dedupe_zone_entries",
          "teachfloor_dedupe_zone_evictions" }
    };

    for (n = 0; n < 2; n++) {
        found = 0;
        part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
        shm_zone = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                shm_zone = part->elts;
                i = 0;
            }

            if (ngx_http_teachfloor_shm_stats(&shm_zone[i],
                                              dedupe
                                              ? &ngx_http_teachfloor_dedupe_tag
                                              : &ngx_http_teachfloor_limit_tag,
                                              &items, &evictions)
                != NGX_OK)
            {
                continue;
            }

            if (!found) {
                found = 1;

                if (n == 0) {
                    p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s gauge\n",
                                     names[dedupe][0],
                                     dedupe ? "Events a dedupe zone holds."
                                            : "Keys a rate-limit zone holds.",
                                     names[dedupe][0]);

                } else {
                    p = ngx_slprintf(p, last, "# HELP %s_total %s\n"
                                     "# TYPE %s_total counter\n",
                                     names[dedupe][1],
                                     "Entries dropped to make room before "
                                     "they expired.",
                                     names[dedupe][1]);
                }
            }

            p = ngx_slprintf(p, last, n ? "%s_total{zone=\"" : "%s{zone=\"",
                             names[dedupe][n]);
            p = ngx_http_teachfloor_metrics_label(p, last,
                                                  shm_zone[i].shm.name.data,
                                                  shm_zone[i].shm.name.len);
            p = ngx_slprintf(p, last, "\"} %uA\n", n ? evictions : items);
        }
    }

    return p;
}


static u_char *
ngx_http_teachfloor_metrics_label(u_char *p, u_char *last,
    const u_char *value, size_t len)
{
    if (tf_prom_escaped_len(value, len) > (size_t) (last - p)) {
        return p;
    }

    return tf_prom_escape(p, value, len);
}
