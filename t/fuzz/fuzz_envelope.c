
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Input: a request body.  It is parsed into a recording arena (one
 * malloc() per block, so ASan sees each block's bounds; all freed after
 * the parse, so LeakSanitizer sees anything cJSON kept outside it), and
 * the result checked: on OK a valid event name, a time that parses to the
 * epoch, every string non-NULL and inside the arena.  The body is parsed
 * again with the allocator failing part-way: the result must be the same,
 * or MALFORMED_JSON, or OK with the organization id lost.  And once more
 * under cJSON's own hooks, as if another library had replaced ours: the
 * same result, the strings in the arena, the tree freed.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "tf_arena.h"
#include "tf_envelope.h"
#include "tf_time.h"


static int
str_ok(const tf_arena_t *a, const tf_str_t *s)
{
    return s->len == 0 || (s->data && tf_arena_owns(a, s->data, s->len));
}


static int
str_eq(const tf_str_t *a, const tf_str_t *b)
{
    return a->len == b->len && (a->len == 0
                                || memcmp(a->data, b->data, a->len) == 0);
}


static void
check(const tf_arena_t *a, const tf_envelope_t *env, tf_envelope_rc_e rc)
{
    int64_t  epoch;

    if (!str_ok(a, &env->event) || !str_ok(a, &env->id)
        || !str_ok(a, &env->time) || !str_ok(a, &env->organization_id))
    {
        abort();
    }

    switch (rc) {

    case TF_ENVELOPE_OK:
        if (env->event.data == NULL || env->time.data == NULL
            || !tf_event_name_valid(env->event.data, env->event.len)
            /* "resource.action" is three bytes at least */
            || (tf_event_name_conventional(env->event.data, env->event.len)
                && env->event.len < 3)
            || tf_time_parse(env->time.data, env->time.len, &epoch) != 0
            || epoch != env->epoch
            || (env->id.len && env->id.data == NULL)
            || (env->organization_id.len
                && env->organization_id.data == NULL))
        {
            abort();
        }

        break;

    case TF_ENVELOPE_INVALID:
        if (env->event.len
            && !tf_event_name_valid(env->event.data, env->event.len))
        {
            abort();
        }

        break;

    case TF_ENVELOPE_MALFORMED_JSON:
        if (env->event.len || env->id.len || env->time.len
            || env->organization_id.len || env->test)
        {
            abort();
        }

        break;

    default:
        abort();
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    tf_envelope_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t            calls;
    tf_arena_t        a, b;
    tf_envelope_t     env, env2;
    tf_allocator_t    alloc;
    tf_envelope_rc_e  rc, rc2;

    memset(&a, 0, sizeof(a));
    alloc.alloc = tf_arena_alloc;
    alloc.ctx = &a;

    rc = tf_envelope_parse(data, size, &alloc, &env);
    check(&a, &env, rc);
    calls = a.calls;

    /* again, the allocator failing at a call chosen from the input */

    if (calls) {
        memset(&b, 0, sizeof(b));
        b.fail_at = 1 + (size * 31 + (size ? data[size / 2] : 0)) % calls;
        alloc.ctx = &b;

        rc2 = tf_envelope_parse(data, size, &alloc, &env2);
        check(&b, &env2, rc2);

        if (rc2 != rc && rc2 != TF_ENVELOPE_MALFORMED_JSON) {
            abort();
        }

        if (rc2 == TF_ENVELOPE_OK
            && (!str_eq(&env.event, &env2.event) || !str_eq(&env.id, &env2.id)
                || !str_eq(&env.time, &env2.time) || env.epoch != env2.epoch
                || env.test != env2.test
                || !(str_eq(&env.organization_id, &env2.organization_id)
                     || env2.organization_id.len == 0)))
        {
            abort();
        }

        tf_arena_free(&b);
    }

    /* under someone else's hooks */

    memset(&b, 0, sizeof(b));
    alloc.ctx = &b;

    cJSON_InitHooks(NULL);
    rc2 = tf_envelope_parse(data, size, &alloc, &env2);
    tf_envelope_init();

    check(&b, &env2, rc2);

    if (rc2 != rc || !str_eq(&env.event, &env2.event)
        || !str_eq(&env.id, &env2.id) || !str_eq(&env.time, &env2.time)
        || !str_eq(&env.organization_id, &env2.organization_id)
        || env.epoch != env2.epoch || env.test != env2.test)
    {
        abort();
    }

    tf_arena_free(&b);
    tf_arena_free(&a);

    return 0;
}
