
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "tf_envelope.h"
#include "tf_time.h"


static void *tf_json_malloc(size_t size);
static void tf_json_free(void *p);
static int tf_envelope_has_nul(const u_char *p, size_t len);
static int tf_envelope_string(const cJSON *item, tf_str_t *s);
static int tf_envelope_id(const cJSON *item, const tf_allocator_t *allocator,
    tf_str_t *s);


/*
 * cJSON has process-wide hooks only; the allocator of the parse under way
 * is kept here.  nginx workers are single-threaded, and outside a parse the
 * hooks behave as malloc() and free(), so other cJSON users are unaffected.
 */
static const tf_allocator_t  *tf_json_allocator;


void
tf_envelope_init(void)
{
    cJSON_Hooks  hooks;

    hooks.malloc_fn = tf_json_malloc;
    hooks.free_fn = tf_json_free;

    cJSON_InitHooks(&hooks);
}


static void *
tf_json_malloc(size_t size)
{
    if (tf_json_allocator) {
        return tf_json_allocator->alloc(tf_json_allocator->ctx, size);
    }

    return malloc(size);
}


static void
tf_json_free(void *p)
{
    /* during a parse, everything is released with the allocator's arena */

    if (tf_json_allocator == NULL) {
        free(p);
    }
}


tf_envelope_rc_e
tf_envelope_parse(const u_char *body, size_t len,
    const tf_allocator_t *allocator, tf_envelope_t *env)
{
    size_t         rest;
    cJSON         *root, *item, *data, *org;
    const char    *end;
    const u_char  *p;

    memset(env, 0, sizeof(tf_envelope_t));

    if (len == 0) {
        return TF_ENVELOPE_MALFORMED_JSON;
    }

    /*
     * A raw NUL is no JSON, but cJSON takes it inside a string, which C
     * string functions would then cut short.
     */

    if (memchr(body, '\0', len) != NULL) {
        return TF_ENVELOPE_MALFORMED_JSON;
    }

    tf_json_allocator = allocator;
    end = NULL;
    root = cJSON_ParseWithLengthOpts((const char *) body, len, &end, 0);
    tf_json_allocator = NULL;

    if (root == NULL || !cJSON_IsObject(root) || end == NULL) {
        return TF_ENVELOPE_MALFORMED_JSON;
    }

    /* cJSON stops after the first value: anything but white space after it */

    p = (const u_char *) end;

    if (p < body || p > body + len) {
        return TF_ENVELOPE_MALFORMED_JSON;
    }

    for (rest = body + len - p; rest; rest--, p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            return TF_ENVELOPE_MALFORMED_JSON;
        }
    }

    /*
     * cJSON turns "\u0000" into a NUL inside a C string, which would cut an
     * event name, time or id short without a trace; such a body is refused.
     */

    if (tf_envelope_has_nul(body, len)) {
        return TF_ENVELOPE_INVALID;
    }

    item = cJSON_GetObjectItemCaseSensitive(root, "event");
    if (item == NULL) {
        item = cJSON_GetObjectItemCaseSensitive(root, "type");
    }

    if (tf_envelope_string(item, &env->event) != 0
        || !tf_event_name_valid(env->event.data, env->event.len))
    {
        env->event.data = NULL;
        env->event.len = 0;
        return TF_ENVELOPE_INVALID;
    }

    item = cJSON_GetObjectItemCaseSensitive(root, "timestamp");
    if (item == NULL) {
        item = cJSON_GetObjectItemCaseSensitive(root, "created_at");
    }

    if (tf_envelope_string(item, &env->time) != 0
        || tf_time_parse(env->time.data, env->time.len, &env->epoch) != 0)
    {
        return TF_ENVELOPE_INVALID;
    }

    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(data)) {
        return TF_ENVELOPE_INVALID;
    }

    item = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (item && tf_envelope_string(item, &env->id) != 0) {
        return TF_ENVELOPE_INVALID;
    }

    item = cJSON_GetObjectItemCaseSensitive(root, "test");
    if (item) {
        if (!cJSON_IsBool(item)) {
            return TF_ENVELOPE_INVALID;
        }

        env->test = cJSON_IsTrue(item) ? 1 : 0;
    }

    /* the tenant is optional and its absence or odd shape is not an error */

    org = cJSON_GetObjectItemCaseSensitive(data, "organization");
    item = cJSON_GetObjectItemCaseSensitive(org, "id");

    if (tf_envelope_id(item, allocator, &env->organization_id) != 0) {
        env->organization_id.data = NULL;
        env->organization_id.len = 0;
    }

    return TF_ENVELOPE_OK;
}


int
tf_event_name_valid(const u_char *p, size_t len)
{
    size_t  i, seg, segments;

    seg = 0;
    segments = 1;

    for (i = 0; i < len; i++) {

        if (p[i] == '.') {
            if (seg == 0) {
                return 0;
            }

            segments++;
            seg = 0;
            continue;
        }

        if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')
            || p[i] == '_')
        {
            seg++;
            continue;
        }

        return 0;
    }

    return seg > 0 && segments >= 2;
}


static int
tf_envelope_has_nul(const u_char *p, size_t len)
{
    size_t         n;
    const u_char  *u, *b, *last;

    last = p + len;

    for ( ;; ) {
        u = memchr(p, 'u', last - p);

        if (u == NULL || last - u < 5) {
            return 0;
        }

        if (u > p && u[-1] == '\\' && memcmp(u + 1, "0000", 4) == 0) {

            /* an odd run of backslashes escapes the "u" */

            for (n = 0, b = u - 1; b >= p && *b == '\\'; b--) {
                n++;
            }

            if (n % 2) {
                return 1;
            }
        }

        p = u + 1;
    }
}


/* a non-empty string */

static int
tf_envelope_string(const cJSON *item, tf_str_t *s)
{
    if (!cJSON_IsString(item) || item->valuestring == NULL
        || item->valuestring[0] == '\0')
    {
        return -1;
    }

    s->data = (const u_char *) item->valuestring;
    s->len = strlen(item->valuestring);

    return 0;
}


/* a non-empty string, or an integral number printed in decimal */

static int
tf_envelope_id(const cJSON *item, const tf_allocator_t *allocator,
    tf_str_t *s)
{
    int      n;
    char    *buf;
    double   v;
    int64_t  i;

    if (cJSON_IsString(item)) {
        return tf_envelope_string(item, s);
    }

    if (!cJSON_IsNumber(item)) {
        return -1;
    }

    v = item->valuedouble;

    /* beyond 2^53 a double no longer holds every integer exactly */
    if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0)) {
        return -1;
    }

    i = (int64_t) v;

    if ((double) i != v) {
        return -1;
    }

    buf = allocator->alloc(allocator->ctx, 24);
    if (buf == NULL) {
        return -1;
    }

    n = snprintf(buf, 24, "%lld", (long long) i);
    if (n <= 0 || n >= 24) {
        return -1;
    }

    s->data = (const u_char *) buf;
    s->len = (size_t) n;

    return 0;
}
