
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * The floor under the module's cost per event: what the two libraries it
 * must call need by themselves, outside nginx.  scripts/bench runs this
 * under callgrind at two iteration counts and takes the slope.
 *
 *   floor hmac N BODY SECRET   N x HMAC-SHA256 of BODY with a key prepared
 *                              once (the module's tf_signature.c: keyed
 *                              states copied, OpenSSL's SHA-256 compression)
 *   floor json N BODY          N x cJSON_ParseWithLengthOpts() of BODY, its
 *                              nodes bumped along a static arena reset per
 *                              parse (the cheapest hooks cJSON can have)
 *
 * Each iteration's result is checked, so that none can be optimised away
 * and a wrong body fails loudly.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "tf_signature.h"


static unsigned char  floor_arena[65536];
static size_t         floor_used;


static void *
floor_malloc(size_t size)
{
    size_t  p;

    p = (floor_used + 7) & ~(size_t) 7;

    if (size > sizeof(floor_arena) - p) {
        return NULL;
    }

    floor_used = p + size;

    return floor_arena + p;
}


static void
floor_free(void *p)
{
    (void) p;
}


static unsigned char *
floor_read(const char *path, size_t *len)
{
    FILE           *f;
    long            n;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        exit(2);
    }

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        perror(path);
        exit(2);
    }

    fclose(f);
    *len = (size_t) n;

    return buf;
}


int
main(int argc, char **argv)
{
    long            i, n;
    size_t          len;
    const char     *end;
    cJSON          *root;
    cJSON_Hooks     hooks;
    tf_chunk_t      chunk;
    tf_hmac_key_t   key;
    unsigned char  *body, digest[TF_DIGEST_LEN];

    if (argc < 4 || (strcmp(argv[1], "hmac") == 0 && argc != 5)
        || (strcmp(argv[1], "hmac") != 0 && strcmp(argv[1], "json") != 0)
        || (n = atol(argv[2])) < 1)
    {
        fprintf(stderr, "usage: floor hmac N BODY SECRET | floor json N BODY"
                "\n");
        return 2;
    }

    body = floor_read(argv[3], &len);

    if (strcmp(argv[1], "hmac") == 0) {
        tf_hmac_key_init(&key, (const u_char *) argv[4], strlen(argv[4]));

        chunk.data = body;
        chunk.len = len;

        /* the expected value, then N checks against it, as the module does */
        tf_hmac_compute(&key, &chunk, 1, digest);

        for (i = 0; i < n; i++) {
            if (!tf_hmac_matches(&key, &chunk, 1, digest)) {
                fprintf(stderr, "floor: HMAC mismatch\n");
                return 1;
            }
        }

        return 0;
    }

    hooks.malloc_fn = floor_malloc;
    hooks.free_fn = floor_free;
    cJSON_InitHooks(&hooks);

    for (i = 0; i < n; i++) {
        floor_used = 0;
        end = NULL;

        root = cJSON_ParseWithLengthOpts((const char *) body, len, &end, 0);

        if (root == NULL || !cJSON_IsObject(root)) {
            fprintf(stderr, "floor: %s is not a JSON object\n", argv[3]);
            return 1;
        }
    }

    return 0;
}
