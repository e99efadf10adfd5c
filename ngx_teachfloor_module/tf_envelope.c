
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
static tf_envelope_rc_e tf_envelope_read(cJSON *root, const u_char *body,
    size_t len, const char *end, tf_allocator_t *allocator,
    tf_envelope_t *env);
static int tf_envelope_copy(tf_allocator_t *allocator, tf_envelope_t *env);
static int tf_envelope_has_nul(const u_char *p, size_t len);
static int tf_key_is(const char *key, const char *name);
static cJSON *tf_member(const cJSON *object, const char *name);
static int tf_envelope_string(const cJSON *item, tf_str_t *s);
static int tf_envelope_id(const cJSON *item, tf_allocator_t *allocator,
    tf_str_t *s);
static int tf_str_copy(tf_allocator_t *allocator, tf_str_t *s);
static int tf_has_control(const tf_str_t *s);
static tf_envelope_rc_e tf_envelope_error(tf_envelope_t *env,
    tf_envelope_rc_e rc, const char *error, const u_char *body,
    const u_char *at);


#if (defined __STDC_VERSION__ && __STDC_VERSION__ >= 201112L)
#define tf_thread_local  _Thread_local
#else
#define tf_thread_local  __thread
#endif

/*
 * In a shared object, a thread-local variable is found by a call to
 * __tls_get_addr() on every use, here once per cJSON node: 950 instructions
 * per event.  The initial-exec model reads it at a fixed offset from the
 * thread pointer instead; glibc keeps static TLS aside for a dlopen()ed
 * object with this little of it.
 */
#if (defined __GLIBC__ && defined __GNUC__)
#define tf_tls_model  __attribute__ ((tls_model ("initial-exec")))
#else
#define tf_tls_model
#endif


/*
 * cJSON has process-wide hooks only; the allocator of the parse under way
 * is kept here, per thread, so that another module's cJSON calls on a
 * thread of its own (a thread pool's) go to malloc() and free() even while
 * a worker parses.  Our malloc hook counts its calls: a parse that built a
 * tree without one was served by hooks someone installed after ours.
 */

typedef struct {
    tf_allocator_t   *allocator;
    size_t            calls;
} tf_json_parse_t;


static tf_thread_local tf_json_parse_t  tf_json_parse  tf_tls_model;


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
    tf_json_parse_t  *parse;

    parse = &tf_json_parse;

    if (parse->allocator == NULL) {
        return malloc(size);
    }

    parse->calls++;

    return parse->allocator->alloc(parse->allocator->ctx, size);
}


static void
tf_json_free(void *p)
{
    /* during a parse, everything is released with the allocator's arena */

    if (tf_json_parse.allocator == NULL) {
        free(p);
    }
}


tf_envelope_rc_e
tf_envelope_parse(const u_char *body, size_t len,
    tf_allocator_t *allocator, tf_envelope_t *env)
{
    cJSON             *root;
    const char        *end;
    const u_char      *nul;
    tf_envelope_rc_e   rc;

    memset(env, 0, sizeof(tf_envelope_t));

    if (len == 0) {
        return tf_envelope_error(env, TF_ENVELOPE_MALFORMED_JSON,
                                 "the body is empty", NULL, NULL);
    }

    /*
     * A raw NUL is no JSON, but cJSON takes it inside a string, which C
     * string functions would then cut short.
     */

    nul = memchr(body, '\0', len);

    if (nul != NULL) {
        return tf_envelope_error(env, TF_ENVELOPE_MALFORMED_JSON,
                                 "a raw NUL byte", body, nul);
    }

    tf_json_parse.allocator = allocator;
    tf_json_parse.calls = 0;

    end = NULL;
    root = cJSON_ParseWithLengthOpts((const char *) body, len, &end, 0);

    tf_json_parse.allocator = NULL;

    if (root == NULL) {
        /* on failure cJSON points end where it stopped */
        return tf_envelope_error(env, TF_ENVELOPE_MALFORMED_JSON,
                                 "not JSON, parsing stopped", body,
                                 (const u_char *) end);
    }

    rc = tf_envelope_read(root, body, len, end, allocator, env);

    if (tf_json_parse.calls) {
        return rc;
    }

    /*
     * Not one node came from our hook: cJSON's hooks were replaced after
     * tf_envelope_init(), and the tree is on someone else's heap.  What
     * the envelope keeps is copied out before the tree is freed.
     */

    if (rc != TF_ENVELOPE_MALFORMED_JSON
        && tf_envelope_copy(allocator, env) != 0)
    {
        memset(env, 0, sizeof(tf_envelope_t));
        rc = tf_envelope_error(env, TF_ENVELOPE_MALFORMED_JSON,
                               "out of memory for the envelope", NULL, NULL);
    }

    cJSON_Delete(root);

    return rc;
}


static tf_envelope_rc_e
tf_envelope_read(cJSON *root, const u_char *body, size_t len,
    const char *end, tf_allocator_t *allocator, tf_envelope_t *env)
{
    size_t         rest;
    cJSON         *item, *data, *org, *event, *type, *timestamp,
                  *created_at, *id, *test;
    const char    *key;
    const u_char  *p;

    if (!cJSON_IsObject(root)) {
        return tf_envelope_error(env, TF_ENVELOPE_MALFORMED_JSON,
                                 "the JSON value is not an object", NULL,
                                 NULL);
    }

    /* cJSON stops after the first value: anything but white space after it */

    p = (const u_char *) end;

    if (p == NULL || p < body || p > body + len) {
        return tf_envelope_error(env, TF_ENVELOPE_MALFORMED_JSON,
                                 "cJSON did not say where the object ends",
                                 NULL, NULL);
    }

    for (rest = body + len - p; rest; rest--, p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            return tf_envelope_error(env, TF_ENVELOPE_MALFORMED_JSON,
                                     "text after the JSON object", body, p);
        }
    }

    /*
     * cJSON turns "\u0000" into a NUL inside a C string, which would cut an
     * event name, time or id short without a trace; such a body is refused.
     */

    if (tf_envelope_has_nul(body, len)) {
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 "a string has an escaped NUL (\\u0000)",
                                 NULL, NULL);
    }

    /* one pass over the members; as with cJSON's lookups, the first wins */

    event = NULL;
    type = NULL;
    timestamp = NULL;
    created_at = NULL;
    data = NULL;
    id = NULL;
    test = NULL;

    for (item = root->child; item; item = item->next) {
        key = item->string;

        switch (key[0]) {

        case 'e':
            if (event == NULL && tf_key_is(key, "event")) {
                event = item;
            }
            break;

        case 't':
            if (type == NULL && tf_key_is(key, "type")) {
                type = item;

            } else if (timestamp == NULL && tf_key_is(key, "timestamp")) {
                timestamp = item;

            } else if (test == NULL && tf_key_is(key, "test")) {
                test = item;
            }
            break;

        case 'c':
            if (created_at == NULL && tf_key_is(key, "created_at")) {
                created_at = item;
            }
            break;

        case 'd':
            if (data == NULL && tf_key_is(key, "data")) {
                data = item;
            }
            break;

        case 'i':
            if (id == NULL && tf_key_is(key, "id")) {
                id = item;
            }
            break;
        }
    }

    if (tf_envelope_string(event ? event : type, &env->event) != 0) {
        env->event.data = NULL;
        env->event.len = 0;
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 (event || type)
                                 ? "the event name (\"event\", else \"type\") "
                                   "is not a non-empty string"
                                 : "no \"event\" or \"type\" member",
                                 NULL, NULL);
    }

    if (!tf_event_name_valid(env->event.data, env->event.len)) {
        rest = env->event.len;
        env->event.data = NULL;
        env->event.len = 0;
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 (rest > TF_EVENT_NAME_MAX)
                                 ? "the event name is longer than 256 bytes"
                                 : "the event name has a control character "
                                   "or is not UTF-8",
                                 NULL, NULL);
    }

    if (tf_envelope_string(timestamp ? timestamp : created_at, &env->time)
        != 0)
    {
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 timestamp
                                 ? "\"timestamp\" is not a non-empty string"
                                 : created_at
                                   ? "\"created_at\" is not a non-empty string"
                                   : "no \"timestamp\" or \"created_at\" member",
                                 NULL, NULL);
    }

    if (tf_time_parse(env->time.data, env->time.len, &env->epoch) != 0) {
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 timestamp
                                 ? "\"timestamp\" is not an RFC 3339 date-time"
                                 : "\"created_at\" is not an RFC 3339 "
                                   "date-time",
                                 NULL, NULL);
    }

    if (!cJSON_IsObject(data)) {
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 data ? "\"data\" is not an object"
                                      : "no \"data\" member",
                                 NULL, NULL);
    }

    if (id && tf_envelope_string(id, &env->id) != 0) {
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 "\"id\" is not a non-empty string",
                                 NULL, NULL);
    }

    /* $teachfloor_event_id goes into headers: no line break of its own */

    if (tf_has_control(&env->id)) {
        env->id.data = NULL;
        env->id.len = 0;
        return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                 "\"id\" has a control character",
                                 NULL, NULL);
    }

    if (test) {
        if (!cJSON_IsBool(test)) {
            return tf_envelope_error(env, TF_ENVELOPE_INVALID,
                                     "\"test\" is not a boolean", NULL, NULL);
        }

        env->test = cJSON_IsTrue(test) ? 1 : 0;
    }

    /* the tenant is optional and its absence or odd shape is not an error */

    org = tf_member(data, "organization");
    item = tf_member(org, "id");

    if (tf_envelope_id(item, allocator, &env->organization_id) != 0
        || tf_has_control(&env->organization_id))
    {
        env->organization_id.data = NULL;
        env->organization_id.len = 0;
    }

    return TF_ENVELOPE_OK;
}


static int
tf_has_control(const tf_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


/* what went wrong, for the log line; a byte offset when at is known */

static tf_envelope_rc_e
tf_envelope_error(tf_envelope_t *env, tf_envelope_rc_e rc, const char *error,
    const u_char *body, const u_char *at)
{
    env->error = error;

    if (body && at && at >= body) {
        env->error_at = (size_t) (at - body);
        env->error_has_offset = 1;
    }

    return rc;
}


/* the envelope's strings, out of a tree that is about to be freed */

static int
tf_envelope_copy(tf_allocator_t *allocator, tf_envelope_t *env)
{
    if (tf_str_copy(allocator, &env->event) != 0
        || tf_str_copy(allocator, &env->id) != 0
        || tf_str_copy(allocator, &env->time) != 0)
    {
        return -1;
    }

    /* as when its own allocation fails: the tenant is optional */

    if (tf_str_copy(allocator, &env->organization_id) != 0) {
        env->organization_id.data = NULL;
        env->organization_id.len = 0;
    }

    return 0;
}


static int
tf_str_copy(tf_allocator_t *allocator, tf_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return 0;
    }

    p = allocator->alloc(allocator->ctx, s->len);
    if (p == NULL) {
        return -1;
    }

    memcpy(p, s->data, s->len);
    s->data = p;

    return 0;
}


/*
 * UTF-8 is checked one sequence at a time: its lead byte gives its length
 * and the range of its second byte, which rules out overlong forms,
 * surrogates, code points past U+10FFFF and, after 0xc2, the C1 controls.
 */

int
tf_event_name_valid(const u_char *p, size_t len)
{
    size_t         i, n;
    u_char         c, lo, hi;
    const u_char  *last;

    if (len == 0 || len > TF_EVENT_NAME_MAX) {
        return 0;
    }

    last = p + len;

    while (p < last) {
        c = *p;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return 0;
            }

            p++;
            continue;
        }

        n = 3;
        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            lo = (c == 0xc2) ? 0xa0 : 0x80;

        } else if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;

        } else if (c >= 0xe1 && c <= 0xef) {
            /* void */

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            lo = (c == 0xf0) ? 0x90 : 0x80;
            hi = (c == 0xf4) ? 0x8f : 0xbf;

        } else {
            return 0;
        }

        if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
            return 0;
        }

        for (i = 2; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }
        }

        p += n;
    }

    return 1;
}


/* what a byte may be in an event name: a segment's character, or a dot */

#define TF_NAME_CHAR  1
#define TF_NAME_DOT   2

static const u_char  tf_name_class[256] = {
    ['.'] = TF_NAME_DOT, ['_'] = TF_NAME_CHAR,
    ['0'] = TF_NAME_CHAR, ['1'] = TF_NAME_CHAR, ['2'] = TF_NAME_CHAR,
    ['3'] = TF_NAME_CHAR, ['4'] = TF_NAME_CHAR, ['5'] = TF_NAME_CHAR,
    ['6'] = TF_NAME_CHAR, ['7'] = TF_NAME_CHAR, ['8'] = TF_NAME_CHAR,
    ['9'] = TF_NAME_CHAR,
    ['a'] = TF_NAME_CHAR, ['b'] = TF_NAME_CHAR, ['c'] = TF_NAME_CHAR,
    ['d'] = TF_NAME_CHAR, ['e'] = TF_NAME_CHAR, ['f'] = TF_NAME_CHAR,
    ['g'] = TF_NAME_CHAR, ['h'] = TF_NAME_CHAR, ['i'] = TF_NAME_CHAR,
    ['j'] = TF_NAME_CHAR, ['k'] = TF_NAME_CHAR, ['l'] = TF_NAME_CHAR,
    ['m'] = TF_NAME_CHAR, ['n'] = TF_NAME_CHAR, ['o'] = TF_NAME_CHAR,
    ['p'] = TF_NAME_CHAR, ['q'] = TF_NAME_CHAR, ['r'] = TF_NAME_CHAR,
    ['s'] = TF_NAME_CHAR, ['t'] = TF_NAME_CHAR, ['u'] = TF_NAME_CHAR,
    ['v'] = TF_NAME_CHAR, ['w'] = TF_NAME_CHAR, ['x'] = TF_NAME_CHAR,
    ['y'] = TF_NAME_CHAR, ['z'] = TF_NAME_CHAR
};


int
tf_event_name_conventional(const u_char *p, size_t len)
{
    size_t  i;
    u_char  c, prev, seen;

    /* no empty segment: neither first, nor last, nor two dots in a row */

    prev = TF_NAME_DOT;
    seen = 0;

    for (i = 0; i < len; i++) {
        c = tf_name_class[p[i]];

        if (c == 0 || (c & prev & TF_NAME_DOT)) {
            return 0;
        }

        seen |= c;
        prev = c;
    }

    return prev == TF_NAME_CHAR && (seen & TF_NAME_DOT);
}


u_char *
tf_event_name_escape(u_char *dst, u_char *last, const u_char *p, size_t len)
{
    u_char  c;
    size_t  i, n;

    static const u_char  hex[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        c = p[i];

        n = (c == '"' || c == '\\') ? 2 : (c >= 0x20 && c < 0x7f) ? 1 : 4;

        if ((size_t) (last - dst) < n) {
            break;
        }

        switch (n) {

        case 1:
            *dst++ = c;
            break;

        case 2:
            *dst++ = '\\';
            *dst++ = c;
            break;

        default:
            *dst++ = '\\';
            *dst++ = 'x';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
        }
    }

    return dst;
}


/*
 * A member name against a literal, without a call: the loop stops at the
 * first difference, so it never reads past the end of a shorter name.
 */

static int
tf_key_is(const char *key, const char *name)
{
    while (*key == *name) {
        if (*key == '\0') {
            return 1;
        }

        key++;
        name++;
    }

    return 0;
}


/* the first member of that name, as cJSON_GetObjectItemCaseSensitive() */

static cJSON *
tf_member(const cJSON *object, const char *name)
{
    cJSON  *item;

    if (object == NULL || (object->type & 0xff) != cJSON_Object) {
        return NULL;
    }

    for (item = object->child; item; item = item->next) {
        if (item->string && item->string[0] == name[0]
            && tf_key_is(item->string, name))
        {
            return item;
        }
    }

    return NULL;
}


/*
 * Run on a body cJSON has accepted, where a backslash only ever starts an
 * escape of two characters or, for \uXXXX, six: most bodies have none.
 */

static int
tf_envelope_has_nul(const u_char *p, size_t len)
{
    const u_char  *b, *last;

    last = p + len;

    for ( ;; ) {
        b = memchr(p, '\\', last - p);

        if (b == NULL || last - b < 6) {
            return 0;
        }

        if (b[1] == 'u' && memcmp(b + 2, "0000", 4) == 0) {
            return 1;
        }

        p = b + 2;
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
tf_envelope_id(const cJSON *item, tf_allocator_t *allocator,
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
