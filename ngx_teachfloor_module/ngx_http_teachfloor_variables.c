
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * $teachfloor_* variables: fields of the verified envelope and the verdict.
 * Each one is a lookup in the request's context, never a parse.
 */


#include "ngx_http_teachfloor_module.h"


static ngx_int_t ngx_http_teachfloor_envelope_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_teachfloor_test_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_teachfloor_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_teachfloor_secret_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_http_teachfloor_ctx_t *ngx_http_teachfloor_variable_ctx(
    ngx_http_request_t *r, uintptr_t data);
static void ngx_http_teachfloor_set_variable(ngx_http_variable_value_t *v,
    const u_char *data, size_t len);


/*
 * Not cacheable: a variable read before the verdict (in rewrite, say) must
 * not pin an empty value for the content handler and the access log.
 */

static ngx_http_variable_t  ngx_http_teachfloor_vars[] = {

    { ngx_string("teachfloor_event"), NULL,
      ngx_http_teachfloor_envelope_variable,
      offsetof(tf_envelope_t, event), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("teachfloor_event_id"), NULL,
      ngx_http_teachfloor_envelope_variable,
      offsetof(tf_envelope_t, id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("teachfloor_timestamp"), NULL,
      ngx_http_teachfloor_envelope_variable,
      offsetof(tf_envelope_t, time), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("teachfloor_organization_id"), NULL,
      ngx_http_teachfloor_envelope_variable,
      offsetof(tf_envelope_t, organization_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("teachfloor_test"), NULL,
      ngx_http_teachfloor_test_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("teachfloor_result"), NULL,
      ngx_http_teachfloor_result_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("teachfloor_secret_id"), NULL,
      ngx_http_teachfloor_secret_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_teachfloor_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_teachfloor_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        /* the handlers find their field (and their name) in the entry */

        var->get_handler = v->get_handler;
        var->data = (uintptr_t) v;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_envelope_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    tf_str_t                   *s;
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_teachfloor_variable_ctx(r, data);

    if (ctx == NULL || !ctx->verified) {
        ngx_http_teachfloor_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    s = (tf_str_t *) ((u_char *) &ctx->envelope
                      + ((ngx_http_variable_t *) data)->data);

    ngx_http_teachfloor_set_variable(v, s->data, s->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_test_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_teachfloor_variable_ctx(r, data);

    if (ctx == NULL || !ctx->verified) {
        ngx_http_teachfloor_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    ngx_http_teachfloor_set_variable(v, (u_char *) (ctx->envelope.test
                                                    ? "1" : "0"), 1);

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_result_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *name;
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_teachfloor_variable_ctx(r, data);

    if (ctx == NULL) {
        ngx_http_teachfloor_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    name = ngx_http_teachfloor_result_name(ctx->result);

    ngx_http_teachfloor_set_variable(v, name->data, name->len);

    return NGX_OK;
}


/* which secret verified the event: its name or position, never its value */

static ngx_int_t
ngx_http_teachfloor_secret_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_teachfloor_variable_ctx(r, data);

    if (ctx == NULL || ctx->secret == 0) {
        ngx_http_teachfloor_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    if (ctx->secret_label) {
        ngx_http_teachfloor_set_variable(v, ctx->secret_label->data,
                                         ctx->secret_label->len);
        return NGX_OK;
    }

    /* a spooled event's delivery knows the position it was verified by */

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_teachfloor_set_variable(v, p,
                                     ngx_sprintf(p, "%ui", ctx->secret) - p);

    return NGX_OK;
}


/*
 * A read before the gate has started (by "set" or "if" in the rewrite
 * phase, or a "map" they read) sees an empty value, and a "map" over the
 * variable keeps that value for the rest of the request unless it is
 * "volatile": said once per location and worker.  No status yet and a
 * request still counted: not the answer of an earlier phase, nor its log.
 */

static ngx_http_teachfloor_ctx_t *
ngx_http_teachfloor_variable_ctx(ngx_http_request_t *r, uintptr_t data)
{
    ngx_http_variable_t             *var;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_teachfloor_ctx_t       *ctx;
    ngx_http_teachfloor_loc_conf_t  *tlcf;

    ctx = ngx_http_teachfloor_get_ctx(r);

    if (ctx || r != r->main) {
        return ctx;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_teachfloor_module);

    if (!tlcf->enable
        || tlcf->early_read_logged
        || r->count == 0
        || r->headers_out.status
        || r->err_status)
    {
        return NULL;
    }

    tlcf->early_read_logged = 1;

    var = (ngx_http_variable_t *) data;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "\"$%V\" read in location \"%V\" before the teachfloor "
                  "gate's verdict (by \"set\", \"if\" or a \"map\" they read "
                  "in the rewrite phase, say): it is empty there, and a "
                  "\"map\" over it keeps that value for the whole request; "
                  "make the map \"volatile\", or read it only after the "
                  "gate", &var->name, &clcf->name);

    return NULL;
}


static void
ngx_http_teachfloor_set_variable(ngx_http_variable_value_t *v,
    const u_char *data, size_t len)
{
    v->data = (u_char *) data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;

    /* the access log writes "-" for these, as for other unset values */
    v->not_found = (len == 0);
}
