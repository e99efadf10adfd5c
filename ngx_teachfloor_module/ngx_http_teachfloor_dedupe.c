
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Exactly-once forwarding across Teachfloor's retries: a shared zone of
 * event digests, marked in flight while the first copy is forwarded and
 * delivered only once the upstream answered 2xx.  The log phase learns the
 * outcome; a pool cleanup releases a mark the log phase did not see.
 */


#include "ngx_http_teachfloor_module.h"


/* 110 s between the second and third attempt, and a minute of clock skew */
#define NGX_HTTP_TF_RETRY_SPAN  170

#define NGX_HTTP_TF_IN_FLIGHT   1
#define NGX_HTTP_TF_DELIVERED   2


typedef struct {
    u_char                          color;
    u_char                          state;
    u_char                          dummy[6];
    ngx_queue_t                     queue;
    ngx_msec_t                      expires;
    uint64_t                        owner;
    u_char                          digest[TF_DIGEST_LEN];
} ngx_http_teachfloor_dedupe_node_t;


struct ngx_http_teachfloor_dedupe_zone_s {
    ngx_http_teachfloor_shm_t            shm;       /* first */
    ngx_msec_t                           ttl;
    ngx_msec_t                           in_flight;
    ngx_shm_zone_t                      *shm_zone;
    unsigned                             checked:1;
};


static ngx_int_t ngx_http_teachfloor_dedupe_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_teachfloor_dedupe_rbtree_insert_value(
    ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel);
static ngx_http_teachfloor_dedupe_node_t *ngx_http_teachfloor_dedupe_find(
    ngx_http_teachfloor_dedupe_zone_t *zone, u_char *digest, uint32_t hash);
static void ngx_http_teachfloor_dedupe_free(
    ngx_http_teachfloor_dedupe_zone_t *zone,
    ngx_http_teachfloor_dedupe_node_t *dn);
static void ngx_http_teachfloor_dedupe_expire(
    ngx_http_teachfloor_dedupe_zone_t *zone, ngx_uint_t force);
static void ngx_http_teachfloor_dedupe_settle(ngx_http_teachfloor_ctx_t *ctx,
    ngx_uint_t delivered);


static uint64_t    ngx_http_teachfloor_dedupe_serial;


char *
ngx_http_teachfloor_dedupe_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ssize_t                             size;
    ngx_str_t                          *value, name, s;
    ngx_msec_t                          ttl, in_flight;
    ngx_uint_t                          i;
    ngx_shm_zone_t                     *shm_zone;
    ngx_http_teachfloor_dedupe_zone_t  *zone;

    value = cf->args->elts;

    size = 0;
    name.len = 0;
    ttl = 600000;
    in_flight = 60000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (ngx_http_teachfloor_zone_param(cf, &value[i], &name, &size)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 0);

            if (ttl == (ngx_msec_t) NGX_ERROR || ttl == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid ttl \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "in_flight=", 10) == 0) {

            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            in_flight = ngx_parse_time(&s, 0);

            if (in_flight == (ngx_msec_t) NGX_ERROR || in_flight == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid in_flight \"%V\"", &value[i]);
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

    if (ttl < NGX_HTTP_TF_RETRY_SPAN * 1000) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "dedupe ttl of %M s is shorter than Teachfloor's "
                           "retry span (110 s plus a minute of clock skew): "
                           "a late retry would be forwarded as new",
                           ttl / 1000);
    }

    /* a mark left by a killed worker must not outlive the third attempt */

    if (in_flight > 105000) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "in_flight of %M s can hold a lost delivery "
                           "past Teachfloor's last retry",
                           in_flight / 1000);
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_teachfloor_dedupe_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->ttl = ttl;
    zone->in_flight = in_flight;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_teachfloor_dedupe_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate teachfloor_dedupe_zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;

    shm_zone->init = ngx_http_teachfloor_dedupe_init_zone;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


char *
ngx_http_teachfloor_dedupe(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    ngx_str_t  *value, s;

    if (tlcf->dedupe != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->dedupe = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    s.len = value[1].len - 5;
    s.data = value[1].data + 5;

    if (ngx_strlchr(s.data, s.data + s.len, ':') != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"teachfloor_dedupe\" takes a zone's name: the "
                           "size belongs on \"teachfloor_dedupe_zone\", as in "
                           "\"teachfloor_dedupe_zone zone=%V;\"", &s);
        return NGX_CONF_ERROR;
    }

    tlcf->dedupe_file = cf->conf_file->file.name;
    tlcf->dedupe_line = cf->conf_file->line;

    tlcf->dedupe = ngx_shared_memory_add(cf, &s, 0,
                                         &ngx_http_teachfloor_dedupe_tag);
    if (tlcf->dedupe == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_teachfloor_dedupe_check_conf(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf)
{
    ngx_http_upstream_conf_t           *ucf;
    ngx_http_teachfloor_dedupe_zone_t  *zone;

    /* gates only: other locations merely pass the settings on */

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->timestamp_tolerance
        && conf->timestamp_tolerance < NGX_HTTP_TF_RETRY_SPAN)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"teachfloor_timestamp_tolerance\" of %T s in %V:%ui "
                      "is shorter than Teachfloor's retry span (110 s plus a "
                      "minute of clock skew): its last retry would be "
                      "refused as stale", conf->timestamp_tolerance,
                      &conf->file, conf->line);
    }

    if (conf->dedupe == NULL) {
        return NGX_CONF_OK;
    }

    zone = conf->dedupe->data;

    if (zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"teachfloor_dedupe\" in %V:%ui uses zone \"%V\" "
                      "that has no \"teachfloor_dedupe_zone\"",
                      &conf->dedupe_file, conf->dedupe_line,
                      &conf->dedupe->shm.name);
        return NGX_CONF_ERROR;
    }

    if (conf->timestamp_tolerance
        && (ngx_msec_t) conf->timestamp_tolerance * 1000 > zone->ttl)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"teachfloor_timestamp_tolerance\" of %T s in %V:%ui "
                      "is longer than the ttl of dedupe zone \"%V\" (%M s): "
                      "a replay older than the ttl but inside the tolerance "
                      "would be forwarded again", conf->timestamp_tolerance,
                      &conf->file, conf->line, &conf->dedupe->shm.name,
                      zone->ttl / 1000);
    }

    /*
     * Teachfloor gives up on an attempt after 3 s, often while the app is
     * still at work: unless the upstream request goes on without the
     * client, the gate never learns that it was delivered.  The proxy
     * module's configuration begins with its ngx_http_upstream_conf_t.
     * A spool answers the sender before the app is asked: no such case.
     */

    ucf = ngx_http_teachfloor_module_loc_conf(cf, "ngx_http_proxy_module");

    if (ucf && ucf->upstream && ucf->ignore_client_abort != 1
        && conf->spool == NULL)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"teachfloor_dedupe\" in %V:%ui without "
                      "\"proxy_ignore_client_abort on\": an event whose "
                      "sender gave up while the app was still working on "
                      "it will be delivered again on retry",
                      &conf->file, conf->line);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_teachfloor_dedupe_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_teachfloor_dedupe_zone_t  *ozone = data;

    ngx_http_teachfloor_dedupe_zone_t  *zone;

    zone = shm_zone->data;

    return ngx_http_teachfloor_shm_init(shm_zone, &zone->shm,
                              ozone ? &ozone->shm : NULL,
                              ngx_http_teachfloor_dedupe_rbtree_insert_value,
                              "teachfloor_dedupe_zone");
}


/*
 * Digests that share their first four bytes (the tree's key) are ordered
 * by the rest, the order ngx_http_teachfloor_dedupe_find() searches in.
 */

static void
ngx_http_teachfloor_dedupe_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                 **p;
    ngx_http_teachfloor_dedupe_node_t  *dn, *dnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            dn = (ngx_http_teachfloor_dedupe_node_t *) &node->color;
            dnt = (ngx_http_teachfloor_dedupe_node_t *) &temp->color;

            p = (ngx_memcmp(dn->digest, dnt->digest, TF_DIGEST_LEN) < 0)
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
 * Looks the event up and, when it is new, marks it in flight for this
 * request.  Returns NGX_OK to forward, NGX_BUSY for a copy in flight
 * (ctx->retry_after set), NGX_DECLINED for a delivered one, NGX_ERROR.
 */

ngx_int_t
ngx_http_teachfloor_dedupe_check(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx)
{
    uint32_t                            hash;
    ngx_msec_t                          now;
    ngx_rbtree_node_t                  *node;
    ngx_http_teachfloor_dedupe_node_t  *dn;
    ngx_http_teachfloor_dedupe_zone_t  *zone;

    zone = tlcf->dedupe->data;

    /*
     * The id is stable across retries even if the body were serialised
     * anew; without one, a retry re-sends the same bytes, whose HMAC the
     * signature check has already computed.  Either key belongs to the
     * signer: an id is hashed after the secret's digest, so that a tenant
     * cannot spend another tenant's event id.
     */

    if (ctx->envelope.id.len) {
        tf_sha256_prefixed(ctx->scope, ctx->envelope.id.data,
                           ctx->envelope.id.len, ctx->dedupe_key);

    } else {
        ngx_memcpy(ctx->dedupe_key, ctx->digest, TF_DIGEST_LEN);
    }

    ngx_memcpy(&hash, ctx->dedupe_key, sizeof(uint32_t));

    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shm.shpool->mutex);

    ngx_http_teachfloor_dedupe_expire(zone, 0);

    dn = ngx_http_teachfloor_dedupe_find(zone, ctx->dedupe_key, hash);

    if (dn && (ngx_msec_int_t) (dn->expires - now) > 0) {

        if (dn->state == NGX_HTTP_TF_DELIVERED) {
            ngx_shmtx_unlock(&zone->shm.shpool->mutex);
            return NGX_DECLINED;
        }

        ctx->retry_after = (time_t) ((dn->expires - now + 999) / 1000);

        ngx_shmtx_unlock(&zone->shm.shpool->mutex);
        return NGX_BUSY;
    }

    if (dn) {
        ngx_http_teachfloor_dedupe_free(zone, dn);
    }

    node = ngx_slab_alloc_locked(zone->shm.shpool, sizeof(ngx_rbtree_node_t)
                                 + sizeof(ngx_http_teachfloor_dedupe_node_t));

    if (node == NULL) {
        ngx_http_teachfloor_dedupe_expire(zone, 1);

        node = ngx_slab_alloc_locked(zone->shm.shpool, sizeof(ngx_rbtree_node_t)
                                 + sizeof(ngx_http_teachfloor_dedupe_node_t));

        if (node == NULL) {
            ngx_shmtx_unlock(&zone->shm.shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "teachfloor_dedupe_zone \"%V\" is full, the event "
                          "goes through unmarked",
                          &tlcf->dedupe->shm.name);
            return NGX_OK;
        }
    }

    node->key = hash;

    dn = (ngx_http_teachfloor_dedupe_node_t *) &node->color;

    dn->state = NGX_HTTP_TF_IN_FLIGHT;
    dn->expires = now + zone->in_flight;

    /* whose mark it is: a later request may re-mark an expired event */
    dn->owner = ((uint64_t) ngx_pid << 40)
                ^ ++ngx_http_teachfloor_dedupe_serial;

    ngx_memcpy(dn->digest, ctx->dedupe_key, TF_DIGEST_LEN);

    ngx_rbtree_insert(&zone->shm.sh->rbtree, node);
    ngx_queue_insert_head(&zone->shm.sh->queue, &dn->queue);
    zone->shm.sh->nodes++;

    ngx_shmtx_unlock(&zone->shm.shpool->mutex);

    /* the context's pool cleanup releases a mark the log phase did not */

    ctx->dedupe_owner = dn->owner;
    ctx->dedupe_zone = zone;

    return NGX_OK;
}


/* the event will not be forwarded after all: a retry may go through */

void
ngx_http_teachfloor_dedupe_release(ngx_http_teachfloor_ctx_t *ctx)
{
    ngx_http_teachfloor_dedupe_settle(ctx, 0);
}


/* log phase: the final word of the upstream settles the mark */

void
ngx_http_teachfloor_dedupe_log(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, ngx_uint_t status)
{
    ngx_http_teachfloor_dedupe_settle(ctx, status >= 200 && status < 300);
}


static void
ngx_http_teachfloor_dedupe_settle(ngx_http_teachfloor_ctx_t *ctx,
    ngx_uint_t delivered)
{
    uint32_t                            hash;
    ngx_http_teachfloor_dedupe_node_t  *dn;
    ngx_http_teachfloor_dedupe_zone_t  *zone;

    zone = ctx->dedupe_zone;

    if (zone == NULL) {
        return;
    }

    ctx->dedupe_zone = NULL;

    ngx_memcpy(&hash, ctx->dedupe_key, sizeof(uint32_t));

    ngx_shmtx_lock(&zone->shm.shpool->mutex);

    dn = ngx_http_teachfloor_dedupe_find(zone, ctx->dedupe_key, hash);

    if (dn && dn->owner == ctx->dedupe_owner
        && dn->state == NGX_HTTP_TF_IN_FLIGHT)
    {
        if (delivered) {
            dn->state = NGX_HTTP_TF_DELIVERED;
            dn->expires = ngx_current_msec + zone->ttl;

            ngx_queue_remove(&dn->queue);
            ngx_queue_insert_head(&zone->shm.sh->queue, &dn->queue);

        } else {
            ngx_http_teachfloor_dedupe_free(zone, dn);
        }
    }

    ngx_shmtx_unlock(&zone->shm.shpool->mutex);
}


static ngx_http_teachfloor_dedupe_node_t *
ngx_http_teachfloor_dedupe_find(ngx_http_teachfloor_dedupe_zone_t *zone,
    u_char *digest, uint32_t hash)
{
    ngx_int_t                           rc;
    ngx_rbtree_node_t                  *node, *sentinel;
    ngx_http_teachfloor_dedupe_node_t  *dn;

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

        dn = (ngx_http_teachfloor_dedupe_node_t *) &node->color;

        rc = ngx_memcmp(digest, dn->digest, TF_DIGEST_LEN);

        if (rc == 0) {
            return dn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_teachfloor_dedupe_free(ngx_http_teachfloor_dedupe_zone_t *zone,
    ngx_http_teachfloor_dedupe_node_t *dn)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) dn - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&dn->queue);
    ngx_rbtree_delete(&zone->shm.sh->rbtree, node);
    ngx_slab_free_locked(zone->shm.shpool, node);

    zone->shm.sh->nodes--;
}


/*
 * Frees up to three expired events from the tail of the queue; with force,
 * the oldest goes even if it has not expired, so that a full zone drops old
 * events rather than refusing new ones.
 */

static void
ngx_http_teachfloor_dedupe_expire(ngx_http_teachfloor_dedupe_zone_t *zone,
    ngx_uint_t force)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_http_teachfloor_dedupe_node_t  *dn;

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&zone->shm.sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->shm.sh->queue);
        dn = ngx_queue_data(q, ngx_http_teachfloor_dedupe_node_t, queue);

        if ((ngx_msec_int_t) (dn->expires - ngx_current_msec) > 0) {

            if (!force || n > 0) {
                return;
            }

            (void) ngx_atomic_fetch_add(&zone->shm.sh->evictions, 1);
        }

        ngx_http_teachfloor_dedupe_free(zone, dn);
    }
}

