
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Directives, configuration merging and module registration.
 */


#include "ngx_http_teachfloor_module.h"


#define NGX_HTTP_TF_SECRET_FILE_MAX  65536


static ngx_int_t ngx_http_teachfloor_init_module(ngx_cycle_t *cycle);
static void ngx_http_teachfloor_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_teachfloor_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_teachfloor_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_teachfloor_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_teachfloor_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_teachfloor_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_teachfloor_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_teachfloor_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_teachfloor_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_teachfloor_add_secret(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *tlcf, u_char *data, size_t len,
    ngx_http_complex_value_t *cv, ngx_str_t *name);
static char *ngx_http_teachfloor_check_secret(ngx_conf_t *cf, u_char *data,
    size_t len);
static char *ngx_http_teachfloor_secret_name(ngx_str_t *param,
    ngx_str_t *name);
static char *ngx_http_teachfloor_secret_line(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *tlcf, u_char *p, size_t len,
    ngx_uint_t line, ngx_str_t *file);
static char *ngx_http_teachfloor_events(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_teachfloor_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_http_teachfloor_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_teachfloor_test_modes[] = {
    { ngx_string("forward"), NGX_HTTP_TF_TEST_FORWARD },
    { ngx_string("ack"), NGX_HTTP_TF_TEST_ACK },
    { ngx_string("reject"), NGX_HTTP_TF_TEST_REJECT },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_teachfloor_limit_status_bounds = {
    ngx_conf_check_num_bounds, 400, 599
};


/* anything but 2xx makes Teachfloor send a dropped event twice more */
static ngx_conf_num_bounds_t  ngx_http_teachfloor_filtered_bounds = {
    ngx_conf_check_num_bounds, 200, 299
};


static ngx_command_t  ngx_http_teachfloor_commands[] = {

    { ngx_string("teachfloor_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_teachfloor_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_teachfloor_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_teachfloor_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_signature_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_teachfloor_signature_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_teachfloor_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_teachfloor_loc_conf_t, log_level),
      &ngx_http_teachfloor_log_levels },

    { ngx_string("teachfloor_events"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_teachfloor_events,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_filtered_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_teachfloor_loc_conf_t, filtered_status),
      &ngx_http_teachfloor_filtered_bounds },

    { ngx_string("teachfloor_test_events"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_teachfloor_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_teachfloor_loc_conf_t, test_events),
      &ngx_http_teachfloor_test_modes },

    { ngx_string("teachfloor_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE3,
      ngx_http_teachfloor_limit_zone,
      0,
      0,
      NULL },

    { ngx_string("teachfloor_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_teachfloor_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_limit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_teachfloor_loc_conf_t, limit_status),
      &ngx_http_teachfloor_limit_status_bounds },

    { ngx_string("teachfloor_limit_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_teachfloor_loc_conf_t, limit_dry_run),
      NULL },

    { ngx_string("teachfloor_timestamp_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_teachfloor_loc_conf_t, timestamp_tolerance),
      NULL },

    { ngx_string("teachfloor_dedupe_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_teachfloor_dedupe_zone,
      0,
      0,
      NULL },

    { ngx_string("teachfloor_dedupe"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_teachfloor_dedupe,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_spool_path"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_teachfloor_spool_path,
      0,
      0,
      NULL },

    { ngx_string("teachfloor_spool"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_teachfloor_spool,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("teachfloor_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_teachfloor_metrics,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_teachfloor_module_ctx = {
    ngx_http_teachfloor_preconfiguration,  /* preconfiguration */
    ngx_http_teachfloor_postconfiguration, /* postconfiguration */

    ngx_http_teachfloor_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_teachfloor_create_loc_conf,   /* create location configuration */
    ngx_http_teachfloor_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_teachfloor_module = {
    NGX_MODULE_V1,
    &ngx_http_teachfloor_module_ctx,       /* module context */
    ngx_http_teachfloor_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_teachfloor_init_module,       /* init module */
    ngx_http_teachfloor_spool_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_teachfloor_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* a worker's cached contexts, so that memory checkers see nothing left */

static void
ngx_http_teachfloor_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_teachfloor_free_contexts();
}


static ngx_int_t
ngx_http_teachfloor_init_module(ngx_cycle_t *cycle)
{
    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "ngx_http_teachfloor_module/" NGX_HTTP_TEACHFLOOR_VERSION);

    return NGX_OK;
}


static ngx_int_t
ngx_http_teachfloor_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_teachfloor_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_teachfloor_spool_add_variable(cf);
}


static ngx_int_t
ngx_http_teachfloor_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* as the mirror module does: the body is read before content runs */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_teachfloor_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_teachfloor_spool_rewrite_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_teachfloor_log_handler;

    tf_envelope_init();

    return ngx_http_teachfloor_metrics_init(cf);
}


static void *
ngx_http_teachfloor_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_teachfloor_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_teachfloor_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tmcf->metrics = 0;
     *     tmcf->metrics_zone = NULL;
     *     tmcf->spools = NULL;
     */

    tmcf->matched = NGX_ERROR;

    return tmcf;
}


static void *
ngx_http_teachfloor_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_teachfloor_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_teachfloor_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->header = { 0, NULL };
     *     conf->header_lc = { 0, NULL };
     *     conf->header_file = { 0, NULL };
     *     conf->header_line = 0;
     *     conf->file = { 0, NULL };
     *     conf->line = 0;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->secrets = NGX_CONF_UNSET_PTR;
    conf->log_level = NGX_CONF_UNSET_UINT;
    conf->events = NGX_CONF_UNSET_PTR;
    conf->filtered_status = NGX_CONF_UNSET_UINT;
    conf->test_events = NGX_CONF_UNSET_UINT;
    conf->limits = NGX_CONF_UNSET_PTR;
    conf->limit_status = NGX_CONF_UNSET_UINT;
    conf->limit_dry_run = NGX_CONF_UNSET;
    conf->dedupe = NGX_CONF_UNSET_PTR;
    conf->timestamp_tolerance = NGX_CONF_UNSET;
    conf->spool = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_teachfloor_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_teachfloor_loc_conf_t *prev = parent;
    ngx_http_teachfloor_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_ptr_value(conf->secrets, prev->secrets, NULL);

    if (conf->header.data == NULL) {
        conf->header_file = prev->header_file;
        conf->header_line = prev->header_line;
    }

    ngx_conf_merge_str_value(conf->header, prev->header,
                             "Teachfloor-Signature");

    /* request headers carry their lowercase name: compared without a fold */

    if (conf->header.data == prev->header.data && prev->header_lc.data) {
        conf->header_lc = prev->header_lc;

    } else {
        conf->header_lc.len = conf->header.len;
        conf->header_lc.data = ngx_pnalloc(cf->pool, conf->header.len);
        if (conf->header_lc.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(conf->header_lc.data, conf->header.data, conf->header.len);
    }

    conf->header_hash = ngx_hash_key(conf->header_lc.data,
                                     conf->header_lc.len);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);
    ngx_conf_merge_ptr_value(conf->events, prev->events, NULL);
    ngx_conf_merge_uint_value(conf->filtered_status, prev->filtered_status,
                              NGX_HTTP_OK);
    ngx_conf_merge_uint_value(conf->test_events, prev->test_events,
                              NGX_HTTP_TF_TEST_FORWARD);

    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    ngx_conf_merge_uint_value(conf->limit_status, prev->limit_status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_value(conf->limit_dry_run, prev->limit_dry_run, 0);
    if (conf->dedupe == NGX_CONF_UNSET_PTR) {
        conf->dedupe_file = prev->dedupe_file;
        conf->dedupe_line = prev->dedupe_line;
    }

    ngx_conf_merge_ptr_value(conf->dedupe, prev->dedupe, NULL);
    ngx_conf_merge_sec_value(conf->timestamp_tolerance,
                             prev->timestamp_tolerance, 0);

    /*
     * A nested location is no spool's: a spool delivers through one
     * location.  An "if" block in it is part of that location.
     */

    if (conf->spool == NGX_CONF_UNSET_PTR) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        conf->spool = (clcf->noname && prev->spool != NGX_CONF_UNSET_PTR)
                      ? prev->spool : NULL;
    }

    if (ngx_http_teachfloor_spool_check_conf(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_teachfloor_limit_check_conf(cf, conf->limits)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->file.data == NULL) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->secrets == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"teachfloor_webhook\" in %V:%ui has no secret: "
                      "set \"teachfloor_secret\" or "
                      "\"teachfloor_secret_file\"",
                      &conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    return ngx_http_teachfloor_check_gate(cf, conf);
}


static char *
ngx_http_teachfloor_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, &tlcf->enable);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    tlcf->file = cf->conf_file->file.name;
    tlcf->line = cf->conf_file->line;
    tlcf->webhook_here = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_teachfloor_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    char                              *rv;
    ngx_str_t                         *value, name;
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "is empty";
    }

    ngx_str_null(&name);

    if (cf->args->nelts == 3) {
        rv = ngx_http_teachfloor_secret_name(&value[2], &name);
        if (rv != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"teachfloor_secret\": %s", rv);
            return NGX_CONF_ERROR;
        }
    }

    cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cv->lengths == NULL) {
        rv = ngx_http_teachfloor_check_secret(cf, value[1].data, value[1].len);
        if (rv != NGX_CONF_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"teachfloor_secret\": %s", rv);
            return NGX_CONF_ERROR;
        }

        return ngx_http_teachfloor_add_secret(cf, tlcf, value[1].data,
                                              value[1].len, NULL, &name);
    }

    return ngx_http_teachfloor_add_secret(cf, tlcf, NULL, 0, cv, &name);
}


static char *
ngx_http_teachfloor_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    char             *rv;
    u_char           *buf, *p, *last, *eol;
    size_t            size, len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, name;
    ngx_uint_t        count, line;
    ngx_file_info_t   fi;

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;
    buf = NULL;
    size = 0;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", name.data);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_TF_SECRET_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%s\" is larger than %d bytes",
                           name.data, NGX_HTTP_TF_SECRET_FILE_MAX);
        goto done;
    }

    if (fi.st_mode & (S_IRGRP|S_IROTH)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "secret file \"%s\" is readable by group or "
                           "others: \"chmod 600 %s\"", name.data, name.data);
    }

    size = (size_t) ngx_file_size(&fi);

    buf = ngx_alloc(size + 1, cf->log);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, size);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", name.data);
        goto done;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           ngx_read_fd_n " \"%s\" returned only %z bytes "
                           "instead of %uz", name.data, n, size);
        goto done;
    }

    count = 0;
    line = 0;
    p = buf;
    last = buf + size;

    /* an editor's mark, invisible, would become part of the first secret */

    if (size >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%s\" starts with a UTF-8 "
                           "byte-order mark: save it without one",
                           name.data);
        goto done;
    }

    while (p < last) {
        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        len = eol - p;
        line++;

        if (len && p[len - 1] == '\r') {
            len--;
        }

        if (len && p[0] != '#') {
            if (ngx_http_teachfloor_secret_line(cf, tlcf, p, len, line, &name)
                != NGX_CONF_OK)
            {
                goto done;
            }

            count++;
        }

        p = eol + 1;
    }

    if (count == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%s\" has no secret", name.data);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    if (buf) {
        ngx_explicit_memzero(buf, size);
        ngx_free(buf);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", name.data);
    }

    return rv;
}


/*
 * One line of a secret file: "secret" or "secret name=NAME".  What is
 * wrong is told with the file and line, never with the secret.
 */

static char *
ngx_http_teachfloor_secret_line(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *tlcf, u_char *p, size_t len,
    ngx_uint_t line, ngx_str_t *file)
{
    char       *rv;
    u_char     *sp, *last;
    ngx_str_t   param, name;

    last = p + len;

    for (sp = p; sp < last && *sp != ' ' && *sp != '\t'; sp++) {
        /* void */
    }

    ngx_str_null(&name);

    if (sp < last && sp > p) {
        param.data = sp;

        while (param.data < last
               && (*param.data == ' ' || *param.data == '\t'))
        {
            param.data++;
        }

        param.len = last - param.data;

        if (param.len == 0) {
            rv = "has white space after the secret";
            goto failed;
        }

        rv = ngx_http_teachfloor_secret_name(&param, &name);
        if (rv != NGX_CONF_OK) {
            goto failed;
        }

        len = sp - p;
    }

    rv = ngx_http_teachfloor_check_secret(cf, p, len);
    if (rv != NGX_CONF_OK) {
        goto failed;
    }

    return ngx_http_teachfloor_add_secret(cf, tlcf, p, len, NULL, &name);

failed:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "secret file \"%s\", line %ui: %s",
                       file->data, line, rv);

    return NGX_CONF_ERROR;
}


/*
 * A secret pasted with a stray space, a byte-order mark or a control
 * character would pass nginx -t and then fail every genuine event.
 */

static char *
ngx_http_teachfloor_check_secret(ngx_conf_t *cf, u_char *data, size_t len)
{
    size_t  i;

    if (len == 0) {
        return "the secret is empty";
    }

    if (data[0] == ' ' || data[0] == '\t') {
        return "the secret starts with white space";
    }

    if (data[len - 1] == ' ' || data[len - 1] == '\t') {
        return "the secret ends with white space";
    }

    if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf) {
        return "the secret starts with a UTF-8 byte-order mark";
    }

    for (i = 0; i < len; i++) {
        if (data[i] < 0x20 || data[i] == 0x7f) {
            return "the secret has a control character";
        }
    }

    /*
     * "TEACHFLOOR_SECRET=whsec_..." copied from an environment file: a
     * name with "_" (which base32 and base64 padding never have) and a
     * value after the "=".  Its bytes are not shown: they are the secret.
     */

    for (i = 0; i < len; i++) {
        if (!((data[i] >= 'A' && data[i] <= 'Z') || data[i] == '_'
              || (i && data[i] >= '0' && data[i] <= '9')))
        {
            break;
        }
    }

    if (i && i + 1 < len && data[i] == '=' && data[i + 1] != '='
        && ngx_strlchr(data, data + i, '_') != NULL)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "a secret looks like a shell assignment "
                           "(NAME=value): the whole of it is taken as the "
                           "secret; write the secret alone");
    }

    return NGX_CONF_OK;
}


/* "name=NAME": what metrics, logs and $teachfloor_secret_id call it */

static char *
ngx_http_teachfloor_secret_name(ngx_str_t *param, ngx_str_t *name)
{
    size_t   i;
    u_char   c;

    if (param->len < 5 || ngx_strncmp(param->data, "name=", 5) != 0) {
        return "only \"name=...\" may follow the secret";
    }

    if (param->len == 5) {
        return "the secret's \"name=\" is empty";
    }

    name->data = param->data + 5;
    name->len = param->len - 5;

    if (name->len > NGX_HTTP_TF_SECRET_NAME_LEN) {
        return "a secret's name is longer than 64 characters";
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return "a secret's name may have only letters, digits, "
                   "\".\", \"_\" and \"-\"";
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_teachfloor_add_secret(ngx_conf_t *cf,
    ngx_http_teachfloor_loc_conf_t *tlcf, u_char *data, size_t len,
    ngx_http_complex_value_t *cv, ngx_str_t *name)
{
    ngx_http_teachfloor_secret_t  *secret;

    if (tlcf->secrets == NGX_CONF_UNSET_PTR) {
        tlcf->secrets = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_teachfloor_secret_t));
        if (tlcf->secrets == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    secret = ngx_array_push(tlcf->secrets);
    if (secret == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(secret, sizeof(ngx_http_teachfloor_secret_t));

    secret->value = cv;

    /* made once here, for the metrics and $teachfloor_secret_id */

    if (name->len) {
        secret->named = 1;
        secret->label.len = name->len;
        secret->label.data = ngx_pstrdup(cf->pool, name);

    } else {
        secret->label.data = ngx_pnalloc(cf->pool, NGX_INT_T_LEN);

        if (secret->label.data) {
            secret->label.len = ngx_sprintf(secret->label.data, "%ui",
                                            tlcf->secrets->nelts)
                                - secret->label.data;
        }
    }

    if (secret->label.data == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cv == NULL) {
        tf_hmac_key_init(&secret->key, data, len);
        tf_sha256(data, len, secret->scope);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_teachfloor_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_teachfloor_loc_conf_t *tlcf = conf;

    ngx_str_t     *value;
    ngx_uint_t     i, j;
    tf_pattern_t  *pat;

    if (tlcf->events == NGX_CONF_UNSET_PTR) {
        tlcf->events = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                        sizeof(tf_pattern_t));
        if (tlcf->events == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        pat = ngx_array_push(tlcf->events);
        if (pat == NULL) {
            return NGX_CONF_ERROR;
        }

        if (tf_pattern_compile(pat, value[i].data, value[i].len) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid event pattern \"%V\": %s",
                               &value[i], pat->error);
            return NGX_CONF_ERROR;
        }

        /* names are matched as sent, and Teachfloor's own are lower case */

        for (j = 0; j < value[i].len; j++) {
            if (value[i].data[j] >= 'A' && value[i].data[j] <= 'Z') {
                ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                   "event pattern \"%V\" has upper-case "
                                   "letters: it matches only names spelled "
                                   "so, and Teachfloor's own event names "
                                   "are lower case", &value[i]);
                break;
            }
        }
    }

    return NGX_CONF_OK;
}


/* as ngx_conf_set_enum_slot(), with a refusal that lists what is allowed */

static char *
ngx_http_teachfloor_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char           *q, *last;
    ngx_str_t        *value;
    ngx_uint_t       *np, i;
    ngx_conf_enum_t  *e;
    u_char            list[256];

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            *np = e[i].value;
            return NGX_CONF_OK;
        }
    }

    q = list;
    last = list + sizeof(list);

    for (i = 0; e[i].name.len; i++) {
        q = ngx_slprintf(q, last, "%s\"%V\"",
                         i == 0 ? "" : e[i + 1].name.len ? ", " : " or ",
                         &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be %*s", &value[1], &cmd->name, q - list, list);

    return NGX_CONF_ERROR;
}
