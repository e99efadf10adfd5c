
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Per-source rate limits for verified, wanted events: a leaky bucket per
 * key in a shared zone, with the meaning limit_req gives to burst, nodelay
 * and delay.  limit_req itself cannot do this: it runs before the body is
 * read, so it cannot key on the tenant inside a verified event.
 */


#include "ngx_http_teachfloor_module.h"


/* Teachfloor gives up on an attempt after 3 s */
#define NGX_HTTP_TF_DELIVERY_TIMEOUT  3000


/* the keys of up to this many limits are kept on the stack */
#define NGX_HTTP_TF_LOCAL_KEYS  4

/*
 * Rates are kept in thousandths of a request per minute, so that any
 * whole "r/m" rate is exact; bounded, with burst and delay, so that no
 * product below can overflow.
 */
#define NGX_HTTP_TF_MAX_RATE    1000000     /* r/s */
#define NGX_HTTP_TF_MAX_BURST   1000000
#define NGX_HTTP_TF_MINUTE      60000       /* ms */


typedef struct {
    u_char                          color;
    u_char                          dummy;
    u_short                         len;
    ngx_queue_t                     queue;
    ngx_msec_t                      last;
    /* in thousandths of a request, as the rate */
    ngx_uint_t                      excess;
    u_char                          data[1];
} ngx_http_teachfloor_limit_node_t;


typedef struct {
    ngx_http_teachfloor_shm_t           shm;        /* first */
    /* thousandths of a request per minute */
    uint64_t                            rate;
    ngx_http_complex_value_t            key;
    /* a key that is one variable is read without a copy */
    ngx_int_t                           index;
    ngx_shm_zone_t                     *shm_zone;
} ngx_http_teachfloor_limit_zone_t;



struct ngx_http_teachfloor_limit_s {
    ngx_shm_zone_t                 *shm_zone;
    /* thousandths of a request */
    ngx_uint_t                      burst;
    ngx_uint_t                      delay;
    ngx_str_t                       file;       /* where it is set */
    ngx_uint_t                      line;
    unsigned                        checked:1;
};


static ngx_int_t ngx_http_teachfloor_limit_key_index(ngx_conf_t *cf,
    ngx_str_t *key);
static ngx_int_t ngx_http_teachfloor_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_teachfloor_limit_rbtree_insert_value(
    ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_teachfloor_limit_lookup(
    ngx_http_teachfloor_limit_t *limit, ngx_str_t *key, ngx_uint_t account,
    ngx_int_t *excess, ngx_log_t *log);
static ngx_http_teachfloor_limit_node_t *ngx_http_teachfloor_limit_find(
    ngx_http_teachfloor_limit_zone_t *zone, ngx_str_t *key, uint32_t hash);
static void ngx_http_teachfloor_limit_refused(ngx_http_teachfloor_ctx_t *ctx,
    ngx_http_teachfloor_limit_t *limit, ngx_str_t *key, ngx_int_t excess);
static ngx_uint_t ngx_http_teachfloor_limit_leak(
    ngx_http_teachfloor_limit_zone_t *zone, ngx_msec_int_t ms, ngx_uint_t max);
static ngx_msec_t ngx_http_teachfloor_limit_delay(
    ngx_http_teachfloor_limit_zone_t *zone, ngx_uint_t excess);
static void ngx_http_teachfloor_limit_expire(
    ngx_http_teachfloor_limit_zone_t *zone, ngx_uint_t force);


char *
ngx_http_teachfloor_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                            *p;
    size_t                             len;
    ssize_t                            size;
    ngx_str_t                         *value, name;
    ngx_int_t                          rate, scale;
    ngx_uint_t                         i;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_teachfloor_limit_zone_t  *zone;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_teachfloor_limit_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    zone->index = ngx_http_teachfloor_limit_key_index(cf, &value[1]);

    if (zone->index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    size = 0;
    rate = 1;
    scale = 60;
    name.len = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (ngx_http_teachfloor_zone_param(cf, &value[i], &name, &size)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            len = value[i].len;
            p = value[i].data + len - 3;

            if (ngx_strncmp(p, "r/s", 3) == 0) {
                scale = 60;
                len -= 3;

            } else if (ngx_strncmp(p, "r/m", 3) == 0) {
                scale = 1;
                len -= 3;
            }

            rate = ngx_atoi(value[i].data + 5, len - 5);
            if (rate <= 0 || rate > NGX_HTTP_TF_MAX_RATE * 60 / scale) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    zone->rate = (uint64_t) rate * 1000 * scale;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_teachfloor_limit_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is already bound to key \"%V\"",
                           &cmd->name, &name,
                           &((ngx_http_teachfloor_limit_zone_t *)
                             shm_zone->data)->key.value);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;

    shm_zone->init = ngx_http_teachfloor_limit_init_zone;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


char *
ngx_http_teachfloor_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    ngx_int_t                     burst, delay;
    ngx_str_t                    *value, s;
    ngx_uint_t                    i;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_teachfloor_limit_t  *limit;

    value = cf->args->elts;

    shm_zone = NULL;
    burst = 0;
    delay = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            if (ngx_strlchr(s.data, s.data + s.len, ':') != NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" takes a zone's name: a size "
                                   "belongs on \"teachfloor_limit_zone\", as "
                                   "in \"teachfloor_limit_zone $key "
                                   "zone=%V rate=...\"", &cmd->name, &s);
                return NGX_CONF_ERROR;
            }

            shm_zone = ngx_shared_memory_add(cf, &s, 0,
                                             &ngx_http_teachfloor_limit_tag);
            if (shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (burst <= 0 || burst > NGX_HTTP_TF_MAX_BURST) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst value \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "delay=", 6) == 0) {

            delay = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (delay <= 0 || delay > NGX_HTTP_TF_MAX_BURST) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid delay value \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "nodelay") == 0) {
            delay = NGX_HTTP_TF_MAX_BURST + 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (tlcf->limits == NGX_CONF_UNSET_PTR) {
        tlcf->limits = ngx_array_create(cf->pool, 1,
                                        sizeof(ngx_http_teachfloor_limit_t));
        if (tlcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limit = tlcf->limits->elts;

    for (i = 0; i < tlcf->limits->nelts; i++) {
        if (shm_zone == limit[i].shm_zone) {
            return "is duplicate";
        }
    }

    limit = ngx_array_push(tlcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->shm_zone = shm_zone;
    limit->burst = burst * 1000;
    limit->delay = delay * 1000;
    limit->checked = 0;
    limit->file = cf->conf_file->file.name;
    limit->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * Run at merge time, when every zone of the http block is known: an
 * undeclared zone is an error, a delay past the sender's timeout a warning.
 */

char *
ngx_http_teachfloor_limit_check_conf(ngx_conf_t *cf, ngx_array_t *limits)
{
    ngx_uint_t                         i, excess;
    ngx_msec_t                         delay;
    ngx_http_teachfloor_limit_t       *limit;
    ngx_http_teachfloor_limit_zone_t  *zone;

    if (limits == NULL) {
        return NGX_CONF_OK;
    }

    limit = limits->elts;

    for (i = 0; i < limits->nelts; i++) {

        if (limit[i].checked) {
            continue;
        }

        limit[i].checked = 1;

        zone = limit[i].shm_zone->data;

        if (zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"teachfloor_limit\" in %V:%ui uses zone \"%V\" "
                          "that has no \"teachfloor_limit_zone\"",
                          &limit[i].file, limit[i].line,
                          &limit[i].shm_zone->shm.name);
            return NGX_CONF_ERROR;
        }

        if (limit[i].delay >= limit[i].burst) {
            continue;
        }

        /* the last event of a full burst waits this long */

        excess = limit[i].burst - limit[i].delay;
        delay = ngx_http_teachfloor_limit_delay(zone, excess);

        if (delay > NGX_HTTP_TF_DELIVERY_TIMEOUT) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "\"teachfloor_limit zone=%V burst=%ui\" can delay "
                          "an event by %M ms, past Teachfloor's 3 s delivery "
                          "timeout: the sender would count it failed and "
                          "send it again; lower burst, raise the rate or "
                          "use \"nodelay\"",
                          &limit[i].shm_zone->shm.name,
                          limit[i].burst / 1000, delay);
        }
    }

    return NGX_CONF_OK;
}


/*
 * The index of the variable that is the whole key ("$binary_remote_addr",
 * "${http_x}"), NGX_DECLINED for any other key (text, several variables, a
 * regex capture such as "$1"), NGX_ERROR.
 */

static ngx_int_t
ngx_http_teachfloor_limit_key_index(ngx_conf_t *cf, ngx_str_t *key)
{
    size_t      i;
    ngx_str_t   name;

    if (key->len < 2 || key->data[0] != '$') {
        return NGX_DECLINED;
    }

    name.data = key->data + 1;
    name.len = key->len - 1;

    if (name.data[0] == '{') {
        if (name.len < 3 || name.data[name.len - 1] != '}') {
            return NGX_DECLINED;
        }

        name.data++;
        name.len -= 2;
    }

    /* "$1" is a capture to the script compiler, not a variable */

    if (name.data[0] >= '0' && name.data[0] <= '9') {
        return NGX_DECLINED;
    }

    for (i = 0; i < name.len; i++) {
        if (!((name.data[i] >= 'a' && name.data[i] <= 'z')
              || (name.data[i] >= 'A' && name.data[i] <= 'Z')
              || (name.data[i] >= '0' && name.data[i] <= '9')
              || name.data[i] == '_'))
        {
            return NGX_DECLINED;
        }
    }

    return ngx_http_get_variable_index(cf, &name);
}


static ngx_int_t
ngx_http_teachfloor_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_teachfloor_limit_zone_t  *ozone = data;

    ngx_http_teachfloor_limit_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        if (zone->key.value.len != ozone->key.value.len
            || ngx_strncmp(zone->key.value.data, ozone->key.value.data,
                           zone->key.value.len)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "teachfloor_limit_zone \"%V\" uses the \"%V\" key "
                          "while previously it used the \"%V\" key",
                          &shm_zone->shm.name, &zone->key.value,
                          &ozone->key.value);
            return NGX_ERROR;
        }

        /* a reload keeps every source's budget; a new rate applies to it */
    }

    return ngx_http_teachfloor_shm_init(shm_zone, &zone->shm,
                               ozone ? &ozone->shm : NULL,
                               sizeof(ngx_http_teachfloor_shctx_t),
                               ngx_http_teachfloor_limit_rbtree_insert_value,
                               "teachfloor_limit_zone");
}


static void
ngx_http_teachfloor_limit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                 **p;
    ngx_http_teachfloor_limit_node_t   *ln, *lnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            ln = (ngx_http_teachfloor_limit_node_t *) &node->color;
            lnt = (ngx_http_teachfloor_limit_node_t *) &temp->color;

            p = (ngx_memn2cmp(ln->data, lnt->data, ln->len, lnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Every zone is checked before any is charged, so an event that one zone
 * rejects spends nothing in the others.  Returns NGX_OK with the delay to
 * wait (0 for none), NGX_BUSY with ctx->retry_after and the zone and key
 * that refused, or NGX_ERROR.
 */

ngx_int_t
ngx_http_teachfloor_limit_check(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx,
    ngx_msec_t *delay)
{
    ngx_int_t                          rc, excess;
    ngx_str_t                         *keys;
    ngx_uint_t                         i, n;
    ngx_http_variable_value_t         *vv;
    ngx_str_t                          local[NGX_HTTP_TF_LOCAL_KEYS];
    ngx_msec_t                         d;
    ngx_http_teachfloor_limit_t       *limit;
    ngx_http_teachfloor_limit_zone_t  *zone;

    *delay = 0;

    n = tlcf->limits->nelts;
    limit = tlcf->limits->elts;

    if (n <= NGX_HTTP_TF_LOCAL_KEYS) {
        keys = local;

    } else {
        keys = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
        if (keys == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        zone = limit[i].shm_zone->data;

        if (zone->index != NGX_DECLINED) {
            /* as ngx_http_complex_value(): a failed variable is empty */

            vv = ngx_http_get_flushed_variable(r, zone->index);

            if (vv == NULL || vv->not_found) {
                keys[i].len = 0;

            } else {
                keys[i].data = vv->data;
                keys[i].len = vv->len;
            }

        } else if (ngx_http_complex_value(r, &zone->key, &keys[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (keys[i].len > 65535) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "the value of the \"%V\" key "
                          "is more than 65535 bytes: \"%V\"",
                          &zone->key.value, &keys[i]);
            keys[i].len = 0;
        }

        /*
         * An empty key is not limited.  A single zone is checked by its
         * charge below, under the same lock: the check first is for
         * several zones, so that one refusing charges none.
         */

        if (keys[i].len == 0 || n == 1) {
            continue;
        }

        rc = ngx_http_teachfloor_limit_lookup(&limit[i], &keys[i], 0,
                                              &excess, r->connection->log);

        if (rc == NGX_BUSY) {
            ngx_http_teachfloor_limit_refused(ctx, &limit[i], &keys[i],
                                              excess);
            return NGX_BUSY;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    /* a dry run charges what it lets through, as enforcing would */

    for (i = 0; i < n; i++) {
        if (keys[i].len == 0) {
            continue;
        }

        rc = ngx_http_teachfloor_limit_lookup(&limit[i], &keys[i], 1,
                                              &excess, r->connection->log);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        zone = limit[i].shm_zone->data;

        /*
         * A single zone's check; or, with several, another worker took
         * the last room between the check and now: refused after all.
         * Zones charged before this one keep the charge, a rare and
         * bounded overcount limit_req also accepts.
         */

        if (rc == NGX_BUSY) {
            ngx_http_teachfloor_limit_refused(ctx, &limit[i], &keys[i],
                                              excess);
            return NGX_BUSY;
        }

        if (rc == NGX_DECLINED || (ngx_uint_t) excess <= limit[i].delay) {
            continue;
        }

        d = ngx_http_teachfloor_limit_delay(zone, excess - limit[i].delay);

        /* the log line of the delay names the zone that sets it */

        if (d > *delay) {
            *delay = d;
            ctx->limit_zone = &limit[i].shm_zone->shm.name;
            ctx->limit_key = keys[i];
        }
    }

    return NGX_OK;
}


static void
ngx_http_teachfloor_limit_refused(ngx_http_teachfloor_ctx_t *ctx,
    ngx_http_teachfloor_limit_t *limit, ngx_str_t *key, ngx_int_t excess)
{
    uint64_t                           over;
    ngx_http_teachfloor_limit_zone_t  *zone;

    zone = limit->shm_zone->data;

    /*
     * When the bucket will have leaked enough for one more event: the
     * excess over the burst (thousandths of a request) over the rate
     * (thousandths a minute), in seconds rounded up.
     */

    over = (uint64_t) (excess - limit->burst) * 60;

    ctx->retry_after = (time_t) ((over + zone->rate - 1) / zone->rate);
    if (ctx->retry_after < 1) {
        ctx->retry_after = 1;
    }

    ctx->limit_zone = &limit->shm_zone->shm.name;
    ctx->limit_key = *key;
}


/*
 * NGX_OK with the key's excess after this event, NGX_BUSY when the event
 * does not fit (excess then says by how much), NGX_DECLINED when the zone
 * is full and the event goes through unlimited.
 */

static ngx_int_t
ngx_http_teachfloor_limit_lookup(ngx_http_teachfloor_limit_t *limit,
    ngx_str_t *key, ngx_uint_t account, ngx_int_t *excess, ngx_log_t *log)
{
    size_t                             size;
    uint32_t                           hash;
    ngx_int_t                          e;
    ngx_msec_int_t                     ms;
    ngx_rbtree_node_t                 *node;
    ngx_http_teachfloor_limit_node_t  *lr;
    ngx_http_teachfloor_limit_zone_t  *zone;

    zone = limit->shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shm.shpool->mutex);

    ngx_http_teachfloor_limit_expire(zone, 0);

    lr = ngx_http_teachfloor_limit_find(zone, key, hash);

    if (lr) {
        ms = (ngx_msec_int_t) (ngx_current_msec - lr->last);

        if (ms < -60000) {
            ms = 1;

        } else if (ms < 0) {
            ms = 0;
        }

        e = lr->excess + 1000
            - ngx_http_teachfloor_limit_leak(zone, ms, lr->excess + 1000);

        *excess = e;

        if ((ngx_uint_t) e > limit->burst) {
            ngx_shmtx_unlock(&zone->shm.shpool->mutex);
            return NGX_BUSY;
        }

        if (account) {
            lr->excess = e;

            if (ms) {
                lr->last = ngx_current_msec;
            }

            ngx_queue_remove(&lr->queue);
            ngx_queue_insert_head(&zone->shm.sh->queue, &lr->queue);
        }

        ngx_shmtx_unlock(&zone->shm.shpool->mutex);
        return NGX_OK;
    }

    *excess = 0;

    if (!account) {
        ngx_shmtx_unlock(&zone->shm.shpool->mutex);
        return NGX_OK;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_teachfloor_limit_node_t, data)
           + key->len;

    node = ngx_slab_alloc_locked(zone->shm.shpool, size);

    if (node == NULL) {
        ngx_http_teachfloor_limit_expire(zone, 1);

        node = ngx_slab_alloc_locked(zone->shm.shpool, size);

        if (node == NULL) {
            ngx_shmtx_unlock(&zone->shm.shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "teachfloor_limit_zone \"%V\" is full, the event "
                          "goes through unlimited",
                          &limit->shm_zone->shm.name);
            return NGX_DECLINED;
        }
    }

    node->key = hash;

    lr = (ngx_http_teachfloor_limit_node_t *) &node->color;

    lr->len = (u_short) key->len;
    lr->excess = 0;
    lr->last = ngx_current_msec;

    ngx_memcpy(lr->data, key->data, key->len);

    ngx_rbtree_insert(&zone->shm.sh->rbtree, node);
    ngx_queue_insert_head(&zone->shm.sh->queue, &lr->queue);
    zone->shm.sh->nodes++;

    ngx_shmtx_unlock(&zone->shm.shpool->mutex);

    return NGX_OK;
}


static ngx_http_teachfloor_limit_node_t *
ngx_http_teachfloor_limit_find(ngx_http_teachfloor_limit_zone_t *zone,
    ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                          rc;
    ngx_rbtree_node_t                 *node, *sentinel;
    ngx_http_teachfloor_limit_node_t  *lr;

    node = zone->shm.sh->rbtree.root;
    sentinel = zone->shm.sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        lr = (ngx_http_teachfloor_limit_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, lr->data, key->len, (size_t) lr->len);

        if (rc == 0) {
            return lr;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Frees up to two idle keys from the tail of the LRU queue: those whose
 * bucket has drained and that were not seen for a minute.  With force, the
 * oldest key goes regardless, to make room.
 */

static void
ngx_http_teachfloor_limit_expire(ngx_http_teachfloor_limit_zone_t *zone,
    ngx_uint_t force)
{
    ngx_uint_t                         n;
    ngx_msec_int_t                     ms;
    ngx_queue_t                       *q;
    ngx_rbtree_node_t                 *node;
    ngx_http_teachfloor_limit_node_t  *lr;

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&zone->shm.sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->shm.sh->queue);

        lr = ngx_queue_data(q, ngx_http_teachfloor_limit_node_t, queue);

        if (!force || n > 0) {
            ms = (ngx_msec_int_t) (ngx_current_msec - lr->last);
            ms = ngx_abs(ms);

            if (ms < 60000) {
                return;
            }

            if (ngx_http_teachfloor_limit_leak(zone, ms, lr->excess)
                < lr->excess)
            {
                return;
            }

        } else {
            (void) ngx_atomic_fetch_add(&zone->shm.sh->evictions, 1);
        }

        ngx_queue_remove(q);

        node = (ngx_rbtree_node_t *)
                   ((u_char *) lr - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&zone->shm.sh->rbtree, node);

        ngx_slab_free_locked(zone->shm.shpool, node);
        zone->shm.sh->nodes--;
    }
}



/*
 * What a bucket leaks in ms milliseconds, up to max.  rate * ms is never
 * formed whole: a key idle for days would overflow it.
 */

static ngx_uint_t
ngx_http_teachfloor_limit_leak(ngx_http_teachfloor_limit_zone_t *zone,
    ngx_msec_int_t ms, ngx_uint_t max)
{
    uint64_t  minutes, leak;

    minutes = (uint64_t) ms / NGX_HTTP_TF_MINUTE;

    if (minutes > max / zone->rate) {
        return max;
    }

    leak = minutes * zone->rate
           + (uint64_t) ms % NGX_HTTP_TF_MINUTE * zone->rate
             / NGX_HTTP_TF_MINUTE;

    return (ngx_uint_t) ngx_min(leak, (uint64_t) max);
}


/*
 * How long an excess over the delay waits: until it has leaked.  Past 24
 * days (a huge burst at 1r/m) the wait is cut, to fit a 32-bit timer.
 */

static ngx_msec_t
ngx_http_teachfloor_limit_delay(ngx_http_teachfloor_limit_zone_t *zone,
    ngx_uint_t excess)
{
    uint64_t  ms;

    ms = (uint64_t) excess * NGX_HTTP_TF_MINUTE / zone->rate;

    return (ngx_msec_t) ngx_min(ms, (uint64_t) NGX_MAX_INT32_VALUE);
}
