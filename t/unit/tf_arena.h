
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * A test arena for tf_allocator_t: every allocation is a separate malloc()
 * (so that ASan sees each block's bounds) and is recorded, so that the
 * whole arena is freed at once, the way an nginx request pool is, and
 * pointers can be checked to come from it.  Optionally fails from the
 * n-th allocation on, to exercise out-of-memory paths.
 * Shared by the unit tests and the fuzz targets.
 */


#ifndef _TF_ARENA_H_INCLUDED_
#define _TF_ARENA_H_INCLUDED_


#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/types.h>


typedef struct {
    u_char   *data;
    size_t    size;
} tf_arena_block_t;


typedef struct {
    tf_arena_block_t  *blocks;
    size_t             nblocks;
    size_t             nalloc;
    size_t             bytes;       /* total requested */
    size_t             fail_at;     /* fail the n-th alloc and on; 0: never */
    size_t             calls;       /* alloc() calls, failed ones included */
} tf_arena_t;


static inline void *
tf_arena_alloc(void *ctx, size_t size)
{
    u_char      *p;
    tf_arena_t  *a = ctx;

    a->calls++;

    if (a->fail_at && a->calls >= a->fail_at) {
        return NULL;
    }

    if (a->nblocks == a->nalloc) {
        tf_arena_block_t  *b;
        size_t             n = a->nalloc ? 2 * a->nalloc : 64;

        b = realloc(a->blocks, n * sizeof(tf_arena_block_t));
        if (b == NULL) {
            return NULL;
        }

        a->blocks = b;
        a->nalloc = n;
    }

    p = malloc(size ? size : 1);
    if (p == NULL) {
        return NULL;
    }

    /* garbage, not zeroes: callers must not rely on zeroed memory */
    memset(p, 0xa5, size);

    a->blocks[a->nblocks].data = p;
    a->blocks[a->nblocks].size = size;
    a->nblocks++;
    a->bytes += size;

    return p;
}


/* 1 when [p, p + len) lies inside one block of the arena */

static inline int
tf_arena_owns(const tf_arena_t *a, const void *p, size_t len)
{
    size_t     i;
    uintptr_t  s, b;

    s = (uintptr_t) p;

    for (i = 0; i < a->nblocks; i++) {
        b = (uintptr_t) a->blocks[i].data;

        if (s >= b && len <= a->blocks[i].size
            && s - b <= a->blocks[i].size - len)
        {
            return 1;
        }
    }

    return 0;
}


static inline void
tf_arena_free(tf_arena_t *a)
{
    size_t  i;

    for (i = 0; i < a->nblocks; i++) {
        free(a->blocks[i].data);
    }

    free(a->blocks);
    memset(a, 0, sizeof(tf_arena_t));
}


#endif /* _TF_ARENA_H_INCLUDED_ */
