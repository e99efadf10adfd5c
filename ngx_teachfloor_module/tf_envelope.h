
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * The Teachfloor event envelope, in either shape Teachfloor sends:
 *   {"event": ..., "timestamp": ..., "data": {...}, "test": true}
 *   {"id": ..., "type": ..., "created_at": ..., "data": {...}}
 * Pure code: no nginx types.
 */


#ifndef _TF_ENVELOPE_H_INCLUDED_
#define _TF_ENVELOPE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


typedef struct {
    size_t          len;
    const u_char   *data;
} tf_str_t;


/*
 * Where cJSON's nodes and strings go during one parse.  Nothing is freed
 * one by one: the memory must live as long as the envelope's strings are
 * used (the module's per-worker arena and request pool, an arena in tests).
 */
typedef struct {
    void         *(*alloc)(void *ctx, size_t size);
    void           *ctx;
} tf_allocator_t;


typedef enum {
    TF_ENVELOPE_OK = 0,
    TF_ENVELOPE_MALFORMED_JSON,
    TF_ENVELOPE_INVALID
} tf_envelope_rc_e;


typedef struct {
    tf_str_t        event;              /* "event", else "type" */
    tf_str_t        id;                 /* empty when absent */
    tf_str_t        time;               /* "timestamp", else "created_at" */
    tf_str_t        organization_id;    /* data.organization.id, or empty */
    int64_t         epoch;              /* time, seconds since 1970 UTC */
    unsigned        test:1;

    /* when the parse fails: what is wrong, and where when it is a byte */
    const char     *error;
    size_t          error_at;
    unsigned        error_has_offset:1;
} tf_envelope_t;


/*
 * The longest event name accepted: Teachfloor's are a few dozen bytes, and
 * a bound keeps what logs and metrics print of one bounded too.
 */
#define TF_EVENT_NAME_MAX  256


/*
 * Once per process, before any parse: installs cJSON's hooks, which route
 * a parse's allocations to its allocator and any other cJSON call (another
 * thread's, or outside a parse) to malloc() and free().
 */
void tf_envelope_init(void);

/*
 * Parses body as one JSON object (surrounding white space allowed) and
 * validates the envelope.  The strings in env point into memory from
 * allocator, even when someone replaced cJSON's hooks after
 * tf_envelope_init() (the tree is then freed with cJSON_Delete()).  On
 * TF_ENVELOPE_INVALID, env->event is set only if it was valid itself.
 */
tf_envelope_rc_e tf_envelope_parse(const u_char *body, size_t len,
    tf_allocator_t *allocator, tf_envelope_t *env);

/*
 * An event name the gate takes: 1 to TF_EVENT_NAME_MAX bytes of UTF-8 with
 * no control character (U+0000 to U+001F, U+007F to U+009F).
 */
int tf_event_name_valid(const u_char *p, size_t len);

/* "resource.action": two or more dot-separated segments of [a-z0-9_] */
int tf_event_name_conventional(const u_char *p, size_t len);

/*
 * A name for a log line, written to [dst, last) as far as it fits and cut
 * only between characters: printable ASCII as it is, but for '"' and '\'
 * after a backslash, and any other byte as \xNN.  Returns the end.
 */
u_char *tf_event_name_escape(u_char *dst, u_char *last, const u_char *p,
    size_t len);


#endif /* _TF_ENVELOPE_H_INCLUDED_ */
