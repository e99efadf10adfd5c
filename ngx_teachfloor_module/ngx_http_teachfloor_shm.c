
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * What the rate-limit and dedupe zones share: the "zone=name:size"
 * parameter, a zone's life cycle (adopted on reload, laid out once), and
 * the figures the metrics endpoint shows.
 */


#include "ngx_http_teachfloor_module.h"


/* one name, one use: a limit zone is never taken for a dedupe zone */
ngx_uint_t  ngx_http_teachfloor_limit_tag;
ngx_uint_t  ngx_http_teachfloor_dedupe_tag;


/* "zone=name:size"; returns NGX_CONF_OK or an error already logged */

char *
ngx_http_teachfloor_zone_param(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *name, ssize_t *size)
{
    u_char     *p;
    ngx_str_t   s;

    name->data = value->data + 5;

    p = (u_char *) ngx_strlchr(name->data, value->data + value->len, ':');

    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    name->len = p - name->data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    *size = ngx_parse_size(&s);

    if (*size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    if (*size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A zone's init: on reload the old cycle's zone is adopted as it is (the
 * entries survive); otherwise a zeroed head of the given size, its LRU
 * queue and, given an insert function, its rbtree are laid out in the new
 * memory.  A full zone is no error to log: the callers evict.
 */

ngx_int_t
ngx_http_teachfloor_shm_init(ngx_shm_zone_t *shm_zone,
    ngx_http_teachfloor_shm_t *shm, ngx_http_teachfloor_shm_t *oshm,
    size_t size, ngx_rbtree_insert_pt insert, const char *directive)
{
    size_t  len;

    if (oshm) {
        shm->sh = oshm->sh;
        shm->shpool = oshm->shpool;
        return NGX_OK;
    }

    shm->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm->sh = shm->shpool->data;
        return NGX_OK;
    }

    shm->sh = ngx_slab_calloc(shm->shpool, size);
    if (shm->sh == NULL) {
        return NGX_ERROR;
    }

    shm->shpool->data = shm->sh;

    if (insert) {
        ngx_rbtree_init(&shm->sh->rbtree, &shm->sh->sentinel, insert);
    }

    ngx_queue_init(&shm->sh->queue);

    len = sizeof(" in  \"\"") + ngx_strlen(directive)
          + shm_zone->shm.name.len;

    shm->shpool->log_ctx = ngx_slab_alloc(shm->shpool, len);
    if (shm->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shm->shpool->log_ctx, " in %s \"%V\"%Z", directive,
                &shm_zone->shm.name);

    shm->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * For the metrics endpoint, read without the lock (a moment's view):
 * NGX_DECLINED for a zone that is not ours, or not laid out yet.
 */

ngx_int_t
ngx_http_teachfloor_shm_stats(ngx_shm_zone_t *shm_zone, void *tag,
    ngx_uint_t *items, ngx_atomic_uint_t *evictions)
{
    ngx_http_teachfloor_shm_t  *shm;

    if (shm_zone->tag != tag) {
        return NGX_DECLINED;
    }

    /* both kinds of zone begin with their ngx_http_teachfloor_shm_t */

    shm = shm_zone->data;

    if (shm == NULL || shm->sh == NULL) {
        return NGX_DECLINED;
    }

    *items = shm->sh->nodes;
    *evictions = shm->sh->evictions;

    return NGX_OK;
}
