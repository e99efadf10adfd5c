
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

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_envelope_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    tf_str_t                   *s;
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_teachfloor_get_ctx(r);

    if (ctx == NULL || !ctx->verified) {
        ngx_http_teachfloor_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    s = (tf_str_t *) ((u_char *) &ctx->envelope + data);

    ngx_http_teachfloor_set_variable(v, s->data, s->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_test_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_teachfloor_get_ctx(r);

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

    ctx = ngx_http_teachfloor_get_ctx(r);

    if (ctx == NULL) {
        ngx_http_teachfloor_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    name = ngx_http_teachfloor_result_name(ctx->result);

    ngx_http_teachfloor_set_variable(v, name->data, name->len);

    return NGX_OK;
}


/* which secret verified the event: its position, never its value */

static ngx_int_t
ngx_http_teachfloor_secret_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    ngx_http_teachfloor_ctx_t  *ctx;

    ctx = ngx_http_teachfloor_get_ctx(r);

    if (ctx == NULL || ctx->secret == 0) {
        ngx_http_teachfloor_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_teachfloor_set_variable(v, p,
                                     ngx_sprintf(p, "%ui", ctx->secret) - p);

    return NGX_OK;
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
