
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * What the module's nginx glue files share: configuration, the per-request
 * context, and the results the gate can reach.
 */


#ifndef _NGX_HTTP_TEACHFLOOR_MODULE_H_INCLUDED_
#define _NGX_HTTP_TEACHFLOOR_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "tf_signature.h"
#include "tf_envelope.h"
#include "tf_pattern.h"


#define NGX_HTTP_TEACHFLOOR_VERSION  "0.1.0"


typedef enum {
    NGX_HTTP_TF_NONE = 0,
    NGX_HTTP_TF_ACCEPTED,
    NGX_HTTP_TF_METHOD_NOT_ALLOWED,
    NGX_HTTP_TF_MISSING_SIGNATURE,
    NGX_HTTP_TF_INVALID_SIGNATURE,
    NGX_HTTP_TF_MALFORMED_JSON,
    NGX_HTTP_TF_INVALID_ENVELOPE,
    NGX_HTTP_TF_TEST_ACKNOWLEDGED,
    NGX_HTTP_TF_TEST_REJECTED,
    NGX_HTTP_TF_FILTERED,
    NGX_HTTP_TF_RATE_LIMITED,
    NGX_HTTP_TF_STALE_TIMESTAMP,
    NGX_HTTP_TF_DUPLICATE,
    NGX_HTTP_TF_IN_FLIGHT,
    NGX_HTTP_TF_NRESULTS
} ngx_http_teachfloor_result_e;


#define NGX_HTTP_TF_TEST_FORWARD  0
#define NGX_HTTP_TF_TEST_ACK      1
#define NGX_HTTP_TF_TEST_REJECT   2


typedef struct ngx_http_teachfloor_spool_s  ngx_http_teachfloor_spool_t;


typedef struct {
    ngx_flag_t                  metrics;    /* a teachfloor_metrics exists */
    ngx_shm_zone_t             *metrics_zone;
    ngx_array_t                *spools;     /* ngx_http_teachfloor_spool_t * */
    ngx_int_t                   matched;    /* variable index, or NGX_ERROR */
} ngx_http_teachfloor_main_conf_t;


/* the head of a rate-limit or dedupe zone's shared memory */
typedef struct {
    ngx_rbtree_t                rbtree;     /* rate-limit zones only */
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;      /* least recently used last */
    ngx_uint_t                  nodes;
    ngx_atomic_t                evictions;
} ngx_http_teachfloor_shctx_t;


typedef struct {
    ngx_http_teachfloor_shctx_t  *sh;
    ngx_slab_pool_t             *shpool;
} ngx_http_teachfloor_shm_t;


typedef struct ngx_http_teachfloor_limit_s  ngx_http_teachfloor_limit_t;
typedef struct ngx_http_teachfloor_dedupe_zone_s
    ngx_http_teachfloor_dedupe_zone_t;


typedef struct {
    /* NULL for a secret without variables, whose key is prepared once */
    ngx_http_complex_value_t   *value;
    tf_hmac_key_t               key;
    /* SHA-256 of the value: scopes the dedupe keys to the signer */
    u_char                      scope[TF_DIGEST_LEN];
    /* "name=", else its position in the list (1-based) */
    ngx_str_t                   label;
    unsigned                    named:1;
} ngx_http_teachfloor_secret_t;


#define NGX_HTTP_TF_SECRET_NAME_LEN  64


typedef struct {
    ngx_flag_t                  enable;
    ngx_array_t                *secrets;    /* ngx_http_teachfloor_secret_t */
    ngx_str_t                   header;
    ngx_str_t                   header_lc;  /* its name in lowercase */
    ngx_uint_t                  header_hash;    /* of header_lc */
    ngx_uint_t                  log_level;
    ngx_array_t                *events;     /* tf_pattern_t */
    ngx_uint_t                  filtered_status;
    ngx_uint_t                  test_events;
    ngx_array_t                *limits;     /* ngx_http_teachfloor_limit_t */
    ngx_uint_t                  limit_status;
    ngx_flag_t                  limit_dry_run;
    ngx_shm_zone_t             *dedupe;
    ngx_str_t                   dedupe_file;    /* where it is set */
    ngx_uint_t                  dedupe_line;
    time_t                      timestamp_tolerance;

    /* store and forward: set in the gate's own location, not inherited */
    ngx_http_teachfloor_spool_t  *spool;

    /* where "teachfloor_webhook" stands, for errors found at merge time */
    ngx_str_t                   file;
    ngx_uint_t                  line;

    /* where "teachfloor_signature_header" stands, for its warning */
    ngx_str_t                   header_file;
    ngx_uint_t                  header_line;

    /* set here, not inherited (by an "if" block, say) */
    unsigned                    webhook_here:1;

    /* at run time, in a worker: an early read of a variable was logged */
    unsigned                    early_read_logged:1;
} ngx_http_teachfloor_loc_conf_t;


/* the envelope's strings usually fit in the context itself */
#define NGX_HTTP_TF_CTX_STRINGS  128

/* the longest reason a rejection's log line gives */
#define NGX_HTTP_TF_WHY_LEN  160


typedef struct ngx_http_teachfloor_ctx_s  ngx_http_teachfloor_ctx_t;

struct ngx_http_teachfloor_ctx_s {
    /* first: accessible while the context waits on a free list */
    ngx_http_teachfloor_ctx_t  *next;       /* in the worker's free list */
    ngx_pool_cleanup_t          cleanup;    /* in the request pool's list */

    ngx_int_t                   status;     /* the phase handler's answer */
    ngx_http_teachfloor_result_e  result;
    ngx_uint_t                  secret;     /* 1-based, 0 before a match */
    /* NULL before a match, and in the delivery of an unnamed secret's event */
    ngx_str_t                  *secret_label;
    tf_envelope_t               envelope;
    u_char                      digest[TF_DIGEST_LEN];
    u_char                      scope[TF_DIGEST_LEN];   /* the signer's */

    /* the rate limit that refused the event, or set its delay */
    ngx_str_t                  *limit_zone;
    ngx_str_t                   limit_key;
    time_t                      retry_after;
    ngx_msec_t                  delay;

    /* this request's in-flight mark, until the upstream has answered */
    ngx_http_teachfloor_dedupe_zone_t  *dedupe_zone;
    uint64_t                    dedupe_owner;
    ngx_uint_t                  dedupe_node;

    unsigned                    verified:1; /* envelope fields usable */
    unsigned                    settled:1;  /* its outcome counted */
    unsigned                    delivery:1; /* a spooled event's delivery */

    u_char                      strings[NGX_HTTP_TF_CTX_STRINGS];

    /* why the gate refused, for its log line (not zeroed: why_len says) */
    size_t                      why_len;
    u_char                      why[NGX_HTTP_TF_WHY_LEN];
};


ngx_int_t ngx_http_teachfloor_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_teachfloor_log_handler(ngx_http_request_t *r);
ngx_http_teachfloor_ctx_t *ngx_http_teachfloor_get_ctx(ngx_http_request_t *r);
ngx_uint_t ngx_http_teachfloor_upstream_status(ngx_http_request_t *r);
void ngx_http_teachfloor_free_contexts(void);
ngx_int_t ngx_http_teachfloor_add_variables(ngx_conf_t *cf);
ngx_str_t *ngx_http_teachfloor_result_name(ngx_http_teachfloor_result_e rc);

char *ngx_http_teachfloor_signature_header(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_teachfloor_check_gate(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf);
void *ngx_http_teachfloor_module_loc_conf(ngx_conf_t *cf, char *name);

char *ngx_http_teachfloor_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_teachfloor_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_teachfloor_limit_check_conf(ngx_conf_t *cf,
    ngx_array_t *limits);
ngx_int_t ngx_http_teachfloor_limit_check(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx,
    ngx_msec_t *delay);

char *ngx_http_teachfloor_dedupe_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_teachfloor_dedupe(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_teachfloor_dedupe_check_conf(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf);
ngx_int_t ngx_http_teachfloor_dedupe_check(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx);
void ngx_http_teachfloor_dedupe_release(ngx_http_teachfloor_ctx_t *ctx);
void ngx_http_teachfloor_dedupe_log(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, ngx_uint_t status);

char *ngx_http_teachfloor_spool_path(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_teachfloor_spool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_teachfloor_spool_check_conf(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf);
ngx_int_t ngx_http_teachfloor_spool_accept(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx);
ngx_int_t ngx_http_teachfloor_spool_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_teachfloor_spool_add_variable(ngx_conf_t *cf);
ngx_int_t ngx_http_teachfloor_spool_rewrite_handler(ngx_http_request_t *r);
size_t ngx_http_teachfloor_spool_metrics_size(void);
u_char *ngx_http_teachfloor_spool_metrics(u_char *p, u_char *last);
ngx_int_t ngx_http_teachfloor_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);

char *ngx_http_teachfloor_zone_param(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *name, ssize_t *size);
ngx_int_t ngx_http_teachfloor_shm_init(ngx_shm_zone_t *shm_zone,
    ngx_http_teachfloor_shm_t *shm, ngx_http_teachfloor_shm_t *oshm,
    size_t size, ngx_rbtree_insert_pt insert, const char *directive);
ngx_int_t ngx_http_teachfloor_shm_stats(ngx_shm_zone_t *shm_zone, void *tag,
    ngx_uint_t *items, ngx_atomic_uint_t *evictions);

char *ngx_http_teachfloor_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_teachfloor_metrics_init(ngx_conf_t *cf);
void ngx_http_teachfloor_metrics_verdict(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx);
void ngx_http_teachfloor_metrics_upstream(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, ngx_uint_t status);
void ngx_http_teachfloor_metrics_dry_run(ngx_http_request_t *r,
    ngx_uint_t delayed);


extern ngx_module_t  ngx_http_teachfloor_module;
extern ngx_uint_t    ngx_http_teachfloor_limit_tag;
extern ngx_uint_t    ngx_http_teachfloor_dedupe_tag;


#endif /* _NGX_HTTP_TEACHFLOOR_MODULE_H_INCLUDED_ */
