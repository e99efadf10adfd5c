
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * The gate: a PRECONTENT phase handler that reads the whole body, decides,
 * and either answers the request itself or lets the location's content
 * handler (proxy_pass and friends) forward the body it has already read.
 */


#include "ngx_http_teachfloor_module.h"


/*
 * Contexts come from a per-worker free list, not from the request pool:
 * the pool of a proxied request has a few dozen bytes left at most, and
 * anything allocated there costs most requests another pool block (a
 * malloc() and a free()).  So the context carries its own pool cleanup; it
 * puts the context back on the list when the request's pool is destroyed.
 * The list keeps up to NGX_HTTP_TF_FREE_CTX_MAX contexts: the next request
 * frees any beyond that, since ngx_destroy_pool() still reads a context's
 * cleanup after its handler has run.
 */

#define NGX_HTTP_TF_FREE_CTX_MAX  256

/*
 * Under valgrind a released context is no-access memory until it is taken
 * again, so that a use after release is reported as if it had been freed.
 * The cleanup and the list link stay accessible.
 */

#if (NGX_HTTP_TF_HAVE_MEMCHECK)

#include <valgrind/memcheck.h>

#define ngx_http_tf_ctx_released(ctx)                                         \
    (void) VALGRIND_MAKE_MEM_NOACCESS(&(ctx)->status,                         \
        sizeof(ngx_http_teachfloor_ctx_t)                                     \
        - offsetof(ngx_http_teachfloor_ctx_t, status))

#define ngx_http_tf_ctx_reused(ctx)                                           \
    (void) VALGRIND_MAKE_MEM_UNDEFINED((ctx), sizeof(ngx_http_teachfloor_ctx_t))

#else

#define ngx_http_tf_ctx_released(ctx)
#define ngx_http_tf_ctx_reused(ctx)

#endif


/* the HMACs of up to this many secrets are computed on the stack */
#define NGX_HTTP_TF_LOCAL_SECRETS  4

/*
 * A body in a temporary file is hashed in blocks of this size as it is
 * read back: before its signature is checked, a forged body costs the
 * worker this block, whatever its size.
 */
#define NGX_HTTP_TF_READ_BLOCK  16384

/* how much of an event name or a rate-limit key a log line shows */
#define NGX_HTTP_TF_LOG_NAME_LEN  128


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  status;
    ngx_str_t                   body;
} ngx_http_teachfloor_answer_t;


/* a secret being tried on the body */
typedef struct {
    const tf_hmac_key_t        *key;
    tf_hmac_t                   hmac;
    ngx_uint_t                  index;      /* 1-based, in configuration */
    ngx_str_t                   value;      /* a variable secret's value */
    tf_hmac_key_t               own;        /* a variable secret's key */
} ngx_http_teachfloor_candidate_t;


static ngx_http_teachfloor_ctx_t *ngx_http_teachfloor_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_teachfloor_add_cleanup(ngx_pool_t *pool,
    ngx_http_teachfloor_ctx_t *ctx);
static void ngx_http_teachfloor_cleanup(void *data);
static ngx_http_teachfloor_ctx_t *ngx_http_teachfloor_find_ctx(
    ngx_http_request_t *r);
static void ngx_http_teachfloor_settle(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, ngx_uint_t final);
static ngx_uint_t ngx_http_teachfloor_expects_continue(ngx_http_request_t *r);
static ngx_http_teachfloor_result_e ngx_http_teachfloor_check_header(
    ngx_http_request_t *r, ngx_http_teachfloor_loc_conf_t *tlcf,
    ngx_http_teachfloor_ctx_t *ctx);
static void ngx_http_teachfloor_body_handler(ngx_http_request_t *r);
static void ngx_http_teachfloor_delay_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_teachfloor_decide(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx);
static ngx_int_t ngx_http_teachfloor_verify(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx);
static ngx_int_t ngx_http_teachfloor_candidates(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf,
    ngx_http_teachfloor_candidate_t *c, ngx_uint_t *n);
static ngx_int_t ngx_http_teachfloor_hash_file(ngx_http_request_t *r,
    ngx_buf_t *b, u_char **block, ngx_http_teachfloor_candidate_t *c,
    ngx_uint_t n);
static ngx_int_t ngx_http_teachfloor_read(ngx_http_request_t *r,
    ngx_file_t *file, u_char *buf, size_t len, off_t offset);
static ngx_int_t ngx_http_teachfloor_body(ngx_http_request_t *r,
    const u_char **body, size_t *len);
static void *ngx_http_teachfloor_json_alloc(void *pool, size_t size);
static ngx_int_t ngx_http_teachfloor_keep_envelope(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx);
static ngx_int_t ngx_http_teachfloor_apply_limits(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx);
static ngx_int_t ngx_http_teachfloor_answer(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx);
static void ngx_http_teachfloor_log(ngx_http_request_t *r, ngx_uint_t level,
    ngx_http_teachfloor_ctx_t *ctx, const char *what);
static void ngx_cdecl ngx_http_teachfloor_why(ngx_http_teachfloor_ctx_t *ctx,
    const char *fmt, ...);


#define ngx_http_tf_answer(result, status)                                    \
    { ngx_string(result), status, ngx_string("{\"result\":\"" result "\"}\n") }

/* indexed by ngx_http_teachfloor_result_e */
static ngx_http_teachfloor_answer_t  ngx_http_teachfloor_answers[] = {
    { ngx_null_string, 0, ngx_null_string },
    ngx_http_tf_answer("accepted", NGX_HTTP_OK),
    ngx_http_tf_answer("method_not_allowed", NGX_HTTP_NOT_ALLOWED),
    ngx_http_tf_answer("missing_signature", NGX_HTTP_UNAUTHORIZED),
    ngx_http_tf_answer("invalid_signature", NGX_HTTP_UNAUTHORIZED),
    ngx_http_tf_answer("malformed_json", NGX_HTTP_BAD_REQUEST),
    ngx_http_tf_answer("invalid_envelope", 422),
    ngx_http_tf_answer("test_acknowledged", NGX_HTTP_OK),
    ngx_http_tf_answer("test_rejected", NGX_HTTP_FORBIDDEN),
    ngx_http_tf_answer("filtered", NGX_HTTP_OK),
    ngx_http_tf_answer("rate_limited", NGX_HTTP_TOO_MANY_REQUESTS),
    ngx_http_tf_answer("stale_timestamp", NGX_HTTP_UNAUTHORIZED),
    ngx_http_tf_answer("duplicate", NGX_HTTP_OK),
    ngx_http_tf_answer("in_flight", NGX_HTTP_CONFLICT)
};


static ngx_str_t  ngx_http_teachfloor_json_type =
    ngx_string("application/json");


/*
 * cJSON's tree lives only while the verdict is taken: its nodes go to a
 * per-worker arena, reused by every request, and only the few envelope
 * strings the request keeps are copied to its context.  Parses never
 * overlap in a worker; one that outgrows the arena goes on in the request
 * pool.
 */

#define NGX_HTTP_TF_ARENA_SIZE  65536

static u_char   ngx_http_teachfloor_arena[NGX_HTTP_TF_ARENA_SIZE];
static u_char  *ngx_http_teachfloor_arena_pos;


static ngx_http_teachfloor_ctx_t  *ngx_http_teachfloor_free_ctx;
static ngx_uint_t                  ngx_http_teachfloor_nfree;


ngx_int_t
ngx_http_teachfloor_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_teachfloor_ctx_t       *ctx;
    ngx_http_teachfloor_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_teachfloor_module);

    if (!tlcf->enable) {
        return NGX_DECLINED;
    }

    /*
     * A subrequest (mirror, SSI, auth_request) shares its main request's
     * body, connection and context slot: it is refused rather than
     * forwarded unverified or verified with the main request's state.
     */

    if (r != r->main) {
        ctx = ngx_http_get_module_ctx(r->main, ngx_http_teachfloor_module);

        /* a spooled event on its way to the app: verified when it came */

        if (ctx && ctx->delivery) {
            return NGX_DECLINED;
        }

        ngx_log_error(tlcf->log_level, r->connection->log, 0,
                      "teachfloor webhook refused: a gate does not serve "
                      "subrequests (\"%V\")", &r->uri);
        return NGX_HTTP_FORBIDDEN;
    }

    /*
     * Only this location's own decision counts: an internal redirect
     * clears the module's context, and a gate reached after one decides
     * anew with its own secrets.
     */

    ctx = ngx_http_get_module_ctx(r, ngx_http_teachfloor_module);

    if (ctx) {
        return ctx->status;
    }

    if (r->internal) {

        /*
         * An error answered while the body was still arriving (a 413, say)
         * redirected the request here: what has been read is no event.
         */

        if (r->request_body
            && (r->reading_body || r->request_body->rest))
        {
            ngx_log_error(tlcf->log_level, r->connection->log, 0,
                          "teachfloor webhook refused: the request was "
                          "redirected here before its body was read whole");
            return NGX_HTTP_BAD_REQUEST;
        }

        /*
         * The earlier gate's event is not delivered: its answer, if any,
         * was replaced by this redirect (error_page, X-Accel-Redirect),
         * and this gate decides what the sender hears.
         */

        ctx = ngx_http_teachfloor_find_ctx(r);

        if (ctx) {
            ngx_http_teachfloor_settle(r, ctx, 0);
        }
    }

    ctx = ngx_http_teachfloor_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* answered without reading the body: no signature can pass */

    if (r->method != NGX_HTTP_POST) {
        ctx->result = NGX_HTTP_TF_METHOD_NOT_ALLOWED;
        ngx_http_teachfloor_why(ctx, "method %V", &r->method_name);

    } else {
        ctx->result = ngx_http_teachfloor_check_header(r, tlcf, ctx);
    }

    if (ctx->result != NGX_HTTP_TF_NONE) {

        if (ngx_http_teachfloor_expects_continue(r)) {
            /*
             * Discarding would answer "100 Continue" and invite a body we
             * refuse anyway: close the connection instead, lingering for
             * whatever the client may already have sent.
             */
            r->keepalive = 0;
            r->lingering_close = 1;

        } else {
            rc = ngx_http_discard_request_body(r);

            if (rc != NGX_OK) {
                return rc;
            }
        }

        ngx_http_finalize_request(r, ngx_http_teachfloor_answer(r, tlcf, ctx));
        return NGX_DONE;
    }

    ctx->status = NGX_DONE;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_teachfloor_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


static ngx_http_teachfloor_ctx_t *
ngx_http_teachfloor_create_ctx(ngx_http_request_t *r)
{
    ngx_http_teachfloor_ctx_t  *ctx;

    while (ngx_http_teachfloor_nfree > NGX_HTTP_TF_FREE_CTX_MAX) {
        ctx = ngx_http_teachfloor_free_ctx;
        ngx_http_teachfloor_free_ctx = ctx->next;
        ngx_http_teachfloor_nfree--;
        ngx_free(ctx);
    }

    ctx = ngx_http_teachfloor_free_ctx;

    if (ctx) {
        ngx_http_teachfloor_free_ctx = ctx->next;
        ngx_http_teachfloor_nfree--;
        ngx_http_tf_ctx_reused(ctx);

    } else {
        ctx = ngx_alloc(sizeof(ngx_http_teachfloor_ctx_t),
                        r->connection->log);
        if (ctx == NULL) {
            return NULL;
        }
    }

    ngx_memzero(ctx, offsetof(ngx_http_teachfloor_ctx_t, strings));
    ctx->why_len = 0;

    /*
     * The cleanup also keeps the context reachable after an internal
     * redirect (error_page) has cleared r->ctx, so that variables in the
     * access log still see the verdict.
     */

    ngx_http_teachfloor_add_cleanup(r->pool, ctx);

    ngx_http_set_ctx(r, ctx, ngx_http_teachfloor_module);

    return ctx;
}


/*
 * What ngx_pool_cleanup_add() does, with a cleanup that lives in the
 * context rather than in the pool.  ngx_destroy_pool() calls each handler
 * and then reads that cleanup's next: the handler must leave the cleanup
 * itself in place, which ngx_http_teachfloor_cleanup() does.
 */

static void
ngx_http_teachfloor_add_cleanup(ngx_pool_t *pool,
    ngx_http_teachfloor_ctx_t *ctx)
{
    ctx->cleanup.handler = ngx_http_teachfloor_cleanup;
    ctx->cleanup.data = ctx;
    ctx->cleanup.next = pool->cleanup;

    pool->cleanup = &ctx->cleanup;
}


void
ngx_http_teachfloor_free_contexts(void)
{
    ngx_http_teachfloor_ctx_t  *ctx;

    while (ngx_http_teachfloor_free_ctx) {
        ctx = ngx_http_teachfloor_free_ctx;
        ngx_http_teachfloor_free_ctx = ctx->next;
        ngx_free(ctx);
    }

    ngx_http_teachfloor_nfree = 0;
}


static ngx_uint_t
ngx_http_teachfloor_expects_continue(ngx_http_request_t *r)
{
    ngx_str_t  *expect;

    if (r->headers_in.expect == NULL
        || r->http_version != NGX_HTTP_VERSION_11
        || (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked))
    {
        return 0;
    }

    expect = &r->headers_in.expect->value;

    return expect->len == sizeof("100-continue") - 1
           && ngx_strncasecmp(expect->data, (u_char *) "100-continue",
                              expect->len) == 0;
}


static void
ngx_http_teachfloor_cleanup(void *data)
{
    ngx_http_teachfloor_ctx_t  *ctx = data;

    /* a mark the log phase did not settle: a retry may go through */
    ngx_http_teachfloor_dedupe_release(ctx);

    ctx->next = ngx_http_teachfloor_free_ctx;
    ngx_http_teachfloor_free_ctx = ctx;
    ngx_http_teachfloor_nfree++;

    ngx_http_tf_ctx_released(ctx);
}


/*
 * What the variables and the log phase see: this request's verdict, or
 * after an internal redirect, the latest gate's.  A context found through
 * the pool's cleanups is not attached to the request again, so that it
 * never stands for the decision of a gate reached later.
 */

ngx_http_teachfloor_ctx_t *
ngx_http_teachfloor_get_ctx(ngx_http_request_t *r)
{
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_teachfloor_module);

    if (ctx || !r->main->internal) {
        return ctx;
    }

    return ngx_http_teachfloor_find_ctx(r->main);
}


/* the latest context: cleanups are pushed in front of the list */

static ngx_http_teachfloor_ctx_t *
ngx_http_teachfloor_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_teachfloor_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


static ngx_http_teachfloor_result_e
ngx_http_teachfloor_check_header(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *sig;

    n = 0;
    sig = NULL;
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

        /* nginx hashes every request header's lowercase name as it reads */

        if (h[i].hash == tlcf->header_hash
            && h[i].key.len == tlcf->header_lc.len
            && ngx_memcmp(h[i].lowcase_key, tlcf->header_lc.data,
                          tlcf->header_lc.len) == 0)
        {
            sig = &h[i];
            n++;
        }
    }

    if (n == 0) {
        ngx_http_teachfloor_why(ctx, "no \"%V\" header", &tlcf->header);
        return NGX_HTTP_TF_MISSING_SIGNATURE;
    }

    /* two signatures could let a proxy and the app each check another one */

    if (n > 1) {
        ngx_http_teachfloor_why(ctx, "%ui \"%V\" headers", n, &tlcf->header);
        return NGX_HTTP_TF_INVALID_SIGNATURE;
    }

    if (tf_signature_decode(sig->value.data, sig->value.len, ctx->digest)
        != 0)
    {
        if (sig->value.len > 7
            && ngx_strncasecmp(sig->value.data, (u_char *) "sha256=", 7) == 0)
        {
            ngx_http_teachfloor_why(ctx, "the header starts with "
                                    "\"sha256=\": Teachfloor sends bare hex");

        } else if (sig->value.len != TF_SIGNATURE_LEN) {
            ngx_http_teachfloor_why(ctx, "the header is %uz characters, not "
                                    "64 hex digits", sig->value.len);

        } else {
            ngx_http_teachfloor_why(ctx, "the header has a character that "
                                    "is not a hex digit");
        }

        return NGX_HTTP_TF_INVALID_SIGNATURE;
    }

    return NGX_HTTP_TF_NONE;
}


static void
ngx_http_teachfloor_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_teachfloor_ctx_t       *ctx;
    ngx_http_teachfloor_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_teachfloor_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_teachfloor_module);

    /*
     * Called once the body is read, also after an internal redirect while
     * it was (an error_page for a 413): the location it was asked for is
     * gone, and the gate it is in now, if any, refuses such a request.
     */

    if (ctx == NULL || ctx->status != NGX_DONE || !tlcf->enable) {
        return;
    }

    rc = ngx_http_teachfloor_decide(r, tlcf, ctx);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ctx->result != NGX_HTTP_TF_ACCEPTED) {
        ngx_http_finalize_request(r, ngx_http_teachfloor_answer(r, tlcf, ctx));
        return;
    }

    ngx_http_teachfloor_metrics_verdict(r, ctx);

    /* store and forward: the app sees the event through the spool */

    if (tlcf->spool) {
        rc = ngx_http_teachfloor_spool_accept(r, tlcf, ctx);

        if (rc != NGX_DONE) {
            ngx_http_teachfloor_dedupe_release(ctx);
            ctx->settled = 1;
            ngx_http_finalize_request(r, rc);
        }

        return;
    }

    /* on to the content handler, with the body kept for it */

    ctx->status = NGX_DECLINED;
    r->preserve_body = 1;

    if (ctx->delay) {
        /* a timer, as limit_req's delay: the worker never waits */

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_teachfloor_delay_handler;

        r->connection->write->delayed = 1;
        ngx_add_timer(r->connection->write, ctx->delay);

        return;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static void
ngx_http_teachfloor_delay_handler(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_teachfloor_decide(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx)
{
    size_t             total;
    ngx_int_t          rc;
    const u_char      *json;
    tf_allocator_t     allocator;
    tf_envelope_t     *env;
    tf_envelope_rc_e   erc;

    rc = ngx_http_teachfloor_verify(r, tlcf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->secret == 0) {
        ctx->result = NGX_HTTP_TF_INVALID_SIGNATURE;
        return NGX_OK;
    }

    /* only now, with the sender proven, is the body worth a copy or a parse */

    rc = ngx_http_teachfloor_body(r, &json, &total);
    if (rc != NGX_OK) {
        return rc;
    }

    allocator.alloc = ngx_http_teachfloor_json_alloc;
    allocator.ctx = r->pool;

    ngx_http_teachfloor_arena_pos = ngx_http_teachfloor_arena;

    env = &ctx->envelope;
    erc = tf_envelope_parse(json, total, &allocator, env);

    if (erc != TF_ENVELOPE_OK) {
        if (env->error_has_offset) {
            ngx_http_teachfloor_why(ctx, "%s at byte %uz of %uz",
                                    env->error, env->error_at, total);

        } else {
            ngx_http_teachfloor_why(ctx, "%s", env->error);
        }
    }

    if (erc == TF_ENVELOPE_MALFORMED_JSON) {
        ctx->result = NGX_HTTP_TF_MALFORMED_JSON;
        return NGX_OK;
    }

    if (ngx_http_teachfloor_keep_envelope(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->verified = 1;

    if (erc != TF_ENVELOPE_OK) {
        ctx->result = NGX_HTTP_TF_INVALID_ENVELOPE;
        return NGX_OK;
    }

    /*
     * Taken all the same, but worth the operator's notice; the check is
     * made only where the notice would be logged.
     */

    if (r->connection->log->log_level >= NGX_LOG_INFO
        && !tf_event_name_conventional(env->event.data, env->event.len))
    {
        ngx_http_teachfloor_log(r, NGX_LOG_INFO, ctx, "event name outside "
                                "the resource.action convention");
    }

    /* the signature has no time of its own: the envelope's stands in */

    if (tlcf->timestamp_tolerance
        && (env->epoch > ngx_time() + tlcf->timestamp_tolerance
            || env->epoch < ngx_time() - tlcf->timestamp_tolerance))
    {
        ctx->result = NGX_HTTP_TF_STALE_TIMESTAMP;

        ngx_http_teachfloor_why(ctx, "event time \"%*s\" is %L s %s now, "
                                "past the tolerance of %T s",
                                (size_t) ngx_min(env->time.len, 40),
                                env->time.data,
                                (int64_t) ngx_abs(env->epoch - ngx_time()),
                                env->epoch < ngx_time() ? "before" : "after",
                                tlcf->timestamp_tolerance);
        return NGX_OK;
    }

    if (env->test && tlcf->test_events != NGX_HTTP_TF_TEST_FORWARD) {
        ctx->result = (tlcf->test_events == NGX_HTTP_TF_TEST_ACK)
                      ? NGX_HTTP_TF_TEST_ACKNOWLEDGED
                      : NGX_HTTP_TF_TEST_REJECTED;
        return NGX_OK;
    }

    if (tlcf->events
        && !tf_pattern_set_allows(tlcf->events->elts, tlcf->events->nelts,
                                  env->event.data, env->event.len))
    {
        ctx->result = NGX_HTTP_TF_FILTERED;
        return NGX_OK;
    }

    /* a duplicate spends no rate-limit budget */

    if (tlcf->dedupe) {
        rc = ngx_http_teachfloor_dedupe_check(r, tlcf, ctx);

        switch (rc) {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            ctx->result = NGX_HTTP_TF_DUPLICATE;
            return NGX_OK;

        case NGX_BUSY:
            ctx->result = NGX_HTTP_TF_IN_FLIGHT;
            return NGX_OK;

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (tlcf->limits) {
        rc = ngx_http_teachfloor_apply_limits(r, tlcf, ctx);

        if (rc != NGX_OK || ctx->result != NGX_HTTP_TF_ACCEPTED) {
            ngx_http_teachfloor_dedupe_release(ctx);
        }

        return rc;
    }

    ctx->result = NGX_HTTP_TF_ACCEPTED;

    return NGX_OK;
}


/*
 * The log phase: what the upstream made of an accepted event.  Its own
 * status is taken ($upstream_status), not the one sent to the client,
 * which is 499 when the sender has given up while the app went on and
 * answered.
 */

ngx_int_t
ngx_http_teachfloor_log_handler(ngx_http_request_t *r)
{
    ngx_http_teachfloor_ctx_t  *ctx;

    /*
     * A subrequest's log phase (log_subrequest on: a mirror, say) must not
     * settle the main request's event with the subrequest's status.
     */

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_teachfloor_get_ctx(r);

    if (ctx) {
        ngx_http_teachfloor_settle(r, ctx, 1);
    }

    return NGX_OK;
}


/*
 * An accepted event's outcome, once: in the log phase (final), or at a
 * later gate, where the upstream's answer did not reach the sender and so
 * delivered nothing as far as retries go.
 */

static void
ngx_http_teachfloor_settle(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx, ngx_uint_t final)
{
    ngx_uint_t  status;

    if (ctx->result != NGX_HTTP_TF_ACCEPTED || ctx->settled) {
        return;
    }

    ctx->settled = 1;

    status = ngx_http_teachfloor_upstream_status(r);

    if (final) {
        ngx_http_teachfloor_dedupe_log(r, ctx, status);

    } else {
        ngx_http_teachfloor_dedupe_release(ctx);
    }

    if (status) {
        ngx_http_teachfloor_metrics_upstream(r, ctx, status);
    }
}


/*
 * The app's own final answer; 0 when no upstream answered: the client left
 * during a rate-limit delay, say, and r->headers_out.status is its 499, no
 * answer of the app's.  Such an event releases its dedupe mark and is not
 * counted among the upstream's answers.
 */

ngx_uint_t
ngx_http_teachfloor_upstream_status(ngx_http_request_t *r)
{
    ngx_http_upstream_state_t  *state;

    if (r->upstream_states && r->upstream_states->nelts) {
        state = r->upstream_states->elts;
        return state[r->upstream_states->nelts - 1].status;
    }

    return 0;
}


static ngx_int_t
ngx_http_teachfloor_apply_limits(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx)
{
    u_char     *p;
    ngx_int_t   rc;
    u_char      what[64];

    rc = ngx_http_teachfloor_limit_check(r, tlcf, ctx, &ctx->delay);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_BUSY) {

        if (!tlcf->limit_dry_run) {
            ctx->result = NGX_HTTP_TF_RATE_LIMITED;
            return NGX_OK;
        }

        ngx_http_teachfloor_log(r, tlcf->log_level, ctx,
                                "rate_limited (dry run, forwarded)");
        ngx_http_teachfloor_metrics_dry_run(r, 0);

        /* a zone charged before the refusal may have set one */
        ctx->delay = 0;

    } else if (ctx->delay) {
        p = ngx_snprintf(what, sizeof(what) - 1, "delayed by %M ms%s",
                         ctx->delay,
                         tlcf->limit_dry_run ? " (dry run, not applied)" : "");
        *p = '\0';

        ngx_http_teachfloor_log(r, NGX_LOG_INFO, ctx, (const char *) what);

        if (tlcf->limit_dry_run) {
            ngx_http_teachfloor_metrics_dry_run(r, 1);
            ctx->delay = 0;
        }
    }

    ctx->result = NGX_HTTP_TF_ACCEPTED;

    return NGX_OK;
}


/*
 * Every secret is tried in one pass over the body, in the buffers nginx
 * holds it in: nothing is copied, and a body in a temporary file is read
 * back one block at a time.  The first secret that matches wins.
 */

static ngx_int_t
ngx_http_teachfloor_verify(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx)
{
    off_t                             size;
    u_char                           *block;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_uint_t                        i, n;
    ngx_chain_t                      *cl;
    ngx_http_teachfloor_secret_t     *secret;
    ngx_http_teachfloor_candidate_t  *c;
    ngx_http_teachfloor_candidate_t   local[NGX_HTTP_TF_LOCAL_SECRETS];

    ctx->secret = 0;
    ctx->secret_label = NULL;

    n = tlcf->secrets->nelts;

    if (n <= NGX_HTTP_TF_LOCAL_SECRETS) {
        c = local;

    } else {
        c = ngx_palloc(r->pool, n * sizeof(ngx_http_teachfloor_candidate_t));
        if (c == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    block = NULL;

    /* the keys of variable secrets made so far are wiped all the same */

    rc = ngx_http_teachfloor_candidates(r, tlcf, c, &n);
    if (rc != NGX_OK) {
        goto done;
    }

    size = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            for (i = 0; i < n; i++) {
                tf_hmac_update(&c[i].hmac, b->pos, b->last - b->pos);
            }

            size += b->last - b->pos;
            continue;
        }

        if (b->in_file) {
            size += b->file_last - b->file_pos;

            rc = ngx_http_teachfloor_hash_file(r, b, &block, c, n);
            if (rc != NGX_OK) {
                goto done;
            }
        }
    }

    rc = NGX_OK;

    for (i = 0; i < n; i++) {
        if (tf_hmac_finish_matches(&c[i].hmac, c[i].key, ctx->digest)) {
            break;
        }
    }

    if (i == n) {
        if (n == 0) {
            ngx_http_teachfloor_why(ctx, "no secret to check against: "
                                    "every secret's variables are empty");

        } else {
            ngx_http_teachfloor_why(ctx, "the body (%O bytes) matches %s",
                                    size, n == 1 ? "no secret"
                                                 : "none of the secrets");
        }

        goto done;
    }

    ctx->secret = c[i].index;

    secret = tlcf->secrets->elts;

    ctx->secret_label = &secret[c[i].index - 1].label;

    if (tlcf->dedupe) {

        if (secret[c[i].index - 1].value == NULL) {
            ngx_memcpy(ctx->scope, secret[c[i].index - 1].scope,
                       TF_DIGEST_LEN);

        } else {
            tf_sha256(c[i].value.data, c[i].value.len, ctx->scope);
        }
    }

done:

    for (i = 0; i < n; i++) {
        if (c[i].key == &c[i].own) {
            ngx_explicit_memzero(&c[i].own, sizeof(tf_hmac_key_t));
        }
    }

    if (block) {
        ngx_pfree(r->pool, block);
    }

    return rc;
}


/* the secrets to try, each with its HMAC started; n is updated */

static ngx_int_t
ngx_http_teachfloor_candidates(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf,
    ngx_http_teachfloor_candidate_t *c, ngx_uint_t *n)
{
    ngx_str_t                      value;
    ngx_uint_t                     i, k;
    ngx_http_teachfloor_secret_t  *secret;

    secret = tlcf->secrets->elts;
    k = 0;

    for (i = 0; i < tlcf->secrets->nelts; i++) {

        if (secret[i].value == NULL) {
            c[k].key = &secret[i].key;

        } else {
            if (ngx_http_complex_value(r, secret[i].value, &value) != NGX_OK)
            {
                *n = k;
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            /* a variable that came out empty is no secret at all */
            if (value.len == 0) {
                continue;
            }

            tf_hmac_key_init(&c[k].own, value.data, value.len);
            c[k].key = &c[k].own;
            c[k].value = value;
        }

        c[k].index = i + 1;
        tf_hmac_start(&c[k].hmac, c[k].key);
        k++;
    }

    *n = k;

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_hash_file(ngx_http_request_t *r, ngx_buf_t *b,
    u_char **block, ngx_http_teachfloor_candidate_t *c, ngx_uint_t n)
{
    off_t       offset;
    size_t      len;
    ngx_uint_t  i;

    if (*block == NULL) {
        *block = ngx_pnalloc(r->pool, NGX_HTTP_TF_READ_BLOCK);
        if (*block == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    for (offset = b->file_pos; offset < b->file_last; offset += len) {

        len = (size_t) ngx_min(b->file_last - offset,
                               NGX_HTTP_TF_READ_BLOCK);

        if (ngx_http_teachfloor_read(r, b->file, *block, len, offset)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        for (i = 0; i < n; i++) {
            tf_hmac_update(&c[i].hmac, *block, len);
        }
    }

    return NGX_OK;
}


/* len bytes of the body's temporary file, all of them or an error */

static ngx_int_t
ngx_http_teachfloor_read(ngx_http_request_t *r, ngx_file_t *file, u_char *buf,
    size_t len, off_t offset)
{
    ssize_t  n;

    n = ngx_read_file(file, buf, len, offset);

    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    if ((size_t) n != len) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      ngx_read_file_n " read only %z of %uz bytes "
                      "of the request body", n, len);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The verified body in one piece for the parser: as it is when nginx holds
 * it in one buffer, else copied (a body in a file is read back whole, at
 * most client_max_body_size).
 */

static ngx_int_t
ngx_http_teachfloor_body(ngx_http_request_t *r, const u_char **body,
    size_t *len)
{
    off_t         size;
    u_char       *p;
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *body = (u_char *) "";
    *len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && ngx_buf_in_memory(cl->buf)) {
        *body = cl->buf->pos;
        *len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    size = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            size += b->last - b->pos;

        } else if (b->in_file) {
            size += b->file_last - b->file_pos;
        }
    }

    if (size == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) size);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *body = p;
    *len = (size_t) size;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file) {
            continue;
        }

        n = (size_t) (b->file_last - b->file_pos);

        if (ngx_http_teachfloor_read(r, b->file, p, n, b->file_pos) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


static void *
ngx_http_teachfloor_json_alloc(void *pool, size_t size)
{
    u_char  *p, *last;

    /* cJSON's nodes hold pointers and doubles */

    p = ngx_align_ptr(ngx_http_teachfloor_arena_pos, 8);
    last = ngx_http_teachfloor_arena + NGX_HTTP_TF_ARENA_SIZE;

    if (p <= last && size <= (size_t) (last - p)) {
        ngx_http_teachfloor_arena_pos = p + size;
        return p;
    }

    return ngx_palloc(pool, size);
}


static u_char *
ngx_http_teachfloor_keep(u_char *p, tf_str_t *s)
{
    if (s->len == 0) {
        return p;
    }

    ngx_memcpy(p, s->data, s->len);
    s->data = p;

    return p + s->len;
}


/* the envelope's strings, out of the arena, for the rest of the request */

static ngx_int_t
ngx_http_teachfloor_keep_envelope(ngx_http_request_t *r,
    ngx_http_teachfloor_ctx_t *ctx)
{
    size_t          len;
    u_char         *p;
    tf_envelope_t  *env;

    env = &ctx->envelope;
    len = env->event.len + env->id.len + env->time.len
          + env->organization_id.len;

    if (len <= NGX_HTTP_TF_CTX_STRINGS) {
        p = ctx->strings;

    } else {
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }
    }

    p = ngx_http_teachfloor_keep(p, &env->event);
    p = ngx_http_teachfloor_keep(p, &env->id);
    p = ngx_http_teachfloor_keep(p, &env->time);
    (void) ngx_http_teachfloor_keep(p, &env->organization_id);

    return NGX_OK;
}


ngx_str_t *
ngx_http_teachfloor_result_name(ngx_http_teachfloor_result_e rc)
{
    return &ngx_http_teachfloor_answers[rc].name;
}


static ngx_int_t
ngx_http_teachfloor_answer(ngx_http_request_t *r,
    ngx_http_teachfloor_loc_conf_t *tlcf, ngx_http_teachfloor_ctx_t *ctx)
{
    ngx_uint_t                     level;
    ngx_table_elt_t               *h;
    ngx_http_teachfloor_answer_t  *a;

    a = &ngx_http_teachfloor_answers[ctx->result];

    /*
     * Dropping an unwanted event on purpose is no rejection, nor is
     * answering Teachfloor's retry of a delivered one.
     */

    level = (ctx->result == NGX_HTTP_TF_FILTERED
             || ctx->result == NGX_HTTP_TF_TEST_ACKNOWLEDGED
             || ctx->result == NGX_HTTP_TF_DUPLICATE)
            ? NGX_LOG_INFO : tlcf->log_level;

    ngx_http_teachfloor_log(r, level, ctx, (const char *) a->name.data);
    ngx_http_teachfloor_metrics_verdict(r, ctx);

    switch (ctx->result) {

    case NGX_HTTP_TF_FILTERED:
        r->headers_out.status = tlcf->filtered_status;
        break;

    case NGX_HTTP_TF_RATE_LIMITED:
    case NGX_HTTP_TF_IN_FLIGHT:
        r->headers_out.status = (ctx->result == NGX_HTTP_TF_RATE_LIMITED)
                                ? tlcf->limit_status : a->status;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.len = ngx_sprintf(h->value.data, "%T", ctx->retry_after)
                       - h->value.data;
        break;

    default:
        r->headers_out.status = a->status;
    }

    if (ctx->result == NGX_HTTP_TF_METHOD_NOT_ALLOWED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");
    }

    return ngx_http_teachfloor_send_json(r, r->headers_out.status, &a->body);
}


/* one of the gate's small JSON answers, a static string */

ngx_int_t
ngx_http_teachfloor_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_teachfloor_json_type;
    r->headers_out.content_type_len = ngx_http_teachfloor_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = body->len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The one line a rejection writes.  The event name is printed only once it
 * is authenticated and valid, and escaped all the same: it may hold quotes
 * and any UTF-8.  A rate-limit key is escaped too, since it may be binary
 * ($binary_remote_addr) or come from the body.
 */

static void
ngx_http_teachfloor_log(ngx_http_request_t *r, ngx_uint_t level,
    ngx_http_teachfloor_ctx_t *ctx, const char *what)
{
    u_char     *p, *last;
    size_t      len;
    ngx_str_t  *zone;
    u_char      buf[NGX_MAX_ERROR_STR];

    if (r->connection->log->log_level < level) {
        return;
    }

    p = buf;
    last = buf + sizeof(buf);

    p = ngx_slprintf(p, last, "teachfloor webhook %s", what);

    /* a name or key of any length is cut, the line stays one line */

    if (ctx->verified && ctx->envelope.event.len) {
        p = ngx_slprintf(p, last, ", event \"");
        p = tf_event_name_escape(p, last, ctx->envelope.event.data,
                                 ngx_min(ctx->envelope.event.len,
                                         NGX_HTTP_TF_LOG_NAME_LEN));
        p = ngx_slprintf(p, last, "\"");
    }

    zone = ctx->limit_zone;

    if (zone) {
        p = ngx_slprintf(p, last, ", zone \"%V\", key \"", zone);

        /* each byte of the key escaped takes up to three */

        len = ngx_min(ctx->limit_key.len, NGX_HTTP_TF_LOG_NAME_LEN);

        if ((size_t) (last - p) > 3 * len) {
            p = (u_char *) ngx_escape_uri(p, ctx->limit_key.data, len,
                                          NGX_ESCAPE_URI_COMPONENT);
        }

        p = ngx_slprintf(p, last, "\"");
    }

    if (ctx->why_len) {
        p = ngx_slprintf(p, last, ": %*s", ctx->why_len, ctx->why);
    }

    ngx_log_error(level, r->connection->log, 0, "%*s", p - buf, buf);
}


/* never the body's bytes nor a secret: only shapes, sizes and positions */

static void ngx_cdecl
ngx_http_teachfloor_why(ngx_http_teachfloor_ctx_t *ctx, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(ctx->why, ctx->why + NGX_HTTP_TF_WHY_LEN, fmt, args);
    va_end(args);

    ctx->why_len = p - ctx->why;
}
