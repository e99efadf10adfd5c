
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Store and forward: an accepted event is written to the spool directory
 * and made durable before the gate answers 202; workers then deliver it
 * through the gate location's own content handler (its proxy_pass), with
 * retries, until the app takes it or it grows too old.
 *
 *     PATH/tmp/NAME       being written; never delivered, removed at start
 *     PATH/queue/NAME     durable, waiting or being delivered
 *     PATH/queue/NAME.state   attempts and the last error, once one failed
 *     PATH/dead/NAME      given up (with NAME.state saying why)
 *     PATH/requeue/NAME   dropped here by the operator: queued again
 *
 * Which events wait and when each is due is kept in the zone, shared by
 * the workers; it is rebuilt from queue/ when the zone is new (a start, or
 * a reload that changed its size).  A worker delivering an event holds an
 * exclusive flock() on its file, which the kernel drops if the worker
 * dies: no two processes deliver one event at once, even across a binary
 * upgrade, where two masters' workers share the directory.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/file.h>

#include "ngx_http_teachfloor_module.h"
#include "tf_spool.h"


#define NGX_HTTP_TF_SPOOL_NAME_LEN  32
#define NGX_HTTP_TF_SPOOL_RETRIES   16
#define NGX_HTTP_TF_SPOOL_TICK      1000

/* a tmp/ file older than this at start was left by a crash */
#define NGX_HTTP_TF_SPOOL_STALE     60


typedef struct {
    ngx_str_node_t                sn;         /* in sh->names, by name */
    ngx_queue_t                   queue;      /* in sh->due or sh->busy */
    int64_t                       accepted;   /* ms since 1970 */
    int64_t                       due;
    off_t                         size;
    ngx_pid_t                     owner;      /* writing or delivering */
    ngx_uint_t                    attempts;
    u_char                        name[NGX_HTTP_TF_SPOOL_NAME_LEN];
} ngx_http_teachfloor_spool_node_t;


#define NGX_HTTP_TF_RETRY_STATUS       0
#define NGX_HTTP_TF_RETRY_UNREACHABLE  1
#define NGX_HTTP_TF_RETRY_NONE         2

#define NGX_HTTP_TF_REFUSED_FULL       0
#define NGX_HTTP_TF_REFUSED_ERROR      1


typedef struct {
    ngx_rbtree_t                  names;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   due;        /* earliest due first */
    ngx_queue_t                   busy;
    ngx_uint_t                    events;
    off_t                         bytes;
    ngx_uint_t                    in_flight;

    ngx_atomic_t                  queued;
    ngx_atomic_t                  delivered;
    ngx_atomic_t                  dead;
    ngx_atomic_t                  retried[2];
    ngx_atomic_t                  refused[2];
    ngx_atomic_t                  latency_ms;     /* accepted to delivered */
    ngx_queue_t                   writing;    /* reserved, not yet written */
} ngx_http_teachfloor_spool_sh_t;


struct ngx_http_teachfloor_spool_s {
    ngx_str_t                     name;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_teachfloor_spool_sh_t  *sh;
    ngx_slab_pool_t              *shpool;

    ngx_str_t                     path;       /* no trailing slash */
    off_t                         max_size;
    time_t                        max_age;
    ngx_uint_t                    pace;
    ngx_uint_t                    nretries;
    ngx_msec_t                    retries[NGX_HTTP_TF_SPOOL_RETRIES];
    ngx_str_t                     threads;    /* a thread pool, or empty */
#if (NGX_THREADS)
    ngx_thread_pool_t            *thread_pool;
#endif

    ngx_http_conf_ctx_t          *ctx;        /* the delivering location's */
    ngx_cycle_t                  *cycle;      /* being configured */
    ngx_str_t                     file;       /* of "teachfloor_spool" */
    ngx_uint_t                    line;
    unsigned                      defined:1;  /* by teachfloor_spool_path */
    unsigned                      opened:1;   /* dev and ino are known */
    dev_t                         dev;        /* of the path, once made */
    ngx_file_uniq_t               ino;

    /* in a worker */
    ngx_event_t                   timer;
    ngx_uint_t                    seq;
    ngx_msec_t                    rescan;     /* when queue/ is read next */
};


/* an event on its way to the spool */

typedef struct {
    ngx_http_teachfloor_spool_t  *spool;
    ngx_http_request_t           *r;
    ngx_http_teachfloor_spool_node_t  *node;
    u_char                       *head;
    size_t                        head_len;
    ngx_chain_t                  *body;
    u_char                       *tmp;        /* NUL-terminated paths */
    u_char                       *dst;
    u_char                       *dir;
    ngx_err_t                     err;
    const char                   *failed;     /* the call that did */
    ngx_event_t                   guard;      /* keeps an exiting worker */
} ngx_http_teachfloor_spool_write_t;


/* an event on its way to the app */

typedef struct {
    ngx_http_teachfloor_spool_t  *spool;
    ngx_http_teachfloor_spool_node_t  *node;
    ngx_pool_t                   *pool;
    ngx_http_request_t           *r;
    ngx_connection_t              c;
    ngx_event_t                   rev;
    ngx_event_t                   wev;
    ngx_event_t                   free_ev;
    ngx_log_t                     log;
    ngx_http_log_ctx_t            log_ctx;
    ngx_http_post_subrequest_t    ps;
    ngx_file_t                    file;
    ngx_uint_t                    status;
    unsigned                      answered:1; /* the app sent a status */
    unsigned                      settled:1;
    unsigned                      freeing:1;
    int64_t                       accepted;
    off_t                         size;
    ngx_uint_t                    attempts;
    tf_spool_record_t             rec;
    ngx_str_t                     secret_label;
    u_char                        name[NGX_HTTP_TF_SPOOL_NAME_LEN];
} ngx_http_teachfloor_delivery_t;


static ngx_int_t ngx_http_teachfloor_spool_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_teachfloor_spool_once(ngx_table_elt_t *h);
static ngx_uint_t ngx_http_teachfloor_spool_died(ngx_pid_t pid);
static void ngx_http_teachfloor_spool_unreserve(
    ngx_http_teachfloor_spool_t *spool, ngx_http_teachfloor_spool_write_t *w);
static ngx_int_t ngx_http_teachfloor_spool_init_dirs(
    ngx_http_teachfloor_spool_t *spool, ngx_log_t *log);
static void ngx_http_teachfloor_spool_load(ngx_http_teachfloor_spool_t *spool,
    ngx_log_t *log);
static ngx_http_teachfloor_spool_node_t *ngx_http_teachfloor_spool_node(
    ngx_http_teachfloor_spool_t *spool, u_char *name, off_t size);
static void ngx_http_teachfloor_spool_read_state(
    ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node);
static ngx_int_t ngx_http_teachfloor_spool_dirs(
    ngx_http_teachfloor_spool_t *spool, ngx_cycle_t *cycle, ngx_log_t *log);
static int64_t ngx_http_teachfloor_spool_now(void);
static void ngx_http_teachfloor_spool_insert(
    ngx_http_teachfloor_spool_sh_t *sh,
    ngx_http_teachfloor_spool_node_t *node);
static ngx_int_t ngx_http_teachfloor_spool_index(
    ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node);
static void ngx_http_teachfloor_spool_rescan(
    ngx_http_teachfloor_spool_t *spool);
static void ngx_http_teachfloor_spool_remove(
    ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node);
static u_char *ngx_http_teachfloor_spool_head(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, off_t body_len, int64_t accepted,
    size_t *len);
static void ngx_http_teachfloor_spool_write(void *data, ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_teachfloor_spool_guard(ngx_event_t *ev);
static void ngx_http_teachfloor_spool_written(ngx_event_t *ev);
#endif
static void ngx_http_teachfloor_spool_answer(
    ngx_http_teachfloor_spool_write_t *w);
static void ngx_http_teachfloor_spool_tick(ngx_event_t *ev);
static void ngx_http_teachfloor_spool_requeue(
    ngx_http_teachfloor_spool_t *spool);
static void ngx_http_teachfloor_spool_claim(ngx_http_teachfloor_spool_t *spool);
static ngx_int_t ngx_http_teachfloor_spool_deliver(
    ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node);
static ngx_int_t ngx_http_teachfloor_spool_open(
    ngx_http_teachfloor_delivery_t *d, u_char **head);
static ngx_int_t ngx_http_teachfloor_spool_request(
    ngx_http_teachfloor_delivery_t *d, u_char *head);
static ngx_int_t ngx_http_teachfloor_spool_headers(
    ngx_http_teachfloor_delivery_t *d, ngx_http_request_t *r);
static ngx_int_t ngx_http_teachfloor_spool_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_teachfloor_spool_finish(ngx_http_request_t *r);
static void ngx_http_teachfloor_spool_settle(ngx_http_teachfloor_delivery_t *d,
    const char *error);
static void ngx_http_teachfloor_spool_unlink(
    ngx_http_teachfloor_delivery_t *d);
static void ngx_http_teachfloor_spool_release(ngx_event_t *ev);
static void ngx_http_teachfloor_spool_forget(
    ngx_http_teachfloor_delivery_t *d);
static void ngx_http_teachfloor_spool_idle(ngx_event_t *ev);
static void ngx_http_teachfloor_spool_free(ngx_http_teachfloor_delivery_t *d);
static void ngx_http_teachfloor_spool_state(ngx_http_teachfloor_spool_t *spool,
    const char *dir, u_char *name, int64_t accepted, ngx_uint_t attempts,
    int64_t due, const char *error, ngx_log_t *log);
static ngx_chain_t *ngx_http_teachfloor_spool_discard(ngx_connection_t *c,
    ngx_chain_t *in, off_t limit);
static ssize_t ngx_http_teachfloor_spool_discard_send(ngx_connection_t *c,
    u_char *buf, size_t size);
static u_char *ngx_http_teachfloor_spool_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


ngx_uint_t  ngx_http_teachfloor_spool_tag;

static ngx_msec_t  ngx_http_teachfloor_default_retries[] = {
    10000, 30000, 60000, 300000, 900000, 3600000
};


/*
 * The URI and arguments a spooling gate's location was found with, before
 * its own rewrite phase changed them ("rewrite ... break", "set $args"):
 * a delivery runs that phase again from them.  Kept in a variable slot of
 * the request, which survives internal redirects as the module's context
 * does not.  Its name has characters that no "$name" in a configuration
 * can read, and it is defined before any directive is read, so that
 * "set", "map" or "geo" cannot define it again to read or change the
 * slot (two ngx_str_t: pointers): nginx refuses a second definition of a
 * variable that is not changeable.  A get handler that finds nothing
 * guards it all the same.  The slot itself, which every request of every
 * server would carry, is taken only by a "teachfloor_spool" directive.
 */

static ngx_str_t  ngx_http_teachfloor_spool_matched_name =
    ngx_string("teachfloor-spool-matched-uri");


static ngx_int_t
ngx_http_teachfloor_spool_matched_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->not_found = 1;
    return NGX_OK;
}


ngx_int_t
ngx_http_teachfloor_spool_add_variable(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_teachfloor_spool_matched_name,
                                NGX_HTTP_VAR_NOHASH);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_teachfloor_spool_matched_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_spool_matched_index(ngx_conf_t *cf)
{
    ngx_http_teachfloor_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_teachfloor_module);

    if (tmcf->matched == NGX_ERROR) {
        tmcf->matched = ngx_http_get_variable_index(cf,
                                      &ngx_http_teachfloor_spool_matched_name);
    }

    return tmcf->matched;
}


/* first in the rewrite phase: this module's handlers run before the
 * rewrite module's, which nginx registered earlier */

ngx_int_t
ngx_http_teachfloor_spool_rewrite_handler(ngx_http_request_t *r)
{
    ngx_str_t                        *matched;
    ngx_http_variable_value_t        *v;
    ngx_http_teachfloor_loc_conf_t   *tlcf;
    ngx_http_teachfloor_main_conf_t  *tmcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_teachfloor_module);

    if (tlcf->spool == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_teachfloor_module);

    matched = ngx_palloc(r->pool, 2 * sizeof(ngx_str_t));
    if (matched == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    matched[0] = r->uri;
    matched[1] = r->args;

    v = &r->variables[tmcf->matched];

    v->data = (u_char *) matched;
    v->len = 2 * sizeof(ngx_str_t);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_DECLINED;
}


static ngx_http_teachfloor_spool_t *
ngx_http_teachfloor_spool_get(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_shm_zone_t                  *shm_zone;
    ngx_http_teachfloor_spool_t     *spool, **sp;
    ngx_http_teachfloor_main_conf_t *tmcf;

    shm_zone = ngx_shared_memory_add(cf, name, 0,
                                     &ngx_http_teachfloor_spool_tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        return shm_zone->data;
    }

    spool = ngx_pcalloc(cf->pool, sizeof(ngx_http_teachfloor_spool_t));
    if (spool == NULL) {
        return NULL;
    }

    spool->name = *name;
    spool->shm_zone = shm_zone;
    spool->cycle = cf->cycle;

    shm_zone->data = spool;
    shm_zone->init = ngx_http_teachfloor_spool_init_zone;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_teachfloor_module);

    if (tmcf->spools == NULL) {
        tmcf->spools = ngx_array_create(cf->pool, 2, sizeof(void *));
        if (tmcf->spools == NULL) {
            return NULL;
        }
    }

    sp = ngx_array_push(tmcf->spools);
    if (sp == NULL) {
        return NULL;
    }

    *sp = spool;

    return spool;
}


/*
 * teachfloor_spool_path PATH zone=NAME:SIZE [max_size=SIZE] [max_age=TIME]
 *     [pace=N] [retry=TIME,TIME,...] [threads=POOL|off];
 */

char *
ngx_http_teachfloor_spool_path(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                       *p, *last, *comma;
    ssize_t                       size;
    ngx_int_t                     n;
    ngx_str_t                    *value, name, s, threads;
    ngx_msec_t                    ms;
    ngx_uint_t                    i, nretries, pace;
    ngx_http_teachfloor_spool_t  *spool, **spools;
    ngx_http_teachfloor_main_conf_t  *tmcf;
    off_t                         max_size;
    time_t                        max_age;
    ngx_msec_t                    retries[NGX_HTTP_TF_SPOOL_RETRIES];

    value = cf->args->elts;

    name.len = 0;
    size = 0;
    max_size = 0;
    max_age = 3 * 86400;
    pace = 16;
    nretries = 0;
    ngx_str_set(&threads, "default");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            if (ngx_http_teachfloor_zone_param(cf, &value[i], &name, &size)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            max_size = ngx_parse_offset(&s);
            if (max_size <= 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_age=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            max_age = ngx_parse_time(&s, 1);
            if (max_age == (time_t) NGX_ERROR || max_age == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "pace=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n <= 0 || n > 65535) {
                goto invalid;
            }

            pace = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "retry=", 6) == 0) {
            p = value[i].data + 6;
            last = value[i].data + value[i].len;

            while (p < last) {
                comma = ngx_strlchr(p, last, ',');
                if (comma == NULL) {
                    comma = last;
                }

                s.data = p;
                s.len = comma - p;

                ms = ngx_parse_time(&s, 0);
                if (ms == (ngx_msec_t) NGX_ERROR || ms == 0
                    || nretries == NGX_HTTP_TF_SPOOL_RETRIES)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid \"%V\": a list of up to %d "
                                       "times above zero, such as "
                                       "\"retry=10s,30s,1m,5m,15m,1h\"",
                                       &value[i], NGX_HTTP_TF_SPOOL_RETRIES);
                    return NGX_CONF_ERROR;
                }

                retries[nretries++] = ms;
                p = comma + 1;
            }

            if (nretries == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "threads=", 8) == 0) {
            threads.data = value[i].data + 8;
            threads.len = value[i].len - 8;

            if (threads.len == 0) {
                goto invalid;
            }

            if (threads.len == 3 && ngx_strncmp(threads.data, "off", 3) == 0) {
                threads.len = 0;
            }

            continue;
        }

        goto invalid;
    }

    if (name.len == 0 || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone=NAME:SIZE\"",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    spool = ngx_http_teachfloor_spool_get(cf, &name);
    if (spool == NULL) {
        return NGX_CONF_ERROR;
    }

    if (spool->defined) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "spool zone \"%V\" is already defined", &name);
        return NGX_CONF_ERROR;
    }

    if (spool->shm_zone->shm.size == 0) {
        spool->shm_zone->shm.size = size;
    }

    spool->defined = 1;
    spool->path = value[1];

    while (spool->path.len > 1
           && spool->path.data[spool->path.len - 1] == '/')
    {
        spool->path.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &spool->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* two zones in one directory would deliver each other's events */

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_teachfloor_module);
    spools = tmcf->spools->elts;

    for (i = 0; i < tmcf->spools->nelts; i++) {
        if (spools[i] != spool && spools[i]->defined
            && spools[i]->path.len == spool->path.len
            && ngx_strncmp(spools[i]->path.data, spool->path.data,
                           spool->path.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "spool zones \"%V\" and \"%V\" have one "
                               "path, \"%V\": each needs its own",
                               &spools[i]->name, &spool->name, &spool->path);
            return NGX_CONF_ERROR;
        }
    }

    spool->max_size = max_size;
    spool->max_age = max_age;
    spool->pace = pace;
    spool->threads = threads;

    if (nretries) {
        ngx_memcpy(spool->retries, retries, nretries * sizeof(ngx_msec_t));
        spool->nretries = nretries;

    } else {
        spool->nretries = sizeof(ngx_http_teachfloor_default_retries)
                          / sizeof(ngx_msec_t);
        ngx_memcpy(spool->retries, ngx_http_teachfloor_default_retries,
                   sizeof(ngx_http_teachfloor_default_retries));
    }

#if (NGX_THREADS)
    if (threads.len) {
        spool->thread_pool = ngx_thread_pool_add(cf, &threads);
        if (spool->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }
#endif

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of \"%V\"", &value[i],
                       &cmd->name);
    return NGX_CONF_ERROR;
}


/* teachfloor_spool zone=NAME | off; in the gate's own location */

char *
ngx_http_teachfloor_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    ngx_str_t                    *value, name;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_teachfloor_spool_t  *spool;

    if (tlcf->spool != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->spool = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5) {
        return "takes \"zone=NAME\" or \"off\"";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named || clcf->noname) {
        return "cannot be used in a named location or an \"if\" block: "
               "set it in the location itself";
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    spool = ngx_http_teachfloor_spool_get(cf, &name);
    if (spool == NULL) {
        return NGX_CONF_ERROR;
    }

    if (spool->ctx) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "spool zone \"%V\" is already used by the "
                           "location in %V:%ui: a spool delivers through "
                           "one location", &name, &spool->file, spool->line);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_teachfloor_spool_matched_index(cf) == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    spool->ctx = cf->ctx;
    spool->file = cf->conf_file->file.name;
    spool->line = cf->conf_file->line;

    tlcf->spool = spool;

    return NGX_CONF_OK;
}


/* at the gate's merge: what "teachfloor_spool" needs to work */

char *
ngx_http_teachfloor_spool_check_conf(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (conf->spool == NULL) {
        return NGX_CONF_OK;
    }

    if (!conf->spool->defined) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"teachfloor_spool\" in %V:%ui uses zone \"%V\", "
                      "which no \"teachfloor_spool_path\" defines",
                      &conf->spool->file, conf->spool->line,
                      &conf->spool->name);
        return NGX_CONF_ERROR;
    }

    if (!conf->enable) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"teachfloor_spool\" in %V:%ui is not in a gate: "
                      "set \"teachfloor_webhook on\" there",
                      &conf->spool->file, conf->spool->line);
        return NGX_CONF_ERROR;
    }

    clcf = conf->spool->ctx->loc_conf[ngx_http_core_module.ctx_index];

    if (clcf->handler == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"teachfloor_spool\" in %V:%ui needs \"proxy_pass\" "
                      "(or another content handler) in the same location: "
                      "events are delivered through it",
                      &conf->spool->file, conf->spool->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_teachfloor_spool_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_teachfloor_spool_t  *ospool = data;

    ngx_http_teachfloor_spool_t     *spool;
    ngx_http_teachfloor_spool_sh_t  *sh;

    spool = shm_zone->data;

    if (spool->ctx == NULL) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                      "teachfloor spool \"%V\" is used by no location: its "
                      "queued events wait in \"%V/queue\" until one says "
                      "\"teachfloor_spool zone=%V\"", &spool->name,
                      &spool->path, &spool->name);
    }

    if (ospool) {
        if (ospool->path.len != spool->path.len
            || ngx_strncmp(ospool->path.data, spool->path.data,
                           spool->path.len)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "teachfloor spool \"%V\" cannot move from \"%V\" "
                          "to \"%V\" on a reload: its events wait in the "
                          "first; give the new path a zone of its own",
                          &spool->name, &ospool->path, &spool->path);
            return NGX_ERROR;
        }

        spool->sh = ospool->sh;
        spool->shpool = ospool->shpool;

        return ngx_http_teachfloor_spool_init_dirs(spool, shm_zone->shm.log);
    }

    spool->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        spool->sh = spool->shpool->data;
        return ngx_http_teachfloor_spool_init_dirs(spool, shm_zone->shm.log);
    }

    sh = ngx_slab_calloc(spool->shpool,
                         sizeof(ngx_http_teachfloor_spool_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    spool->sh = sh;
    spool->shpool->data = sh;

    ngx_rbtree_init(&sh->names, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->due);
    ngx_queue_init(&sh->busy);
    ngx_queue_init(&sh->writing);

    spool->shpool->log_nomem = 0;

    if (ngx_http_teachfloor_spool_init_dirs(spool, shm_zone->shm.log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!ngx_test_config) {
        ngx_http_teachfloor_spool_load(spool, shm_zone->shm.log);
    }

    return NGX_OK;
}


/*
 * The directories, and a check that no other zone of this configuration
 * has the same one by another name ("/a/s" and "/a/./s", a symbolic
 * link): two zones in one directory would deliver each other's events,
 * each through its own location.
 */

static ngx_int_t
ngx_http_teachfloor_spool_init_dirs(ngx_http_teachfloor_spool_t *spool,
    ngx_log_t *log)
{
    u_char                            *p;
    ngx_uint_t                         i;
    ngx_file_info_t                    fi;
    ngx_http_teachfloor_spool_t      **spools;
    ngx_http_teachfloor_main_conf_t   *tmcf;
    u_char                             path[NGX_MAX_PATH];

    if (ngx_http_teachfloor_spool_dirs(spool, spool->cycle, log) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V", &spool->path);
    *p = '\0';

    if (ngx_file_info(path, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "teachfloor spool \"%V\": " ngx_file_info_n
                      " \"%s\" failed", &spool->name, path);
        return NGX_ERROR;
    }

    spool->dev = fi.st_dev;
    spool->ino = ngx_file_uniq(&fi);
    spool->opened = 1;

    tmcf = ngx_http_cycle_get_module_main_conf(spool->cycle,
                                               ngx_http_teachfloor_module);
    spools = tmcf->spools->elts;

    for (i = 0; i < tmcf->spools->nelts; i++) {
        if (spools[i] != spool && spools[i]->opened
            && spools[i]->dev == spool->dev && spools[i]->ino == spool->ino)
        {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "spool zones \"%V\" and \"%V\" have one "
                          "directory, \"%V\" and \"%V\": each needs its own",
                          &spools[i]->name, &spool->name, &spools[i]->path,
                          &spool->path);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the directories, owned by the workers' user when the master is root */

static ngx_int_t
ngx_http_teachfloor_spool_dirs(ngx_http_teachfloor_spool_t *spool,
    ngx_cycle_t *cycle, ngx_log_t *log)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;
    u_char            path[NGX_MAX_PATH];

    static const char  *subdirs[] = { "", "/tmp", "/queue", "/dead",
                                      "/requeue" };

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {

        p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V%s", &spool->path,
                         subdirs[i]);
        *p = '\0';

        if (ngx_file_info(path, &fi) == 0) {
            continue;
        }

        if (ngx_create_full_path(path, 0700) != 0
            || (ngx_create_dir(path, 0700) == NGX_FILE_ERROR
                && ngx_errno != NGX_EEXIST))
        {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "teachfloor spool \"%V\": cannot create \"%s\"",
                          &spool->name, path);
            return NGX_ERROR;
        }

        if (geteuid() == 0 && ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
            && chown((const char *) path, ccf->user, -1) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                          "teachfloor spool \"%V\": chown(\"%s\") failed",
                          &spool->name, path);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_teachfloor_spool_cmp(const void *one, const void *two)
{
    const ngx_http_teachfloor_spool_node_t *const *a = one;
    const ngx_http_teachfloor_spool_node_t *const *b = two;

    if ((*a)->due != (*b)->due) {
        return (*a)->due < (*b)->due ? -1 : 1;
    }

    return ngx_strcmp((*a)->name, (*b)->name);
}


static ngx_int_t
ngx_http_teachfloor_spool_valid_name(u_char *name, size_t len)
{
    size_t  i;

    if (len != NGX_HTTP_TF_SPOOL_NAME_LEN - 1) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (i == 13 || i == 22) {
            if (name[i] != '-') {
                return 0;
            }

            continue;
        }

        if (!((name[i] >= '0' && name[i] <= '9')
              || (name[i] >= 'a' && name[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


/* a node for a file found in a directory: its time is in its name */

static ngx_http_teachfloor_spool_node_t *
ngx_http_teachfloor_spool_node(ngx_http_teachfloor_spool_t *spool,
    u_char *name, off_t size)
{
    ngx_http_teachfloor_spool_node_t  *node;

    node = ngx_slab_alloc(spool->shpool,
                          sizeof(ngx_http_teachfloor_spool_node_t));
    if (node == NULL) {
        return NULL;
    }

    ngx_memzero(node, sizeof(ngx_http_teachfloor_spool_node_t));
    ngx_memcpy(node->name, name, NGX_HTTP_TF_SPOOL_NAME_LEN - 1);
    node->size = size;
    node->accepted = ngx_hextoi(name, 13);
    node->due = node->accepted;

    return node;
}


/* what an earlier process wrote of an event's attempts: a count, a time */

static void
ngx_http_teachfloor_spool_read_state(ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node)
{
    u_char     *p, *last, *eol;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_int_t   v;
    u_char      path[NGX_MAX_PATH];
    u_char      state[256];

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/queue/%s.state",
                     &spool->path, node->name);
    *p = '\0';

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        return;
    }

    n = read(fd, state, sizeof(state));
    (void) ngx_close_file(fd);

    if (n <= 0) {
        return;
    }

    last = state + n;

    for (p = state; p < last; p = eol + 1) {
        eol = ngx_strlchr(p, last, '\n');

        if (eol == NULL) {
            break;
        }

        if (eol - p > 9 && ngx_strncmp(p, "attempts ", 9) == 0) {
            v = ngx_atoi(p + 9, eol - p - 9);

            if (v != NGX_ERROR) {
                node->attempts = v;
            }

        } else if (eol - p > 9 && ngx_strncmp(p, "accepted ", 9) == 0) {
            v = ngx_atoi(p + 9, eol - p - 9);

            if (v != NGX_ERROR && v > 0) {
                node->accepted = v;
            }

        } else if (eol - p > 5 && ngx_strncmp(p, "next ", 5) == 0) {
            v = ngx_atoi(p + 5, eol - p - 5);

            if (v != NGX_ERROR && v > 0) {
                node->due = v;
            }
        }
    }
}


/*
 * The events a start finds in queue/ wait again, each due when its state
 * file said (a crash may have lost that: then at once).  Files in tmp/
 * were never answered 202: they go.
 */

static void
ngx_http_teachfloor_spool_load(ngx_http_teachfloor_spool_t *spool,
    ngx_log_t *log)
{
    u_char                             *p, *name;
    size_t                              len;
    ngx_str_t                           dname;
    ngx_dir_t                           dir;
    ngx_uint_t                          i, nnodes, ntmp;
    ngx_array_t                         nodes;
    ngx_http_teachfloor_spool_node_t   *node, **np;
    u_char                              path[NGX_MAX_PATH];

    /* leftovers of a crash, but not what another master's workers write */

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/tmp", &spool->path);
    *p = '\0';

    ntmp = 0;

    dname.data = path;
    dname.len = p - path;

    if (ngx_open_dir(&dname, &dir) == NGX_OK) {
        while (ngx_read_dir(&dir) == NGX_OK) {
            name = ngx_de_name(&dir);

            if (name[0] == '.') {
                continue;
            }

            p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/tmp/%s",
                             &spool->path, name);
            *p = '\0';

            if (ngx_de_info(path, &dir) == NGX_FILE_ERROR
                || ngx_time() - ngx_de_mtime(&dir) < NGX_HTTP_TF_SPOOL_STALE)
            {
                continue;
            }

            if (ngx_delete_file(path) == NGX_FILE_ERROR) {
                continue;
            }

            ntmp++;
        }

        ngx_close_dir(&dir);
    }

    if (ntmp) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "teachfloor spool \"%V\": removed %ui unfinished "
                      "writes from tmp/", &spool->name, ntmp);
    }

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/queue", &spool->path);
    *p = '\0';

    dname.data = path;
    dname.len = p - path;

    if (ngx_open_dir(&dname, &dir) != NGX_OK) {
        return;
    }

    if (ngx_array_init(&nodes, spool->cycle->pool, 64, sizeof(void *))
        != NGX_OK)
    {
        ngx_close_dir(&dir);
        return;
    }

    while (ngx_read_dir(&dir) == NGX_OK) {
        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        if (!ngx_http_teachfloor_spool_valid_name(name, len)) {
            continue;
        }

        p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/queue/%s",
                         &spool->path, name);
        *p = '\0';

        if (ngx_de_info(path, &dir) == NGX_FILE_ERROR
            || !ngx_de_is_file(&dir))
        {
            continue;
        }

        node = ngx_http_teachfloor_spool_node(spool, name, ngx_de_size(&dir));
        if (node == NULL) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "teachfloor spool \"%V\": the zone is too small "
                          "for the events in queue/: the rest are listed as "
                          "the zone frees room", &spool->name);
            break;
        }

        ngx_http_teachfloor_spool_read_state(spool, node);

        np = ngx_array_push(&nodes);
        if (np == NULL) {
            break;
        }

        *np = node;
    }

    ngx_close_dir(&dir);

    nnodes = nodes.nelts;
    np = nodes.elts;

    ngx_qsort(np, nnodes, sizeof(void *), ngx_http_teachfloor_spool_cmp);

    for (i = 0; i < nnodes; i++) {
        if (ngx_http_teachfloor_spool_index(spool, np[i]) != NGX_OK) {
            ngx_slab_free(spool->shpool, np[i]);
            continue;
        }

        spool->sh->bytes += np[i]->size;
    }

    if (nnodes) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "teachfloor spool \"%V\": %ui events wait in queue/",
                      &spool->name, nnodes);
    }
}


static int64_t
ngx_http_teachfloor_spool_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/* in due order, searched from the end: most events go last */

static void
ngx_http_teachfloor_spool_insert(ngx_http_teachfloor_spool_sh_t *sh,
    ngx_http_teachfloor_spool_node_t *node)
{
    ngx_queue_t                       *q;
    ngx_http_teachfloor_spool_node_t  *n;

    for (q = ngx_queue_last(&sh->due);
         q != ngx_queue_sentinel(&sh->due);
         q = ngx_queue_prev(q))
    {
        n = ngx_queue_data(q, ngx_http_teachfloor_spool_node_t, queue);

        if (n->due <= node->due) {
            break;
        }
    }

    ngx_queue_insert_after(q, &node->queue);
}


/*
 * With the zone locked: the node waits, unless an event of that name is
 * indexed already (a rescan found its file first); its bytes are the
 * caller's to count.
 */

static ngx_int_t
ngx_http_teachfloor_spool_index(ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node)
{
    uint32_t  hash;

    node->sn.str.len = NGX_HTTP_TF_SPOOL_NAME_LEN - 1;
    node->sn.str.data = node->name;

    hash = ngx_crc32_short(node->name, NGX_HTTP_TF_SPOOL_NAME_LEN - 1);

    if (ngx_str_rbtree_lookup(&spool->sh->names, &node->sn.str, hash)) {
        return NGX_DECLINED;
    }

    node->sn.node.key = hash;

    ngx_rbtree_insert(&spool->sh->names, &node->sn.node);
    ngx_http_teachfloor_spool_insert(spool->sh, node);
    spool->sh->events++;

    return NGX_OK;
}


/* another process of ours that is no more: its work falls to us */

static ngx_uint_t
ngx_http_teachfloor_spool_died(ngx_pid_t pid)
{
    return pid != ngx_pid && kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}


/* an event that will not be written after all gives back its room */

static void
ngx_http_teachfloor_spool_unreserve(ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_write_t *w)
{
    ngx_shmtx_lock(&spool->shpool->mutex);

    ngx_queue_remove(&w->node->queue);
    spool->sh->bytes -= w->node->size;
    ngx_slab_free_locked(spool->shpool, w->node);

    ngx_shmtx_unlock(&spool->shpool->mutex);

    w->node = NULL;
}


/* with the zone locked */

static void
ngx_http_teachfloor_spool_remove(ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node)
{
    ngx_http_teachfloor_spool_sh_t  *sh;

    sh = spool->sh;

    ngx_rbtree_delete(&sh->names, &node->sn.node);
    ngx_queue_remove(&node->queue);

    if (node->owner) {
        sh->in_flight--;
    }

    sh->events--;
    sh->bytes -= node->size;

    ngx_slab_free_locked(spool->shpool, node);
}


/*
 * Called by the gate with an accepted event: writes it to the spool and
 * answers 202 once it is durable, or 503 if it cannot be (Teachfloor then
 * tries again).  NGX_DONE: the answer comes later.
 */

ngx_int_t
ngx_http_teachfloor_spool_accept(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx)
{
    u_char                             *p;
    off_t                               body_len;
    int64_t                             now;
    ngx_chain_t                        *cl;
    ngx_http_teachfloor_spool_t        *spool;
    ngx_http_teachfloor_spool_sh_t     *sh;
    ngx_http_teachfloor_spool_write_t  *w;
    u_char                              name[NGX_HTTP_TF_SPOOL_NAME_LEN];
#if (NGX_THREADS)
    ngx_thread_task_t                  *task;
#endif

    spool = tlcf->spool;
    sh = spool->sh;

    body_len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        body_len += ngx_buf_size(cl->buf);
    }

    now = ngx_http_teachfloor_spool_now();

    p = ngx_sprintf(name, "%013xL-%08xD-%08xi", (uint64_t) now,
                    (uint32_t) ngx_pid, spool->seq++ & 0xffffffff);
    *p = '\0';

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_teachfloor_spool_write_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->spool = spool;
    w->r = r;
    w->body = r->request_body ? r->request_body->bufs : NULL;

    w->head = ngx_http_teachfloor_spool_head(r, ctx, body_len, now,
                                             &w->head_len);
    if (w->head == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a record that delivery could not read back is not taken */

    if (w->head_len > TF_SPOOL_HEAD_MAX) {
        (void) ngx_atomic_fetch_add(&sh->refused[NGX_HTTP_TF_REFUSED_ERROR],
                                    1);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "teachfloor spool \"%V\": the request's headers take "
                      "%uz bytes, more than a record holds (%d): answered "
                      "503", &spool->name, w->head_len, TF_SPOOL_HEAD_MAX);

        ngx_http_teachfloor_spool_answer(w);
        return NGX_DONE;
    }

    /* room in the index, and on disk as far as max_size says */

    ngx_shmtx_lock(&spool->shpool->mutex);

    if (spool->max_size
        && sh->bytes + (off_t) w->head_len + body_len > spool->max_size)
    {
        w->node = NULL;

    } else {
        w->node = ngx_slab_alloc_locked(spool->shpool,
                                    sizeof(ngx_http_teachfloor_spool_node_t));

        /*
         * Reserved now, so that concurrent writes do not overrun max_size;
         * in the writing list, so that the reservation of a worker killed
         * before its write ended is released by the others.
         */

        if (w->node) {
            ngx_memzero(w->node, sizeof(ngx_http_teachfloor_spool_node_t));
            ngx_memcpy(w->node->name, name, NGX_HTTP_TF_SPOOL_NAME_LEN);
            w->node->accepted = now;
            w->node->due = now;
            w->node->size = w->head_len + body_len;
            w->node->owner = ngx_pid;

            ngx_queue_insert_tail(&sh->writing, &w->node->queue);
            sh->bytes += w->node->size;
        }
    }

    ngx_shmtx_unlock(&spool->shpool->mutex);

    if (w->node == NULL) {
        (void) ngx_atomic_fetch_add(&sh->refused[NGX_HTTP_TF_REFUSED_FULL],
                                    1);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "teachfloor spool \"%V\" is full (%O bytes in %ui "
                      "events): answered 503, the sender will retry",
                      &spool->name, sh->bytes, sh->events);

        ngx_http_teachfloor_spool_answer(w);
        return NGX_DONE;
    }

    w->tmp = ngx_pnalloc(r->pool, 3 * (spool->path.len + 48));
    if (w->tmp == NULL) {
        ngx_http_teachfloor_spool_unreserve(spool, w);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->dst = ngx_sprintf(w->tmp, "%V/tmp/%s%Z", &spool->path, name);
    w->dir = ngx_sprintf(w->dst, "%V/queue/%s%Z", &spool->path, name);
    ngx_sprintf(w->dir, "%V/queue%Z", &spool->path);

#if (NGX_THREADS)
    if (spool->thread_pool) {
        task = ngx_thread_task_alloc(r->pool, 0);
        if (task == NULL) {
            ngx_http_teachfloor_spool_unreserve(spool, w);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        task->ctx = w;
        task->handler = ngx_http_teachfloor_spool_write;
        task->event.data = w;
        task->event.handler = ngx_http_teachfloor_spool_written;

        if (ngx_thread_task_post(spool->thread_pool, task) != NGX_OK) {
            w->err = 0;
            w->failed = "the thread pool's queue";
            ngx_http_teachfloor_spool_answer(w);
            return NGX_DONE;
        }

        r->main->blocked++;
        r->aio = 1;

        /*
         * A pending task holds no timer: without one, a worker told to
         * exit gracefully would not wait for the write and its answer.
         */

        w->guard.handler = ngx_http_teachfloor_spool_guard;
        w->guard.data = w;
        w->guard.log = r->connection->log;
        ngx_add_timer(&w->guard, 60000);

        return NGX_DONE;
    }
#endif

    /* no thread pool: the worker writes and waits */

    ngx_http_teachfloor_spool_write(w, r->connection->log);
    ngx_http_teachfloor_spool_answer(w);

    return NGX_DONE;
}


/* the record's head: what delivery needs besides the body */

static u_char *
ngx_http_teachfloor_spool_head(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, off_t body_len, int64_t accepted,
    size_t *len)
{
    u_char                           *head, *p;
    size_t                            size;
    ngx_str_t                         local;
    ngx_uint_t                        i, k;
    ngx_list_part_t                  *part;
    ngx_table_elt_t                  *h;
    ngx_str_t                        *matched;
    tf_envelope_t                    *env;
    ngx_http_variable_value_t        *v;
    ngx_http_teachfloor_secret_t     *secret;
    ngx_http_teachfloor_loc_conf_t   *tlcf;
    ngx_http_teachfloor_main_conf_t  *tmcf;
    u_char                            addr[NGX_SOCKADDR_STRLEN];
    tf_str_t                          fields[11];

    static const char  *keys[] = { "event", "id", "timestamp",
                                   "organization", "secret", "remote",
                                   "local", "uri", "args", "unparsed",
                                   "host" };

    env = &ctx->envelope;

    local.len = NGX_SOCKADDR_STRLEN;
    local.data = addr;

    if (ngx_connection_local_sockaddr(r->connection, &local, 1) != NGX_OK) {
        local.len = 0;
    }

    fields[0] = env->event;
    fields[1] = env->id;
    fields[2] = env->time;
    fields[3] = env->organization_id;
    /* the secret's name, if it has one: a record holds no secret */

    fields[4].data = NULL;
    fields[4].len = 0;

    if (ctx->secret) {
        tlcf = ngx_http_get_module_loc_conf(r, ngx_http_teachfloor_module);
        secret = (ngx_http_teachfloor_secret_t *) tlcf->secrets->elts
                 + ctx->secret - 1;

        if (secret->named) {
            fields[4].data = secret->label.data;
            fields[4].len = secret->label.len;
        }
    }

    fields[5].data = r->connection->addr_text.data;
    fields[5].len = r->connection->addr_text.len;
    fields[6].data = local.data;
    fields[6].len = local.len;
    /* as the location was found with, for its rewrite phase to run again */

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_teachfloor_module);
    v = &r->variables[tmcf->matched];
    matched = (v->valid && !v->not_found) ? (ngx_str_t *) v->data : NULL;

    fields[7].data = matched ? matched[0].data : r->uri.data;
    fields[7].len = matched ? matched[0].len : r->uri.len;
    fields[8].data = matched ? matched[1].data : r->args.data;
    fields[8].len = matched ? matched[1].len : r->args.len;
    /* as proxy_pass would take it: only while no rewrite changed it */
    fields[9].data = r->valid_unparsed_uri ? r->unparsed_uri.data : NULL;
    fields[9].len = r->valid_unparsed_uri ? r->unparsed_uri.len : 0;
    fields[10].data = r->headers_in.server.data;
    fields[10].len = r->headers_in.server.len;

    size = TF_SPOOL_FIRST_LEN
           + sizeof("accepted \n") - 1 + NGX_INT64_LEN
           + sizeof("body \n") - 1 + NGX_OFF_T_LEN
           + sizeof("test 0\n") - 1
           + sizeof("secret_no \n") - 1 + NGX_INT_T_LEN
           + 1 + 1;

    for (k = 0; k < 11; k++) {
        size += ngx_strlen(keys[k]) + 2
                + tf_spool_escaped_len(fields[k].data, fields[k].len);
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        size += h[i].key.len + 2 + h[i].value.len + 1;
    }

    head = ngx_pnalloc(r->pool, size);
    if (head == NULL) {
        return NULL;
    }

    p = head + TF_SPOOL_FIRST_LEN;

    p = ngx_sprintf(p, "accepted %L\nbody %O\ntest %d\nsecret_no %ui\n",
                    accepted, body_len, env->test ? 1 : 0, ctx->secret);

    for (k = 0; k < 11; k++) {
        p = ngx_sprintf(p, "%s ", keys[k]);
        p = tf_spool_escape(p, fields[k].data, fields[k].len);
        *p++ = '\n';
    }

    *p++ = '\n';

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        p = ngx_sprintf(p, "%V: %V\n", &h[i].key, &h[i].value);
    }

    *p++ = '\n';

    *len = p - head;

    ngx_sprintf(head, TF_SPOOL_MAGIC "%010uz\n", *len);

    return head;
}


/*
 * In a thread of the pool, or in the worker without one: the file is
 * written, synced, renamed into queue/ and the directory synced, so that
 * a 202 always means an event a crash cannot lose.
 */

static void
ngx_http_teachfloor_spool_write(void *data, ngx_log_t *log)
{
    ngx_http_teachfloor_spool_write_t  *w = data;

    int           fd, dfd;
    off_t         pos;
    size_t        size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    u_char        buf[16384];

    fd = open((char *) w->tmp, O_WRONLY|O_CREAT|O_EXCL, 0600);

    if (fd == -1) {
        w->err = ngx_errno;
        w->failed = "open()";
        return;
    }

    n = write(fd, w->head, w->head_len);

    if (n != (ssize_t) w->head_len) {
        goto failed;
    }

    for (cl = w->body; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            size = b->last - b->pos;

            if (size && write(fd, b->pos, size) != (ssize_t) size) {
                goto failed;
            }

            continue;
        }

        for (pos = b->file_pos; pos < b->file_last; pos += n) {
            size = ngx_min((off_t) sizeof(buf), b->file_last - pos);

            n = pread(b->file->fd, buf, size, pos);

            if (n <= 0) {
                w->err = (n == 0) ? 0 : ngx_errno;
                w->failed = "pread() of the request body";
                goto cleanup;
            }

            if (write(fd, buf, n) != n) {
                goto failed;
            }
        }
    }

    if (fsync(fd) == -1) {
        w->err = ngx_errno;
        w->failed = "fsync()";
        goto cleanup;
    }

    if (close(fd) == -1) {
        fd = -1;
        w->err = ngx_errno;
        w->failed = "close()";
        goto cleanup;
    }

    fd = -1;

    if (rename((char *) w->tmp, (char *) w->dst) == -1) {
        w->err = ngx_errno;
        w->failed = "rename()";
        goto cleanup;
    }

    dfd = open((char *) w->dir, O_RDONLY);

    if (dfd == -1 || fsync(dfd) == -1) {
        w->err = ngx_errno;
        w->failed = "fsync() of the queue directory";

        if (dfd != -1) {
            (void) close(dfd);
        }

        /* renamed, but not surely durable: never delivered, never 202 */

        (void) unlink((char *) w->dst);
        return;
    }

    (void) close(dfd);

    return;

failed:

    /* a short write is a full disk, as write() would say next */

    w->err = (ngx_errno == 0) ? NGX_ENOSPC : ngx_errno;
    w->failed = "write()";

cleanup:

    if (fd != -1) {
        (void) close(fd);
    }

    (void) unlink((char *) w->tmp);
}


#if (NGX_THREADS)

static void
ngx_http_teachfloor_spool_guard(ngx_event_t *ev)
{
    ngx_add_timer(ev, 60000);
}


static void
ngx_http_teachfloor_spool_written(ngx_event_t *ev)
{
    ngx_http_teachfloor_spool_write_t *w = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->r;
    c = r->connection;

    if (w->guard.timer_set) {
        ngx_del_timer(&w->guard);
    }

    r->main->blocked--;
    r->aio = 0;

    ngx_http_teachfloor_spool_answer(w);
    ngx_http_run_posted_requests(c);
}


#endif


/* the gate's answer, once the write is over */

static void
ngx_http_teachfloor_spool_answer(ngx_http_teachfloor_spool_write_t *w)
{
    ngx_int_t                        rc;
    ngx_http_request_t              *r;
    ngx_http_teachfloor_ctx_t       *ctx;
    ngx_http_teachfloor_spool_t     *spool;
    ngx_http_teachfloor_spool_sh_t  *sh;

    static ngx_str_t  queued = ngx_string("{\"result\":\"queued\"}\n");
    static ngx_str_t  unavailable =
                          ngx_string("{\"result\":\"spool_unavailable\"}\n");

    r = w->r;
    spool = w->spool;
    sh = spool->sh;
    ctx = ngx_http_get_module_ctx(r, ngx_http_teachfloor_module);

    if (w->node && w->failed == NULL) {
        ngx_shmtx_lock(&spool->shpool->mutex);

        ngx_queue_remove(&w->node->queue);
        w->node->owner = 0;

        if (ngx_http_teachfloor_spool_index(spool, w->node) != NGX_OK) {
            /* a rescan indexed it already, with its bytes */
            sh->bytes -= w->node->size;
            ngx_slab_free_locked(spool->shpool, w->node);
            w->node = NULL;
        }

        ngx_shmtx_unlock(&spool->shpool->mutex);

        (void) ngx_atomic_fetch_add(&sh->queued, 1);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "teachfloor spool \"%V\": queued %s",
                      &spool->name, w->dst + spool->path.len + 7);

        /* a retry of this event is a duplicate from now on */

        if (ctx) {
            ngx_http_teachfloor_dedupe_log(r, ctx, NGX_HTTP_ACCEPTED);
            ctx->settled = 1;
        }

        rc = ngx_http_teachfloor_send_json(r, NGX_HTTP_ACCEPTED, &queued);

        ngx_http_teachfloor_spool_claim(spool);

        ngx_http_finalize_request(r, rc);
        return;
    }

    if (w->node) {
        ngx_http_teachfloor_spool_unreserve(spool, w);

        (void) ngx_atomic_fetch_add(&sh->refused[NGX_HTTP_TF_REFUSED_ERROR],
                                    1);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, w->err,
                      "teachfloor spool \"%V\": %s failed for \"%s\": "
                      "answered 503, the sender will retry",
                      &spool->name, w->failed, w->tmp);
    }

    if (ctx) {
        ngx_http_teachfloor_dedupe_release(ctx);
        ctx->settled = 1;
    }

    rc = ngx_http_teachfloor_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       &unavailable);
    ngx_http_finalize_request(r, rc);
}


ngx_int_t
ngx_http_teachfloor_spool_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_teachfloor_spool_t     **spools;
    ngx_http_teachfloor_main_conf_t  *tmcf;

    /* not the cache manager and loader, which run this hook too */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_teachfloor_module);

    if (tmcf == NULL || tmcf->spools == NULL) {
        return NGX_OK;
    }

    spools = tmcf->spools->elts;

    for (i = 0; i < tmcf->spools->nelts; i++) {

        /* its events wait on disk for a location to deliver them again */

        if (spools[i]->ctx == NULL) {
            continue;
        }

        /* what a process of another generation queued is found soon */
        spools[i]->rescan = ngx_current_msec + 5000;

        spools[i]->timer.handler = ngx_http_teachfloor_spool_tick;
        spools[i]->timer.data = spools[i];
        spools[i]->timer.log = cycle->log;
        spools[i]->timer.cancelable = 1;

        ngx_add_timer(&spools[i]->timer, 10);
    }

    return NGX_OK;
}


static void
ngx_http_teachfloor_spool_tick(ngx_event_t *ev)
{
    ngx_queue_t                       *q, *next;
    ngx_http_teachfloor_spool_t       *spool;
    ngx_http_teachfloor_spool_node_t  *node;

    spool = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_teachfloor_spool_requeue(spool);

    /* a worker that died mid-delivery: its events wait again */

    ngx_shmtx_lock(&spool->shpool->mutex);

    for (q = ngx_queue_head(&spool->sh->busy);
         q != ngx_queue_sentinel(&spool->sh->busy);
         q = next)
    {
        next = ngx_queue_next(q);
        node = ngx_queue_data(q, ngx_http_teachfloor_spool_node_t, queue);

        if (!ngx_http_teachfloor_spool_died(node->owner)) {
            continue;
        }

        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "teachfloor spool \"%V\": process %P died delivering "
                      "%s: queued again", &spool->name, node->owner,
                      node->name);

        ngx_queue_remove(q);
        node->owner = 0;
        spool->sh->in_flight--;
        ngx_http_teachfloor_spool_insert(spool->sh, node);
    }

    /*
     * ... or died writing one: its room is given back; the file, if its
     * rename into queue/ was done, is found by the next rescan
     */

    for (q = ngx_queue_head(&spool->sh->writing);
         q != ngx_queue_sentinel(&spool->sh->writing);
         q = next)
    {
        next = ngx_queue_next(q);
        node = ngx_queue_data(q, ngx_http_teachfloor_spool_node_t, queue);

        if (!ngx_http_teachfloor_spool_died(node->owner)) {
            continue;
        }

        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "teachfloor spool \"%V\": process %P died writing "
                      "%s", &spool->name, node->owner, node->name);

        ngx_queue_remove(q);
        spool->sh->bytes -= node->size;
        ngx_slab_free_locked(spool->shpool, node);
    }

    ngx_shmtx_unlock(&spool->shpool->mutex);

    if ((ngx_msec_int_t) (ngx_current_msec - spool->rescan) >= 0) {
        ngx_http_teachfloor_spool_rescan(spool);
        spool->rescan = ngx_current_msec + 30000;
    }

    ngx_http_teachfloor_spool_claim(spool);

    ngx_add_timer(ev, NGX_HTTP_TF_SPOOL_TICK);
}


/*
 * Files in queue/ that the index does not list: queued by a process whose
 * zone is gone (the old master's workers of a binary upgrade, a reload
 * that changed the zone's size), or by a worker that exited before it
 * could list its event.  Those written in the last seconds are left to
 * their writer.
 */

static void
ngx_http_teachfloor_spool_rescan(ngx_http_teachfloor_spool_t *spool)
{
    u_char                            *p, *name;
    size_t                             len;
    uint32_t                           hash;
    ngx_str_t                          dname, key;
    ngx_dir_t                          dir;
    ngx_uint_t                         n;
    ngx_str_node_t                    *found;
    ngx_http_teachfloor_spool_node_t  *node;
    u_char                             path[NGX_MAX_PATH];

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/queue", &spool->path);
    *p = '\0';

    dname.data = path;
    dname.len = p - path;

    if (ngx_open_dir(&dname, &dir) != NGX_OK) {
        return;
    }

    n = 0;

    while (ngx_read_dir(&dir) == NGX_OK) {
        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        if (!ngx_http_teachfloor_spool_valid_name(name, len)) {
            continue;
        }

        key.data = name;
        key.len = len;
        hash = ngx_crc32_short(name, len);

        ngx_shmtx_lock(&spool->shpool->mutex);
        found = ngx_str_rbtree_lookup(&spool->sh->names, &key, hash);
        ngx_shmtx_unlock(&spool->shpool->mutex);

        if (found) {
            continue;
        }

        p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/queue/%s",
                         &spool->path, name);
        *p = '\0';

        if (ngx_de_info(path, &dir) == NGX_FILE_ERROR
            || !ngx_de_is_file(&dir)
            || ngx_time() - ngx_de_mtime(&dir) < 10)
        {
            continue;
        }

        node = ngx_http_teachfloor_spool_node(spool, name, ngx_de_size(&dir));
        if (node == NULL) {
            break;
        }

        ngx_http_teachfloor_spool_read_state(spool, node);

        ngx_shmtx_lock(&spool->shpool->mutex);

        if (ngx_http_teachfloor_spool_index(spool, node) == NGX_OK) {
            spool->sh->bytes += node->size;
            n++;

        } else {
            ngx_slab_free_locked(spool->shpool, node);
        }

        ngx_shmtx_unlock(&spool->shpool->mutex);
    }

    ngx_close_dir(&dir);

    if (n) {
        ngx_log_error(NGX_LOG_NOTICE, spool->timer.log, 0,
                      "teachfloor spool \"%V\": %ui events found in queue/ "
                      "that no process listed: queued", &spool->name, n);
    }
}


/* what the operator put in requeue/ goes to queue/ and the index */

static void
ngx_http_teachfloor_spool_requeue(ngx_http_teachfloor_spool_t *spool)
{
    u_char                            *p, *name;
    size_t                             len;
    ngx_str_t                          dname;
    ngx_dir_t                          dir;
    ngx_file_info_t                    fi;
    ngx_http_teachfloor_spool_node_t  *node;
    u_char                             from[NGX_MAX_PATH];
    u_char                             to[NGX_MAX_PATH];

    p = ngx_snprintf(from, NGX_MAX_PATH - 1, "%V/requeue", &spool->path);
    *p = '\0';

    dname.data = from;
    dname.len = p - from;

    if (ngx_open_dir(&dname, &dir) != NGX_OK) {
        return;
    }

    while (ngx_read_dir(&dir) == NGX_OK) {
        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        if (!ngx_http_teachfloor_spool_valid_name(name, len)) {
            continue;
        }

        p = ngx_snprintf(from, NGX_MAX_PATH - 1, "%V/requeue/%s",
                         &spool->path, name);
        *p = '\0';
        p = ngx_snprintf(to, NGX_MAX_PATH - 1, "%V/queue/%s", &spool->path,
                         name);
        *p = '\0';

        /*
         * A file still being copied in waits for the next tick.  A
         * symbolic or a second hard link is left alone: it would deliver
         * a file outside the spool, or one already queued, once more.
         */

        if (ngx_link_info(from, &fi) == NGX_FILE_ERROR
            || !ngx_is_file(&fi)
            || fi.st_nlink != 1
            || ngx_time() - ngx_file_mtime(&fi) < 2)
        {
            continue;
        }

        node = ngx_http_teachfloor_spool_node(spool, name,
                                              ngx_file_size(&fi));
        if (node == NULL) {
            break;
        }

        /* of several workers, the one whose rename succeeds adds it */

        if (ngx_rename_file(from, to) == NGX_FILE_ERROR) {
            ngx_slab_free(spool->shpool, node);
            continue;
        }

        /* a dead letter's state says why it died: it is no longer dead */

        p = ngx_snprintf(from, NGX_MAX_PATH - 1, "%V/dead/%s.state",
                         &spool->path, name);
        *p = '\0';

        (void) ngx_delete_file(from);

        node->due = ngx_http_teachfloor_spool_now();

        /*
         * A requeued event gets max_age again, counted from now, and kept
         * in its state file for a restart.
         */

        if (node->due - node->accepted >= (int64_t) spool->max_age * 1000) {
            node->accepted = node->due;

            ngx_http_teachfloor_spool_state(spool, "queue", node->name,
                                            node->accepted, 0, node->due,
                                            NULL, spool->timer.log);
        }

        ngx_shmtx_lock(&spool->shpool->mutex);

        if (ngx_http_teachfloor_spool_index(spool, node) == NGX_OK) {
            spool->sh->bytes += node->size;
            ngx_shmtx_unlock(&spool->shpool->mutex);

        } else {
            ngx_slab_free_locked(spool->shpool, node);
            ngx_shmtx_unlock(&spool->shpool->mutex);
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, spool->timer.log, 0,
                      "teachfloor spool \"%V\": %s requeued",
                      &spool->name, name);
    }

    ngx_close_dir(&dir);
}


/* due events, as many as the pace allows, for this worker to deliver */

static void
ngx_http_teachfloor_spool_claim(ngx_http_teachfloor_spool_t *spool)
{
    int64_t                            now;
    ngx_uint_t                         i, n;
    ngx_queue_t                       *q;
    ngx_http_teachfloor_spool_sh_t    *sh;
    ngx_http_teachfloor_spool_node_t  *node, *claimed[16];

    if (ngx_exiting || ngx_terminate || ngx_quit || spool->ctx == NULL) {
        return;
    }

    sh = spool->sh;

    do {
        now = ngx_http_teachfloor_spool_now();
        n = 0;

        ngx_shmtx_lock(&spool->shpool->mutex);

        while (n < 16 && sh->in_flight < spool->pace
               && !ngx_queue_empty(&sh->due))
        {
            q = ngx_queue_head(&sh->due);
            node = ngx_queue_data(q, ngx_http_teachfloor_spool_node_t, queue);

            if (node->due > now) {
                break;
            }

            ngx_queue_remove(q);
            ngx_queue_insert_tail(&sh->busy, q);
            node->owner = ngx_pid;
            sh->in_flight++;

            claimed[n++] = node;
        }

        ngx_shmtx_unlock(&spool->shpool->mutex);

        for (i = 0; i < n; i++) {
            if (ngx_http_teachfloor_spool_deliver(spool, claimed[i])
                != NGX_OK)
            {
                /* tried again at the next tick */
                continue;
            }
        }

    } while (n == 16);
}


static ngx_int_t
ngx_http_teachfloor_spool_deliver(ngx_http_teachfloor_spool_t *spool,
    ngx_http_teachfloor_spool_node_t *node)
{
    u_char                          *head;
    ngx_int_t                        rc;
    ngx_http_teachfloor_delivery_t  *d;

    d = ngx_calloc(sizeof(ngx_http_teachfloor_delivery_t), spool->timer.log);
    if (d == NULL) {
        goto later;
    }

    d->pool = ngx_create_pool(4096, spool->timer.log);
    if (d->pool == NULL) {
        ngx_free(d);
        goto later;
    }

    d->spool = spool;
    d->node = node;
    d->accepted = node->accepted;
    d->size = node->size;
    d->attempts = node->attempts;
    ngx_memcpy(d->name, node->name, NGX_HTTP_TF_SPOOL_NAME_LEN);
    d->file.fd = NGX_INVALID_FILE;
    d->log = *spool->timer.log;

    rc = ngx_http_teachfloor_spool_open(d, &head);

    if (rc == NGX_DECLINED) {
        /* delivered by another master's worker, or purged */

        ngx_log_error(NGX_LOG_WARN, spool->timer.log, 0,
                      "teachfloor spool \"%V\": %s is no longer in queue/ "
                      "(delivered by another process, or removed): dropped",
                      &spool->name, d->name);

        ngx_shmtx_lock(&spool->shpool->mutex);
        ngx_http_teachfloor_spool_remove(spool, node);
        ngx_shmtx_unlock(&spool->shpool->mutex);

        ngx_http_teachfloor_spool_free(d);
        return NGX_OK;
    }

    if (rc == NGX_BUSY) {
        ngx_http_teachfloor_spool_free(d);
        goto later;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_teachfloor_spool_request(d, head);

        if (rc == NGX_ERROR) {
            /* out of memory, say: tried again */
            ngx_http_teachfloor_spool_free(d);
            goto later;
        }
    }

    if (rc != NGX_OK) {
        /* an unreadable record never gets better: a dead letter at once */
        ngx_http_teachfloor_spool_settle(d, "the record cannot be read");
        ngx_http_teachfloor_spool_free(d);
        return NGX_OK;
    }

    ngx_http_run_posted_requests(&d->c);

    return NGX_OK;

later:

    ngx_shmtx_lock(&spool->shpool->mutex);

    ngx_queue_remove(&node->queue);
    node->owner = 0;
    node->due = ngx_http_teachfloor_spool_now() + NGX_HTTP_TF_SPOOL_TICK;
    spool->sh->in_flight--;
    ngx_http_teachfloor_spool_insert(spool->sh, node);

    ngx_shmtx_unlock(&spool->shpool->mutex);

    return NGX_ERROR;
}


static void
ngx_http_teachfloor_spool_close(void *data)
{
    ngx_http_teachfloor_delivery_t *d = data;

    /*
     * nginx closed the delivery's request itself (a subrequest it had to
     * terminate): a failed attempt, and the rest is freed later, as the
     * connection is still in use up the stack.
     */

    if (!d->freeing) {
        if (!d->settled && d->r) {
            d->status = 0;
            d->answered = 0;
            ngx_http_teachfloor_spool_settle(d, NULL);
        }

        d->pool = NULL;
        d->free_ev.handler = ngx_http_teachfloor_spool_release;
        d->free_ev.data = d;
        d->free_ev.log = d->spool->timer.log;

        ngx_post_event(&d->free_ev, &ngx_posted_events);
    }

    /* after the unlink or rename: the lock is let go of only now */

    if (d->file.fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(d->file.fd);
        d->file.fd = NGX_INVALID_FILE;
    }
}


/*
 * Opens and locks the event's file and reads its head.  NGX_DECLINED: the
 * file is gone; NGX_BUSY: another process delivers it.
 */

static ngx_int_t
ngx_http_teachfloor_spool_open(ngx_http_teachfloor_delivery_t *d,
    u_char **head)
{
    u_char              *p;
    size_t               len;
    ssize_t              n;
    const char          *error;
    ngx_file_info_t      fi, here;
    ngx_pool_cleanup_t  *cln;
    u_char               first[TF_SPOOL_FIRST_LEN];

    cln = ngx_pool_cleanup_add(d->pool, 0);
    if (cln == NULL) {
        return NGX_BUSY;
    }

    cln->handler = ngx_http_teachfloor_spool_close;
    cln->data = d;

    d->file.name.data = ngx_pnalloc(d->pool, d->spool->path.len + 48);
    if (d->file.name.data == NULL) {
        return NGX_BUSY;
    }

    p = ngx_sprintf(d->file.name.data, "%V/queue/%s%Z", &d->spool->path,
                    d->name);
    d->file.name.len = p - d->file.name.data - 1;
    d->file.log = d->spool->timer.log;

    /* no FIFO someone put there may hold the worker */

    d->file.fd = ngx_open_file(d->file.name.data,
                               NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                               NGX_FILE_OPEN, 0);

    if (d->file.fd == NGX_INVALID_FILE) {
        return (ngx_errno == NGX_ENOENT) ? NGX_DECLINED : NGX_BUSY;
    }

    if (ngx_fd_info(d->file.fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)) {
        return NGX_ERROR;
    }

    if (flock(d->file.fd, LOCK_EX|LOCK_NB) == -1) {
        return NGX_BUSY;
    }

    /*
     * Delivered and removed, or moved to dead/ by a process of another
     * generation, while this one opened it: the name no longer leads to
     * this file.
     */

    if (ngx_file_info(d->file.name.data, &here) == NGX_FILE_ERROR
        || ngx_file_uniq(&here) != ngx_file_uniq(&fi)
        || fi.st_nlink == 0)
    {
        return NGX_DECLINED;
    }

    n = pread(d->file.fd, first, TF_SPOOL_FIRST_LEN, 0);

    len = (n == (ssize_t) TF_SPOOL_FIRST_LEN)
          ? tf_spool_head_len(first, TF_SPOOL_FIRST_LEN) : 0;

    if (len == 0) {
        return NGX_ERROR;
    }

    *head = ngx_pnalloc(d->pool, len);
    if (*head == NULL) {
        return NGX_BUSY;
    }

    n = pread(d->file.fd, *head, len, 0);

    if (n != (ssize_t) len) {
        return NGX_ERROR;
    }

    if (tf_spool_head_parse(*head, len, &d->rec, &error) != 0) {
        ngx_log_error(NGX_LOG_ERR, d->file.log, 0,
                      "teachfloor spool \"%V\": %s is no record this "
                      "module can deliver: %s", &d->spool->name, d->name,
                      error);
        return NGX_ERROR;
    }

    if ((off_t) (len + d->rec.body_len) != ngx_file_size(&fi)) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A request of the worker's own, with no client, in the spool's location
 * (not one found anew: a reload may have given its URI to another): a
 * subrequest that starts at the location's rewrite phase, with the URI and
 * the regex captures the location was found with, so that "set", "if" and
 * "rewrite ... break" act as they did, then the location's content
 * handler, with the record's headers, body and $teachfloor_* values.
 * Subrequests skip the access phase, which the event passed when it came,
 * and the gate declines them as deliveries.
 */

static ngx_int_t
ngx_http_teachfloor_spool_request(ngx_http_teachfloor_delivery_t *d,
    u_char *head)
{
    u_char                     *p;
    ngx_buf_t                  *b;
    ngx_addr_t                  addr;
    ngx_chain_t                *cl;
    ngx_connection_t           *c;
    ngx_http_request_t         *r, *sr;
    ngx_http_request_body_t    *rb;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_int_t                   rc;
    ngx_time_t                 *tp;
    ngx_http_teachfloor_ctx_t  *ctx;

    c = &d->c;
    r = ngx_pcalloc(d->pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        return NGX_ERROR;
    }

    d->r = r;

    clcf = d->spool->ctx->loc_conf[ngx_http_core_module.ctx_index];
    cmcf = d->spool->ctx->main_conf[ngx_http_core_module.ctx_index];

    d->log = *clcf->error_log;
    d->log.connection = 0;
    d->log.data = &d->log_ctx;
    d->log.handler = ngx_http_teachfloor_spool_log_error;
    d->log.action = "delivering a spooled event";

    d->log_ctx.connection = c;
    d->log_ctx.request = r;
    d->log_ctx.current_request = r;

    d->file.log = &d->log;

    c->fd = (ngx_socket_t) -1;
    c->pool = d->pool;
    c->log = &d->log;
    c->read = &d->rev;
    c->write = &d->wev;
    c->data = r;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    d->log.connection = c->number;
    c->log_error = NGX_ERROR_INFO;
    c->start_time = ngx_current_msec;
    c->requests = 1;
    c->send_chain = ngx_http_teachfloor_spool_discard;
    c->send = ngx_http_teachfloor_spool_discard_send;

    d->rev.data = c;
    d->rev.log = &d->log;
    d->rev.handler = ngx_http_teachfloor_spool_idle;
    d->wev.data = c;
    d->wev.log = &d->log;
    d->wev.handler = ngx_http_teachfloor_spool_idle;

    /* never in the event loop: there is no socket to add to it */
    d->rev.active = 1;
    d->wev.active = 1;
    d->wev.ready = 1;

    /* the sender's address, for $remote_addr and X-Forwarded-For */

    if (d->rec.remote.len
        && ngx_parse_addr(d->pool, &addr, (u_char *) d->rec.remote.data,
                          d->rec.remote.len)
           == NGX_OK)
    {
        c->sockaddr = addr.sockaddr;
        c->socklen = addr.socklen;

    } else {
        if (ngx_parse_addr(d->pool, &addr, (u_char *) "0.0.0.0", 7)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        c->sockaddr = addr.sockaddr;
        c->socklen = addr.socklen;
    }

    c->addr_text.data = (u_char *) d->rec.remote.data;
    c->addr_text.len = d->rec.remote.len;

    if (d->rec.local.len
        && ngx_parse_addr_port(d->pool, &addr, (u_char *) d->rec.local.data,
                               d->rec.local.len)
           == NGX_OK)
    {
        c->local_sockaddr = addr.sockaddr;
        c->local_socklen = addr.socklen;

    } else {
        c->local_sockaddr = c->sockaddr;
        c->local_socklen = c->socklen;
    }

    r->signature = NGX_HTTP_MODULE;
    r->connection = c;
    r->pool = d->pool;
    r->main_conf = d->spool->ctx->main_conf;
    r->srv_conf = d->spool->ctx->srv_conf;
    r->loc_conf = d->spool->ctx->loc_conf;

    r->ctx = ngx_pcalloc(d->pool, sizeof(void *) * ngx_http_max_module);
    if (r->ctx == NULL) {
        return NGX_ERROR;
    }

    r->variables = ngx_pcalloc(d->pool, cmcf->variables.nelts
                                        * sizeof(ngx_http_variable_value_t));
    if (r->variables == NULL) {
        return NGX_ERROR;
    }

    if (ngx_list_init(&r->headers_out.headers, d->pool, 20,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.trailers, d->pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&r->headers_in.headers, d->pool, 20,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_in.content_length_n = d->rec.body_len;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    r->main = r;
    r->count = 1;
    r->method = NGX_HTTP_POST;
    ngx_str_set(&r->method_name, "POST");
    r->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&r->http_protocol, "HTTP/1.1");

    r->uri.data = (u_char *) d->rec.uri.data;
    r->uri.len = d->rec.uri.len;
    r->args.data = (u_char *) d->rec.args.data;
    r->args.len = d->rec.args.len;
    r->unparsed_uri.data = (u_char *) d->rec.unparsed.data;
    r->unparsed_uri.len = d->rec.unparsed.len;
    r->valid_unparsed_uri = (d->rec.unparsed.len != 0);

    /* proxy_pass with a URI replaces the location's part, as it did */
    r->valid_location = 1;

    r->request_line.data = ngx_pnalloc(d->pool, d->rec.unparsed.len
                                                + d->rec.uri.len + 16);
    if (r->request_line.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(r->request_line.data, "POST %V HTTP/1.1",
                    r->valid_unparsed_uri ? &r->unparsed_uri : &r->uri);
    r->request_line.len = p - r->request_line.data;

    tp = ngx_timeofday();
    r->start_sec = tp->sec;
    r->start_msec = tp->msec;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    r->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;
    r->internal = 1;
    r->logged = 1;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_teachfloor_spool_finish;
    r->phase_handler = cmcf->phase_engine.location_rewrite_index;
    r->content_handler = clcf->handler;

    /*
     * The location must still be the one the event was accepted in: a
     * reload may have renamed it, and proxy_pass replaces as much of the
     * URI as the location's name is long.
     */

#if (NGX_PCRE)
    if (clcf->regex) {
        rc = ngx_http_regex_exec(r, clcf->regex, &r->uri);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

    } else
#endif
    {
        rc = (r->uri.len == clcf->name.len
              || (r->uri.len > clcf->name.len && !clcf->exact_match))
             && ngx_filename_cmp(r->uri.data, clcf->name.data,
                                 clcf->name.len)
                == 0
             ? NGX_OK : NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                      "teachfloor spool \"%V\": the URI of %s, \"%V\", is "
                      "not one of the location \"%V\" (a reload changed "
                      "it?)", &d->spool->name, d->name, &r->uri, &clcf->name);
        return NGX_DECLINED;
    }

    /* no more than the location would take from a client */

    if (clcf->client_max_body_size
        && (off_t) d->rec.body_len > clcf->client_max_body_size)
    {
        ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                      "teachfloor spool \"%V\": the body of %s, %uL bytes, "
                      "is over client_max_body_size (%O)", &d->spool->name,
                      d->name, d->rec.body_len, clcf->client_max_body_size);
        return NGX_DECLINED;
    }

    /*
     * limit_req and limit_conn count clients: a delivery is paced by the
     * spool, so it passes them as the client's request already did.
     */
    r->limit_req_status = 1;
    r->limit_conn_status = 1;

    rc = ngx_http_teachfloor_spool_headers(d, r);

    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * The body, read into memory: sent with the request's head in one
     * write (from a file it would go in a second, which Nagle holds until
     * the app acknowledges the first: up to a delayed ACK, 40 ms), seen by
     * $request_body, and sent again whole if the upstream moves to its next
     * server, which rewinds a file buffer to the file's start, where the
     * record's head is.  A delivery holds at most the largest event nginx
     * takes (client_max_body_size), and the pace bounds how many run.
     */

    rb = ngx_pcalloc(d->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(d->pool);
    cl = ngx_alloc_chain_link(d->pool);

    if (rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    if (d->rec.body_len) {
        b->start = ngx_pnalloc(d->pool, (size_t) d->rec.body_len);
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        if (pread(d->file.fd, b->start, (size_t) d->rec.body_len,
                  (off_t) d->rec.head_len)
            != (ssize_t) d->rec.body_len)
        {
            return NGX_DECLINED;
        }

        b->pos = b->start;
        b->last = b->start + d->rec.body_len;
        b->end = b->last;
        b->memory = 1;
    }

    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    r->request_body = rb;

    /* what $teachfloor_* read, as when the event was accepted */

    ctx = ngx_pcalloc(d->pool, sizeof(ngx_http_teachfloor_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->result = NGX_HTTP_TF_ACCEPTED;
    ctx->status = NGX_DECLINED;
    ctx->verified = 1;
    ctx->settled = 1;
    ctx->delivery = 1;
    ctx->secret = d->rec.secret_no ? d->rec.secret_no : 1;
    ctx->envelope.event = d->rec.event;
    ctx->envelope.id = d->rec.id;
    ctx->envelope.time = d->rec.timestamp;
    ctx->envelope.organization_id = d->rec.organization;
    ctx->envelope.test = d->rec.test ? 1 : 0;

    if (d->rec.secret.len) {
        d->secret_label.data = (u_char *) d->rec.secret.data;
        d->secret_label.len = d->rec.secret.len;
        ctx->secret_label = &d->secret_label;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_teachfloor_module);

    d->ps.handler = ngx_http_teachfloor_spool_done;
    d->ps.data = d;

    if (ngx_http_subrequest(r, &r->uri, &r->args, &sr, &d->ps,
                            NGX_HTTP_SUBREQUEST_CLONE)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the record's headers, through nginx's own handlers for the known ones */

static ngx_int_t
ngx_http_teachfloor_spool_headers(ngx_http_teachfloor_delivery_t *d,
    ngx_http_request_t *r)
{
    tf_str_t                    name, value;
    const u_char               *pos, *last;
    ngx_table_elt_t            *h;
    ngx_http_header_t          *hh;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = d->spool->ctx->main_conf[ngx_http_core_module.ctx_index];

    /* $host as nginx made it of the client's Host: checked, lowercase */

    r->headers_in.server.data = (u_char *) d->rec.host.data;
    r->headers_in.server.len = d->rec.host.len;

    pos = d->rec.headers;
    last = d->rec.headers + d->rec.headers_len;

    while (tf_spool_header_next(&pos, last, &name, &value)) {

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->key.data = (u_char *) name.data;
        h->key.len = name.len;
        h->value.data = (u_char *) value.data;
        h->value.len = value.len;

        /* in place of the line's end: nginx's header handlers expect it */
        h->value.data[h->value.len] = '\0';
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        h->lowcase_key = ngx_pnalloc(d->pool, name.len);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);

        /*
         * The Host handler would look the name up among the virtual
         * servers of a connection this request does not have: the server
         * is known already, and so is the name.
         */

        if (h->key.len == 4
            && ngx_strncmp(h->lowcase_key, "host", 4) == 0)
        {
            if (r->headers_in.host == NULL) {
                r->headers_in.host = h;
            }

            continue;
        }

        hh = ngx_hash_find(&cmcf->headers_in_hash, h->hash, h->lowcase_key,
                           h->key.len);

        if (hh == NULL) {
            continue;
        }

        /*
         * nginx answers 400 to a second one of these: its handler would
         * finalize this request, which has no client to answer
         */

        if (ngx_http_teachfloor_spool_once(h)
            && *(ngx_table_elt_t **) ((char *) &r->headers_in + hh->offset))
        {
            ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                          "teachfloor spool \"%V\": %s has two \"%V\" "
                          "headers, which nginx takes once",
                          &d->spool->name, d->name, &h->key);
            return NGX_DECLINED;
        }

        if (hh->handler(r, h, hh->offset) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the headers nginx refuses twice (ngx_http_process_unique_header_line) */

static ngx_uint_t
ngx_http_teachfloor_spool_once(ngx_table_elt_t *h)
{
    ngx_str_t  *name;

    static ngx_str_t  names[] = {
        ngx_string("if-modified-since"),
        ngx_string("if-unmodified-since"),
        ngx_string("if-match"),
        ngx_string("if-none-match"),
        ngx_string("content-length"),
        ngx_string("content-range"),
        ngx_string("if-range"),
        ngx_string("transfer-encoding"),
        ngx_string("expect"),
        ngx_string("authorization"),
        ngx_string("proxy-authorization"),
        ngx_null_string
    };

    for (name = names; name->len; name++) {
        if (name->len == h->key.len
            && ngx_strncmp(name->data, h->lowcase_key, h->key.len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the subrequest's end: its status is what the app answered, if it did */

static ngx_int_t
ngx_http_teachfloor_spool_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_teachfloor_delivery_t *d = data;

    ngx_http_upstream_t  *u;

    if (rc == NGX_AGAIN) {
        return rc;
    }

    u = r->upstream;

    /*
     * The app's own status, also when proxy_intercept_errors took it over;
     * a status nginx made up for a refused connection or a timeout is no
     * answer.  A content handler other than an upstream answers itself.
     */

    if (u && u->state && u->state->status
        && u->state->header_time != (ngx_msec_t) -1)
    {
        d->status = u->state->status;
        d->answered = 1;

    } else if (u == NULL && r->headers_out.status) {
        d->status = r->headers_out.status;
        d->answered = 1;

    } else if (!d->answered) {
        d->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc : 0;
    }

    /* no error_page for it: there is no client to show one to */

    return (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) ? NGX_OK : rc;
}


/* the fake main request is woken when its subrequest is done */

static void
ngx_http_teachfloor_spool_finish(ngx_http_request_t *r)
{
    ngx_http_teachfloor_delivery_t  *d;

    d = (ngx_http_teachfloor_delivery_t *)
        ((u_char *) r->connection - offsetof(ngx_http_teachfloor_delivery_t, c));

    if (r->postponed || d->settled) {
        return;
    }

    ngx_http_teachfloor_spool_settle(d, NULL);

    /* freed once the handlers on this connection's stack have returned */

    d->free_ev.handler = ngx_http_teachfloor_spool_release;
    d->free_ev.data = d;
    d->free_ev.log = d->spool->timer.log;

    ngx_post_event(&d->free_ev, &ngx_posted_events);
}


/*
 * The fake connection's events: nginx may have set a timer on one (the
 * send timeout of a subrequest that waited for its own, say) or posted it;
 * neither may outlive the memory they are in.
 */

static void
ngx_http_teachfloor_spool_forget(ngx_http_teachfloor_delivery_t *d)
{
    if (d->rev.timer_set) {
        ngx_del_timer(&d->rev);
    }

    if (d->wev.timer_set) {
        ngx_del_timer(&d->wev);
    }

    if (d->rev.posted) {
        ngx_delete_posted_event(&d->rev);
    }

    if (d->wev.posted) {
        ngx_delete_posted_event(&d->wev);
    }
}


static void
ngx_http_teachfloor_spool_idle(ngx_event_t *ev)
{
    /* no socket: nothing to read or write */
}


static void
ngx_http_teachfloor_spool_release(ngx_event_t *ev)
{
    ngx_http_teachfloor_spool_t     *spool;
    ngx_http_teachfloor_delivery_t  *d;

    d = ev->data;
    spool = d->spool;

    if (d->pool) {
        ngx_http_teachfloor_spool_free(d);

    } else {
        ngx_http_teachfloor_spool_forget(d);
        ngx_free(d);
    }

    ngx_http_teachfloor_spool_claim(spool);
}


static void
ngx_http_teachfloor_spool_free(ngx_http_teachfloor_delivery_t *d)
{
    ngx_http_cleanup_t  *cln;

    d->freeing = 1;

    ngx_http_teachfloor_spool_forget(d);

    if (d->r) {
        for (cln = d->r->cleanup; cln; cln = cln->next) {
            if (cln->handler) {
                cln->handler(cln->data);
            }
        }
    }

    /* closes the file, and so lets go of its lock */

    ngx_destroy_pool(d->pool);
    ngx_free(d);
}


/*
 * Removes a delivered event's files and closes it, which lets go of its
 * lock only after the removal.  In the thread pool when there is one:
 * freeing a file's blocks may wait on the disk (a file system mounted with
 * "discard" does so in close()).
 */

typedef struct {
    ngx_fd_t                      fd;
    ngx_log_t                    *log;
    u_char                        path[NGX_MAX_PATH];
} ngx_http_teachfloor_spool_unlink_t;


static void
ngx_http_teachfloor_spool_remove_files(void *data, ngx_log_t *log)
{
    ngx_http_teachfloor_spool_unlink_t *u = data;

    size_t  len;

    if (ngx_delete_file(u->path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_delete_file_n " \"%s\" failed: it may be "
                      "delivered again", u->path);
    }

    len = ngx_strlen(u->path);
    ngx_memcpy(u->path + len, ".state", sizeof(".state"));

    (void) ngx_delete_file(u->path);

    if (u->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(u->fd);
    }
}


#if (NGX_THREADS)

static void
ngx_http_teachfloor_spool_removed(ngx_event_t *ev)
{
    ngx_free(ev->data);
}

#endif


static void
ngx_http_teachfloor_spool_unlink(ngx_http_teachfloor_delivery_t *d)
{
    u_char                              *p;
    ngx_http_teachfloor_spool_unlink_t  *u;
#if (NGX_THREADS)
    ngx_thread_task_t                   *task;

    if (d->spool->thread_pool) {
        task = ngx_calloc(sizeof(ngx_thread_task_t)
                          + sizeof(ngx_http_teachfloor_spool_unlink_t),
                          &d->log);

        if (task) {
            u = (ngx_http_teachfloor_spool_unlink_t *) (task + 1);
            u->fd = d->file.fd;

            p = ngx_snprintf(u->path, NGX_MAX_PATH - sizeof(".state"),
                             "%V/queue/%s", &d->spool->path, d->name);
            *p = '\0';

            task->ctx = u;
            task->handler = ngx_http_teachfloor_spool_remove_files;
            task->event.data = task;
            task->event.handler = ngx_http_teachfloor_spool_removed;
            task->event.log = d->spool->timer.log;

            if (ngx_thread_task_post(d->spool->thread_pool, task) == NGX_OK) {
                /* the thread closes it */
                d->file.fd = NGX_INVALID_FILE;
                return;
            }

            ngx_free(task);
        }
    }
#endif

    u = ngx_palloc(d->pool, sizeof(ngx_http_teachfloor_spool_unlink_t));
    if (u == NULL) {
        return;
    }

    p = ngx_snprintf(u->path, NGX_MAX_PATH - sizeof(".state"),
                     "%V/queue/%s", &d->spool->path, d->name);
    *p = '\0';

    /* closed with the pool */
    u->fd = NGX_INVALID_FILE;

    ngx_http_teachfloor_spool_remove_files(u, &d->log);
}


/*
 * A 2xx removes the event; anything else schedules the next attempt, or,
 * once the event is max_age old, moves it to dead/.
 */

static void
ngx_http_teachfloor_spool_settle(ngx_http_teachfloor_delivery_t *d,
    const char *error)
{
    u_char                            *p;
    int64_t                            now, due, deadline;
    ngx_uint_t                         attempts, reason;
    ngx_http_teachfloor_spool_t       *spool;
    ngx_http_teachfloor_spool_sh_t    *sh;
    ngx_http_teachfloor_spool_node_t  *node;
    u_char                             path[NGX_MAX_PATH];
    u_char                             to[NGX_MAX_PATH];
    u_char                             why[64];
    u_char                             what[512];

    d->settled = 1;
    d->log.action = "settling a spooled event's delivery";

    spool = d->spool;
    sh = spool->sh;
    node = d->node;
    now = ngx_http_teachfloor_spool_now();

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/queue/%s", &spool->path,
                     d->name);
    *p = '\0';

    if (error == NULL && d->status >= 200 && d->status < 300) {

        ngx_http_teachfloor_spool_unlink(d);

        ngx_shmtx_lock(&spool->shpool->mutex);
        ngx_http_teachfloor_spool_remove(spool, node);
        ngx_shmtx_unlock(&spool->shpool->mutex);

        (void) ngx_atomic_fetch_add(&sh->delivered, 1);
        (void) ngx_atomic_fetch_add(&sh->latency_ms,
                                    (ngx_atomic_int_t) (now - d->accepted));

        ngx_log_error(NGX_LOG_INFO, &d->log, 0,
                      "teachfloor spool \"%V\": delivered %s, status %ui, "
                      "attempt %ui", &spool->name, d->name, d->status,
                      d->attempts + 1);
        return;
    }

    if (error == NULL) {
        if (d->answered) {
            p = ngx_snprintf(why, sizeof(why) - 1, "status %ui", d->status);
            reason = NGX_HTTP_TF_RETRY_STATUS;

        } else {
            p = ngx_snprintf(why, sizeof(why) - 1, "no answer (%ui)",
                             d->status);
            reason = NGX_HTTP_TF_RETRY_UNREACHABLE;
        }

        *p = '\0';
        error = (const char *) why;

    } else {
        reason = NGX_HTTP_TF_RETRY_NONE;
    }

    attempts = d->attempts + 1;
    deadline = d->accepted + (int64_t) spool->max_age * 1000;

    if (now >= deadline || reason == NGX_HTTP_TF_RETRY_NONE) {
        p = ngx_snprintf(to, NGX_MAX_PATH - 1, "%V/dead/%s", &spool->path,
                         d->name);
        *p = '\0';

        if (ngx_rename_file(path, to) != NGX_FILE_ERROR) {
            ngx_http_teachfloor_spool_state(spool, "dead", d->name,
                                            d->accepted, attempts, 0, error,
                                            &d->log);

            p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/queue/%s.state",
                             &spool->path, d->name);
            *p = '\0';

            (void) ngx_delete_file(path);

            ngx_shmtx_lock(&spool->shpool->mutex);
            ngx_http_teachfloor_spool_remove(spool, node);
            ngx_shmtx_unlock(&spool->shpool->mutex);

            (void) ngx_atomic_fetch_add(&sh->dead, 1);

            /* the event's own strings escaped: one line, as written */

            p = ngx_cpymem(what, "event \"", 7);
            p = tf_event_name_escape(p, what + 200, d->rec.event.data,
                                     ngx_min(d->rec.event.len, 64));
            p = ngx_cpymem(p, "\", id \"", 7);
            p = tf_event_name_escape(p, what + 400, d->rec.id.data,
                                     ngx_min(d->rec.id.len, 64));
            *p++ = '"';

            ngx_log_error(NGX_LOG_ERR, &d->log, 0,
                          "teachfloor spool \"%V\": gave up on %s (%*s) "
                          "after %ui attempts in %T s, the last: %s; moved "
                          "to dead/", &spool->name, d->name, p - what, what,
                          attempts, (time_t) ((now - d->accepted) / 1000),
                          error);
            return;
        }

        /* kept, and tried again: a dead letter that is nowhere is lost */

        ngx_log_error(NGX_LOG_ALERT, &d->log, ngx_errno,
                      ngx_rename_file_n " \"%s\" to \"%s\" failed: the event "
                      "stays queued", path, to);

        deadline = now + spool->retries[spool->nretries - 1];
    }

    due = now + spool->retries[ngx_min(attempts, spool->nretries) - 1];

    if (due > deadline) {
        due = deadline;
    }

    ngx_http_teachfloor_spool_state(spool, "queue", d->name, d->accepted,
                                    attempts, due, error, &d->log);

    ngx_shmtx_lock(&spool->shpool->mutex);

    ngx_queue_remove(&node->queue);
    node->owner = 0;
    node->attempts = attempts;
    node->due = due;
    sh->in_flight--;
    ngx_http_teachfloor_spool_insert(sh, node);

    ngx_shmtx_unlock(&spool->shpool->mutex);

    if (reason != NGX_HTTP_TF_RETRY_NONE) {
        (void) ngx_atomic_fetch_add(&sh->retried[reason], 1);
    }

    ngx_log_error(NGX_LOG_WARN, &d->log, 0,
                  "teachfloor spool \"%V\": delivery of %s failed: %s; "
                  "attempt %ui, the next in %M ms", &spool->name, d->name,
                  error, attempts, (ngx_msec_t) (due - now));
}


/* small and rewritten, never synced: losing it costs only a count */

static void
ngx_http_teachfloor_spool_state(ngx_http_teachfloor_spool_t *spool,
    const char *dir, u_char *name, int64_t accepted, ngx_uint_t attempts,
    int64_t due, const char *error, ngx_log_t *log)
{
    u_char    *p;
    ngx_fd_t   fd;
    u_char     path[NGX_MAX_PATH];
    u_char     state[256];

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/%s/%s.state", &spool->path,
                     dir, name);
    *p = '\0';

    /* "accepted": a requeued event's max_age counts from its requeue */

    p = ngx_snprintf(state, sizeof(state), "attempts %ui\nnext %L\n"
                     "last %L\naccepted %L\nerror %s\n", attempts, due,
                     ngx_http_teachfloor_spool_now(), accepted,
                     error ? error : "");

    fd = ngx_open_file(path, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", path);
        return;
    }

    if (write(fd, state, p - state) != p - state) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "write() to \"%s\" failed", path);
    }

    (void) ngx_close_file(fd);
}


/* what the app answers goes nowhere: its status has been taken */

static ngx_chain_t *
ngx_http_teachfloor_spool_discard(ngx_connection_t *c, ngx_chain_t *in,
    off_t limit)
{
    ngx_buf_t  *b;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (ngx_buf_in_memory(b)) {
            c->sent += b->last - b->pos;
            b->pos = b->last;
        }

        if (b->in_file) {
            c->sent += b->file_last - b->file_pos;
            b->file_pos = b->file_last;
        }
    }

    return NULL;
}


static ssize_t
ngx_http_teachfloor_spool_discard_send(ngx_connection_t *c, u_char *buf,
    size_t size)
{
    c->sent += size;
    return size;
}


static u_char *
ngx_http_teachfloor_spool_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                          *p;
    ngx_http_log_ctx_t              *ctx;
    ngx_http_teachfloor_delivery_t  *d;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(p, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    ctx = log->data;
    d = (ngx_http_teachfloor_delivery_t *)
        ((u_char *) ctx - offsetof(ngx_http_teachfloor_delivery_t, log_ctx));

    p = ngx_snprintf(p, len, ", spool \"%V\", record %s", &d->spool->name,
                     d->name);

    if (ctx->current_request && ctx->current_request->upstream
        && ctx->current_request->upstream->peer.name)
    {
        len -= p - buf;
        p = ngx_snprintf(p, len, ", upstream: \"%V\"",
                         ctx->current_request->upstream->peer.name);
    }

    return p;
}


/* the spool's series for /metrics */

size_t
ngx_http_teachfloor_spool_metrics_size(void)
{
    ngx_http_teachfloor_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_teachfloor_module);

    if (tmcf == NULL || tmcf->spools == NULL) {
        return 0;
    }

    return 4096 + tmcf->spools->nelts * 2048;
}


u_char *
ngx_http_teachfloor_spool_metrics(u_char *p, u_char *last)
{
    int64_t                            now, oldest;
    ngx_uint_t                         i, k, events, in_flight;
    off_t                              bytes;
    ngx_queue_t                       *q, *qs[2];
    ngx_http_teachfloor_spool_t      **spools, *s;
    ngx_http_teachfloor_spool_sh_t    *sh;
    ngx_http_teachfloor_spool_node_t  *node;
    ngx_http_teachfloor_main_conf_t   *tmcf;

    static const char  *series[] = {
        "# HELP teachfloor_spool_queued_total Events written to the spool "
        "and answered 202.\n# TYPE teachfloor_spool_queued_total counter\n",
        "# HELP teachfloor_spool_delivered_total Spooled events the app "
        "answered with a 2xx.\n"
        "# TYPE teachfloor_spool_delivered_total counter\n",
        "# HELP teachfloor_spool_retries_total Failed deliveries tried "
        "again, by reason.\n# TYPE teachfloor_spool_retries_total counter\n",
        "# HELP teachfloor_spool_dead_letters_total Events moved to dead/ "
        "after max_age.\n"
        "# TYPE teachfloor_spool_dead_letters_total counter\n",
        "# HELP teachfloor_spool_refused_total Accepted events answered 503 "
        "because the spool could not store them, by reason.\n"
        "# TYPE teachfloor_spool_refused_total counter\n",
        "# HELP teachfloor_spool_events Events waiting or being delivered.\n"
        "# TYPE teachfloor_spool_events gauge\n",
        "# HELP teachfloor_spool_bytes Bytes of the events in the spool.\n"
        "# TYPE teachfloor_spool_bytes gauge\n",
        "# HELP teachfloor_spool_in_flight Deliveries under way.\n"
        "# TYPE teachfloor_spool_in_flight gauge\n",
        "# HELP teachfloor_spool_oldest_age_seconds Age of the oldest event "
        "in the spool.\n# TYPE teachfloor_spool_oldest_age_seconds gauge\n",
        "# HELP teachfloor_spool_delivery_seconds Time from acceptance to "
        "delivery of delivered events.\n"
        "# TYPE teachfloor_spool_delivery_seconds summary\n"
    };

    tmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_teachfloor_module);

    if (tmcf == NULL || tmcf->spools == NULL) {
        return p;
    }

    spools = tmcf->spools->elts;
    now = ngx_http_teachfloor_spool_now();

    for (k = 0; k < sizeof(series) / sizeof(series[0]); k++) {

        p = ngx_slprintf(p, last, "%s", series[k]);

        for (i = 0; i < tmcf->spools->nelts; i++) {
            s = spools[i];
            sh = s->sh;

            if (sh == NULL) {
                continue;
            }

            switch (k) {

            case 0:
                p = ngx_slprintf(p, last, "teachfloor_spool_queued_total"
                                 "{zone=\"%V\"} %uA\n", &s->name, sh->queued);
                break;

            case 1:
                p = ngx_slprintf(p, last, "teachfloor_spool_delivered_total"
                                 "{zone=\"%V\"} %uA\n", &s->name,
                                 sh->delivered);
                break;

            case 2:
                p = ngx_slprintf(p, last, "teachfloor_spool_retries_total"
                                 "{zone=\"%V\",reason=\"status\"} %uA\n"
                                 "teachfloor_spool_retries_total"
                                 "{zone=\"%V\",reason=\"unreachable\"} %uA\n",
                                 &s->name, sh->retried[0], &s->name,
                                 sh->retried[1]);
                break;

            case 3:
                p = ngx_slprintf(p, last, "teachfloor_spool_dead_letters_total"
                                 "{zone=\"%V\"} %uA\n", &s->name, sh->dead);
                break;

            case 4:
                p = ngx_slprintf(p, last, "teachfloor_spool_refused_total"
                                 "{zone=\"%V\",reason=\"full\"} %uA\n"
                                 "teachfloor_spool_refused_total"
                                 "{zone=\"%V\",reason=\"error\"} %uA\n",
                                 &s->name, sh->refused[0], &s->name,
                                 sh->refused[1]);
                break;

            case 8:
                oldest = now;

                ngx_shmtx_lock(&s->shpool->mutex);

                qs[0] = &sh->due;
                qs[1] = &sh->busy;

                for (events = 0; events < 2; events++) {
                    for (q = ngx_queue_head(qs[events]);
                         q != ngx_queue_sentinel(qs[events]);
                         q = ngx_queue_next(q))
                    {
                        node = ngx_queue_data(q,
                                              ngx_http_teachfloor_spool_node_t,
                                              queue);
                        if (node->accepted < oldest) {
                            oldest = node->accepted;
                        }
                    }
                }

                ngx_shmtx_unlock(&s->shpool->mutex);

                p = ngx_slprintf(p, last,
                                 "teachfloor_spool_oldest_age_seconds"
                                 "{zone=\"%V\"} %L.%03L\n", &s->name,
                                 (now - oldest) / 1000, (now - oldest) % 1000);
                break;

            case 9:
                p = ngx_slprintf(p, last, "teachfloor_spool_delivery_seconds_sum"
                                 "{zone=\"%V\"} %uA.%03uA\n"
                                 "teachfloor_spool_delivery_seconds_count"
                                 "{zone=\"%V\"} %uA\n", &s->name,
                                 sh->latency_ms / 1000, sh->latency_ms % 1000,
                                 &s->name, sh->delivered);
                break;

            default:
                ngx_shmtx_lock(&s->shpool->mutex);
                events = sh->events;
                bytes = sh->bytes;
                in_flight = sh->in_flight;
                ngx_shmtx_unlock(&s->shpool->mutex);

                if (k == 5) {
                    p = ngx_slprintf(p, last, "teachfloor_spool_events"
                                     "{zone=\"%V\"} %ui\n", &s->name, events);

                } else if (k == 6) {
                    p = ngx_slprintf(p, last, "teachfloor_spool_bytes"
                                     "{zone=\"%V\"} %O\n", &s->name, bytes);

                } else {
                    p = ngx_slprintf(p, last, "teachfloor_spool_in_flight"
                                     "{zone=\"%V\"} %ui\n", &s->name,
                                     in_flight);
                }
            }
        }
    }

    return p;
}
