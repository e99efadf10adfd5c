
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Configurations that would skip the gate or could never pass it, refused
 * (or warned about) when the configuration is loaded.
 */


#include "ngx_http_teachfloor_module.h"


static char *ngx_http_teachfloor_check_rewrite(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf);
static void ngx_http_teachfloor_check_server_rewrite(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf);
static ngx_uint_t ngx_http_teachfloor_scan_codes(ngx_array_t *codes,
    ngx_uint_t *status, ngx_str_t **regex);
static void ngx_http_teachfloor_check_underscores(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf);


/*
 * nginx keeps a request header only under a name of letters, digits and
 * "-" (and "_" with "underscores_in_headers on"), and hashes only those
 * characters: a name with any other one can never match.
 */

char *
ngx_http_teachfloor_signature_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    u_char     *p, *last;
    ngx_str_t  *value;

    if (tlcf->header.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "is empty";
    }

    last = value[1].data + value[1].len;

    for (p = value[1].data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
        {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\": nginx passes on "
                           "only request headers named with letters, "
                           "digits, \"-\" and \"_\", so no signature could "
                           "ever be found", &value[1]);
        return NGX_CONF_ERROR;
    }

    tlcf->header = value[1];
    tlcf->header_file = cf->conf_file->file.name;
    tlcf->header_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* for an enabled location, after its merge */

char *
ngx_http_teachfloor_check_gate(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * "if" and "limit_except" blocks run with the content handler of the
     * location around them, and its checks cover them.
     */

    if (clcf->noname) {
        return NGX_CONF_OK;
    }

    /* the gate only decides; the location's content handler forwards */

    if (clcf->handler == NULL) {

        if (conf->webhook_here) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"teachfloor_webhook\" in %V:%ui needs a content "
                          "handler in its location, such as \"proxy_pass\"",
                          &conf->file, conf->line);

        } else {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "location \"%V\" inherits the gate of "
                          "\"teachfloor_webhook\" in %V:%ui but not its "
                          "content handler, so accepted events would end "
                          "in a 404: give it its own \"proxy_pass\" (or "
                          "the like), or \"teachfloor_webhook off\"",
                          &clcf->name, &conf->file, conf->line);
        }

        return NGX_CONF_ERROR;
    }

    if (ngx_http_teachfloor_check_rewrite(cf, conf, clcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_teachfloor_check_server_rewrite(cf, conf, clcf);

    ngx_http_teachfloor_check_underscores(cf, conf, clcf);

    return ngx_http_teachfloor_dedupe_check_conf(cf, conf);
}


/*
 * What the rewrite module's codes can do before a gate has run, worst
 * first as the scan meets them.
 */

#define NGX_HTTP_TF_REWRITE_NONE      0
#define NGX_HTTP_TF_RETURN_ALWAYS     1     /* "return" outside an "if" */
#define NGX_HTTP_TF_RETURN_2XX_IN_IF  2     /* an "if" that acknowledges */
#define NGX_HTTP_TF_RETURN_IN_IF      3     /* an "if" that refuses */
#define NGX_HTTP_TF_REWRITE_AWAY      4     /* elsewhere, or a redirect */


static char *
ngx_http_teachfloor_check_rewrite(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf)
{
    ngx_str_t     *regex;
    ngx_uint_t     status;
    ngx_array_t  **codes;

    /* its configuration is private, but begins with the codes */

    codes = ngx_http_teachfloor_module_loc_conf(cf, "ngx_http_rewrite_module");

    if (codes == NULL) {
        return NGX_CONF_OK;
    }

    switch (ngx_http_teachfloor_scan_codes(*codes, &status, &regex)) {

    case NGX_HTTP_TF_RETURN_ALWAYS:
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"return %ui\" in location \"%V\" answers "
                      "before the gate of \"teachfloor_webhook\" in "
                      "%V:%ui has verified anything: remove it, or "
                      "put it in an \"if\" with a status that is "
                      "not 2xx", status, &clcf->name, &conf->file,
                      conf->line);
        return NGX_CONF_ERROR;

    case NGX_HTTP_TF_RETURN_2XX_IN_IF:
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"return %ui\" in an \"if\" of location "
                      "\"%V\" acknowledges requests before the gate "
                      "of \"teachfloor_webhook\" in %V:%ui has "
                      "verified them: use a status that is not 2xx, "
                      "or remove it", status, &clcf->name,
                      &conf->file, conf->line);
        return NGX_CONF_ERROR;

    case NGX_HTTP_TF_REWRITE_AWAY:
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"rewrite %V\" in location \"%V\" runs "
                      "before the gate of \"teachfloor_webhook\" in "
                      "%V:%ui and sends the request elsewhere "
                      "unverified (another location, or a "
                      "redirect): give it the \"break\" flag and a "
                      "replacement that is no URL, or rewrite in front of "
                      "the gate", regex, &clcf->name, &conf->file,
                      conf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The server's own "rewrite" and "return" run before any location is
 * chosen, so before every gate of the server.  They are often meant for
 * other requests (http to https, unknown hosts), so only what could answer
 * or move a webhook unverified is worth a warning.
 */

static void
ngx_http_teachfloor_check_server_rewrite(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf)
{
    void                       *conf_ctx;
    ngx_str_t                  *regex;
    ngx_uint_t                  status, what;
    ngx_array_t               **codes;
    ngx_http_core_srv_conf_t   *cscf;

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    /* the server's own configuration of the rewrite module */

    conf_ctx = cf->ctx;
    cf->ctx = cscf->ctx;
    codes = ngx_http_teachfloor_module_loc_conf(cf, "ngx_http_rewrite_module");
    cf->ctx = conf_ctx;

    if (codes == NULL) {
        return;
    }

    what = ngx_http_teachfloor_scan_codes(*codes, &status, &regex);

    if (what == NGX_HTTP_TF_REWRITE_NONE || what == NGX_HTTP_TF_RETURN_IN_IF)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "the server of location \"%V\" has a %s \"%s\" "
                  "that runs before its gate (\"teachfloor_webhook\" in "
                  "%V:%ui) and could answer or move webhooks unverified: "
                  "make sure it cannot match them",
                  &clcf->name,
                  what == NGX_HTTP_TF_RETURN_2XX_IN_IF ? "2xx" : "server-level",
                  what == NGX_HTTP_TF_REWRITE_AWAY ? "rewrite" : "return",
                  &conf->file, conf->line);
}


/*
 * The rewrite module compiles a block's directives, those of its "if"
 * blocks included, into one array of codes, each beginning with its
 * handler and aligned to a word: a word equal to one of the handlers
 * below starts that code (other words are pointers, offsets, flags and
 * the bytes of literal strings, which hold no address of nginx's code).
 * An "if" code holds the offset of the end of its block.
 */

static ngx_uint_t
ngx_http_teachfloor_scan_codes(ngx_array_t *codes, ngx_uint_t *status,
    ngx_str_t **regex_name)
{
    u_char                         *p, *last, *if_end;
    ngx_uint_t                      found;
    ngx_http_script_code_pt         code;
    ngx_http_script_if_code_t      *if_code;
    ngx_http_script_return_code_t  *ret;
#if (NGX_PCRE)
    ngx_http_script_regex_code_t   *regex;
#endif

    found = NGX_HTTP_TF_REWRITE_NONE;

    if (codes == NULL) {
        return found;
    }

    p = codes->elts;
    last = p + codes->nelts;
    if_end = p;

    for ( /* void */ ; p + sizeof(uintptr_t) <= last; p += sizeof(uintptr_t)) {

        code = *(ngx_http_script_code_pt *) p;

        if (code == ngx_http_script_if_code
            && p + sizeof(ngx_http_script_if_code_t) <= last)
        {
            if_code = (ngx_http_script_if_code_t *) p;
            if_end = p + if_code->next;
            continue;
        }

        if (code == ngx_http_script_return_code
            && p + sizeof(ngx_http_script_return_code_t) <= last)
        {
            ret = (ngx_http_script_return_code_t *) p;
            *status = ret->status;

            if (p >= if_end) {
                return NGX_HTTP_TF_RETURN_ALWAYS;
            }

            if (ret->status >= 200 && ret->status < 300) {
                return NGX_HTTP_TF_RETURN_2XX_IN_IF;
            }

            found = NGX_HTTP_TF_RETURN_IN_IF;
            continue;
        }

#if (NGX_PCRE)

        /*
         * An "if" with a regex test shares this code.  "rewrite ... break"
         * stays in the location, unless its replacement is a URL, which
         * makes it a redirect whatever the flag.
         */

        if (code == ngx_http_script_regex_start_code
            && p + sizeof(ngx_http_script_regex_code_t) <= last)
        {
            regex = (ngx_http_script_regex_code_t *) p;

            if (!regex->test
                && ((regex->uri && !regex->break_cycle)
                    || regex->redirect || regex->status))
            {
                *regex_name = &regex->name;
                return NGX_HTTP_TF_REWRITE_AWAY;
            }
        }

#endif
    }

    return found;
}


/*
 * Without "underscores_in_headers on", nginx ignores such a header (or,
 * with "ignore_invalid_headers off", hashes its name without the "_").
 */

static void
ngx_http_teachfloor_check_underscores(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf)
{
    ngx_http_core_srv_conf_t  *cscf;

    if (ngx_strlchr(conf->header.data, conf->header.data + conf->header.len,
                    '_')
        == NULL)
    {
        return;
    }

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    if (cscf->underscores_in_headers) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "\"teachfloor_signature_header %V\" in %V:%ui: nginx "
                  "ignores request headers with \"_\" in their names "
                  "unless \"underscores_in_headers on\", so every event to "
                  "location \"%V\" would be refused as missing_signature: "
                  "set \"underscores_in_headers on\" in its server, or "
                  "name a header without \"_\"", &conf->header,
                  &conf->header_file, conf->header_line, &clcf->name);
}


/* by name: an nginx built without that module must still load us */

void *
ngx_http_teachfloor_module_loc_conf(ngx_conf_t *cf, char *name)
{
    ngx_uint_t  i;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (ngx_strcmp(cf->cycle->modules[i]->name, name) == 0) {
            return ((ngx_http_conf_ctx_t *) cf->ctx)
                       ->loc_conf[cf->cycle->modules[i]->ctx_index];
        }
    }

    return NULL;
}
