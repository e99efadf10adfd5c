
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

#define NGX_HTTP_TF_FREE        0
#define NGX_HTTP_TF_IN_FLIGHT   1
#define NGX_HTTP_TF_DELIVERED   2

/*
 * An entry keeps half of the 32-byte key: 128 bits leave a collision
 * between two events out of reach even with billions of entries.
 */
#define NGX_HTTP_TF_DEDUPE_KEY_LEN  16

/* the head of a zone laid out by this version of the module */
#define NGX_HTTP_TF_DEDUPE_LAYOUT   0x7466646564757034

#define NGX_HTTP_TF_DEDUPE_WAYS     56


/*
 * The zone is laid out when it is created and never allocated from again:
 * buckets of 56 places, an event's bucket chosen by its key, its place in
 * the bucket by the order events come in.  A bucket's 16-bit tags (14 bits
 * of the key, and the state in the low two bits, 0: free) lie together in
 * two cache lines, apart from the entries, so that a lookup reads those
 * two lines and, only where a tag matches, the entry it names.  A full bucket gives a
 * new event the place it filled longest ago.  With 56 places a bucket,
 * what the zone drops is close to its oldest events: an event is kept
 * until its bucket has taken 56 more, which for 999 events in 1,000 is
 * after more than 0.64 of the zone's places in new events
 * (bench/retention.pl).
 */

typedef struct {
    u_char                          key[NGX_HTTP_TF_DEDUPE_KEY_LEN];
    ngx_msec_t                      expires;
    uint64_t                        owner;
} ngx_http_teachfloor_dedupe_node_t;


typedef struct {
    uint16_t                        tag[NGX_HTTP_TF_DEDUPE_WAYS];
    uint16_t                        used;       /* places filled */
    uint16_t                        hand;       /* the next to take */
    u_char                          pad[12];    /* two cache lines */
} ngx_http_teachfloor_dedupe_bucket_t;


typedef struct {
    ngx_http_teachfloor_shctx_t     sh;         /* first: gauges */
    uint64_t                        layout;
    uint64_t                        seed;
    ngx_http_teachfloor_dedupe_bucket_t  *buckets;
    /* bucket b's entries are nodes[b * 56] to nodes[b * 56 + 55] */
    ngx_http_teachfloor_dedupe_node_t    *nodes;
    uint64_t                        nbuckets;
} ngx_http_teachfloor_dedupe_sh_t;


struct ngx_http_teachfloor_dedupe_zone_s {
    ngx_http_teachfloor_shm_t            shm;       /* first */
    ngx_msec_t                           ttl;
    ngx_msec_t                           in_flight;
    ngx_shm_zone_t                      *shm_zone;
    unsigned                             checked:1;
};


static ngx_int_t ngx_http_teachfloor_dedupe_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_http_teachfloor_dedupe_layout(ngx_shm_zone_t *shm_zone,
    ngx_http_teachfloor_dedupe_sh_t *dsh, ngx_slab_pool_t *shpool);
static ngx_uint_t ngx_http_teachfloor_dedupe_bucket(
    ngx_http_teachfloor_dedupe_sh_t *dsh, u_char *key, uint16_t *tag);
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

    ngx_uint_t                          fresh;
    ngx_http_teachfloor_dedupe_sh_t    *dsh;
    ngx_http_teachfloor_dedupe_zone_t  *zone;

    zone = shm_zone->data;

    fresh = (ozone == NULL && !shm_zone->shm.exists);

    if (ngx_http_teachfloor_shm_init(shm_zone, &zone->shm,
                                     ozone ? &ozone->shm : NULL,
                                     sizeof(ngx_http_teachfloor_dedupe_sh_t),
                                     NULL, "teachfloor_dedupe_zone")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    dsh = (ngx_http_teachfloor_dedupe_sh_t *) zone->shm.sh;

    if (fresh) {
        return ngx_http_teachfloor_dedupe_layout(shm_zone, dsh,
                                                 zone->shm.shpool);
    }

    /*
     * The workers of the old cycle go on using an adopted zone: one laid
     * out by another version of the module can be neither read nor
     * replaced under them.
     */

    if (dsh->layout != NGX_HTTP_TF_DEDUPE_LAYOUT) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "teachfloor_dedupe_zone \"%V\" was laid out by "
                      "another version of the module: restart nginx, or "
                      "give the zone another size to start it anew",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The table takes every page the zone has left: the buckets' tags, zeroed,
 * then their entries, written only as events come.
 */

static ngx_int_t
ngx_http_teachfloor_dedupe_layout(ngx_shm_zone_t *shm_zone,
    ngx_http_teachfloor_dedupe_sh_t *dsh, ngx_slab_pool_t *shpool)
{
    size_t   size, n;
    u_char  *p;

    size = shpool->pfree << ngx_pagesize_shift;

    n = size / (sizeof(ngx_http_teachfloor_dedupe_bucket_t)
                + NGX_HTTP_TF_DEDUPE_WAYS
                  * sizeof(ngx_http_teachfloor_dedupe_node_t));

    if (n == 0) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "teachfloor_dedupe_zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    p = ngx_slab_alloc(shpool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(p, n * sizeof(ngx_http_teachfloor_dedupe_bucket_t));

    dsh->buckets = (ngx_http_teachfloor_dedupe_bucket_t *) p;
    dsh->nodes = (ngx_http_teachfloor_dedupe_node_t *) (dsh->buckets + n);
    dsh->nbuckets = n;
    dsh->seed = (uint64_t) ngx_random() << 32 ^ ngx_random();

    dsh->layout = NGX_HTTP_TF_DEDUPE_LAYOUT;

    return NGX_OK;
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
    u_char                                key[TF_DIGEST_LEN];
    uint16_t                              tag, match;
    ngx_uint_t                            b, i;
    ngx_msec_t                            now;
    ngx_http_teachfloor_dedupe_sh_t      *dsh;
    ngx_http_teachfloor_dedupe_node_t    *dn, *node;
    ngx_http_teachfloor_dedupe_zone_t    *zone;
    ngx_http_teachfloor_dedupe_bucket_t  *bucket;

    zone = tlcf->dedupe->data;
    dsh = (ngx_http_teachfloor_dedupe_sh_t *) zone->shm.sh;

    /*
     * The id is stable across retries even if the body were serialised
     * anew; without one, a retry re-sends the same bytes, whose HMAC the
     * signature check has already computed.  Either key belongs to the
     * signer: an id is hashed after the secret's digest, so that a tenant
     * cannot spend another tenant's event id.
     */

    if (ctx->envelope.id.len) {
        tf_sha256_prefixed(ctx->scope, ctx->envelope.id.data,
                           ctx->envelope.id.len, key);

    } else {
        ngx_memcpy(key, ctx->digest, TF_DIGEST_LEN);
    }

    now = ngx_current_msec;

    b = ngx_http_teachfloor_dedupe_bucket(dsh, key, &tag);
    bucket = &dsh->buckets[b];
    node = &dsh->nodes[b * NGX_HTTP_TF_DEDUPE_WAYS];

    ngx_shmtx_lock(&zone->shm.shpool->mutex);

    /*
     * A new event matches no tag: one pass without a branch tells, which
     * compilers turn into a few vector compares.
     */

    match = 0;

    for (i = 0; i < NGX_HTTP_TF_DEDUPE_WAYS; i++) {
        match |= ((uint16_t) (bucket->tag[i] & ~3) == tag);
    }

    for (i = 0; match && i < NGX_HTTP_TF_DEDUPE_WAYS; i++) {

        /* the key's 14 bits, whatever the state; a free place never matches */

        if ((bucket->tag[i] ^ tag) > 3 || bucket->tag[i] == 0) {
            continue;
        }

        dn = &node[i];

        if (ngx_memcmp(dn->key, key, NGX_HTTP_TF_DEDUPE_KEY_LEN) != 0) {
            continue;
        }

        if ((ngx_msec_int_t) (dn->expires - now) > 0) {

            if ((bucket->tag[i] & 3) == NGX_HTTP_TF_DELIVERED) {
                ngx_shmtx_unlock(&zone->shm.shpool->mutex);
                return NGX_DECLINED;
            }

            ctx->retry_after = (time_t) ((dn->expires - now + 999) / 1000);

            ngx_shmtx_unlock(&zone->shm.shpool->mutex);
            return NGX_BUSY;
        }

        /*
         * Expired: the event is new again, and goes where new events go,
         * so that it too is kept for the bucket's next 56 events; its old
         * place waits for its turn.
         */

        bucket->tag[i] = 0;
        dsh->sh.nodes--;

        break;
    }

    /*
     * Places are filled in order, then taken again in the same order, each
     * from the event that has held it longest.  A place freed in between
     * (an event its upstream failed) waits for its turn.
     */

    if (bucket->used < NGX_HTTP_TF_DEDUPE_WAYS) {
        i = bucket->used++;
        dsh->sh.nodes++;

    } else {
        i = bucket->hand;
        bucket->hand = (uint16_t) ((i + 1) % NGX_HTTP_TF_DEDUPE_WAYS);

        if (bucket->tag[i] == 0) {
            dsh->sh.nodes++;

        } else if ((ngx_msec_int_t) (node[i].expires - now) > 0) {
            (void) ngx_atomic_fetch_add(&dsh->sh.evictions, 1);
        }
    }

    dn = &node[i];

    ngx_memcpy(dn->key, key, NGX_HTTP_TF_DEDUPE_KEY_LEN);

    bucket->tag[i] = (uint16_t) (tag | NGX_HTTP_TF_IN_FLIGHT);
    dn->expires = now + zone->in_flight;

    /*
     * Whose mark it is: the place may be taken by another event once the
     * lock is released, and a later request may re-mark an expired event.
     * The context's pool cleanup releases a mark the log phase did not.
     */

    dn->owner = ((uint64_t) ngx_pid << 40)
                ^ ++ngx_http_teachfloor_dedupe_serial;

    ctx->dedupe_owner = dn->owner;
    ctx->dedupe_node = b * NGX_HTTP_TF_DEDUPE_WAYS + i;
    ctx->dedupe_zone = zone;

    ngx_shmtx_unlock(&zone->shm.shpool->mutex);

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
    ngx_uint_t                            i;
    ngx_http_teachfloor_dedupe_sh_t      *dsh;
    ngx_http_teachfloor_dedupe_node_t    *dn;
    ngx_http_teachfloor_dedupe_zone_t    *zone;
    ngx_http_teachfloor_dedupe_bucket_t  *bucket;

    zone = ctx->dedupe_zone;

    if (zone == NULL) {
        return;
    }

    ctx->dedupe_zone = NULL;

    dsh = (ngx_http_teachfloor_dedupe_sh_t *) zone->shm.sh;

    ngx_shmtx_lock(&zone->shm.shpool->mutex);

    /*
     * The entry may have been evicted, or freed and taken by another event
     * since: only the owner of an entry in flight tells it is this mark.
     */

    bucket = &dsh->buckets[ctx->dedupe_node / NGX_HTTP_TF_DEDUPE_WAYS];
    i = ctx->dedupe_node % NGX_HTTP_TF_DEDUPE_WAYS;
    dn = &dsh->nodes[ctx->dedupe_node];

    if (dn->owner == ctx->dedupe_owner
        && (bucket->tag[i] & 3) == NGX_HTTP_TF_IN_FLIGHT)
    {
        if (delivered) {
            bucket->tag[i] ^= NGX_HTTP_TF_IN_FLIGHT ^ NGX_HTTP_TF_DELIVERED;
            dn->expires = ngx_current_msec + zone->ttl;

        } else {
            bucket->tag[i] = 0;
            dsh->sh.nodes--;
        }
    }

    ngx_shmtx_unlock(&zone->shm.shpool->mutex);
}


/*
 * The key is a digest, but of what a tenant chooses: mixed with the zone's
 * random seed, its bits do not tell which keys share a bucket, so that
 * nobody can crowd one bucket with events to push another's out.
 */

static ngx_uint_t
ngx_http_teachfloor_dedupe_bucket(ngx_http_teachfloor_dedupe_sh_t *dsh,
    u_char *key, uint16_t *tag)
{
    uint64_t  h;

    ngx_memcpy(&h, key, sizeof(uint64_t));
    ngx_memcpy(tag, key + sizeof(uint64_t), sizeof(uint16_t));

    /* the low two bits hold the state */
    *tag &= ~3;

    h = (h ^ dsh->seed) * 0x9e3779b97f4a7c15;

    /* the high 32 bits scaled to the number of buckets */

    return (ngx_uint_t) (((h >> 32) * dsh->nbuckets) >> 32);
}
