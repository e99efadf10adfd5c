
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Input: <header> '\n' <seed byte> <body>.  The header is decoded as a
 * Teachfloor-Signature value and checked against a plain reference
 * decoder.  The body's HMAC under the secret "whsec_test" (the fixtures'
 * secret, so the seeds from t/fixtures match) and under the header used
 * as a key (any length: keys over the 64-byte block are covered),
 * computed in one chunk and in chunks whose sizes follow the seed, must
 * equal OpenSSL's one-shot HMAC(); tf_hmac_matches() with the decoded
 * header must agree with memcmp().
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tf_signature.h"


static int
ref_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
ref_decode(const u_char *p, size_t len, u_char *out)
{
    size_t  i;

    if (len != 64) {
        return -1;
    }

    for (i = 0; i < 64; i++) {
        if (ref_hex(p[i]) < 0) {
            return -1;
        }
    }

    for (i = 0; i < 32; i++) {
        out[i] = (u_char) (ref_hex(p[2 * i]) << 4 | ref_hex(p[2 * i + 1]));
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, ref_rc;
    size_t          hlen, blen, n, off, k, step, i, slen;
    u_char          seed, digest[TF_DIGEST_LEN], ref_digest[TF_DIGEST_LEN],
                    ref_hmac[TF_DIGEST_LEN], got[TF_DIGEST_LEN];
    unsigned int    dlen;
    const u_char   *nl, *body, *secret;
    tf_chunk_t     *chunks, whole;
    tf_hmac_key_t   key;

    nl = memchr(data, '\n', size);
    hlen = nl ? (size_t) (nl - data) : size;

    /* the decoder */

    memset(digest, 0, sizeof(digest));
    memset(ref_digest, 0, sizeof(ref_digest));

    rc = tf_signature_decode(data, hlen, digest);
    ref_rc = ref_decode(data, hlen, ref_digest);

    if (rc != ref_rc || (rc == 0 && memcmp(digest, ref_digest, 32) != 0)) {
        abort();
    }

    if (nl == NULL) {
        return 0;
    }

    body = nl + 1;
    blen = size - hlen - 1;
    seed = 0;

    if (blen) {
        seed = body[0];
        body++;
        blen--;
    }

    /* chunks: sizes 1 + (seed-driven walk), empty chunks in between */

    chunks = malloc((2 * blen + 1) * sizeof(tf_chunk_t));
    if (chunks == NULL) {
        return 0;
    }

    n = 0;
    off = 0;

    for (k = 0; off < blen; k++) {
        if (seed & (1u << (k % 8)) && k % 3 == 0) {
            chunks[n].data = body + off;
            chunks[n].len = 0;
            n++;
        }

        step = 1 + ((seed * (k + 1) * 2654435761u) >> 7) % (1 + seed % 70);

        if (step > blen - off) {
            step = blen - off;
        }

        chunks[n].data = body + off;
        chunks[n].len = step;
        n++;
        off += step;
    }

    whole.data = body;
    whole.len = blen;

    for (i = 0; i < 2; i++) {
        secret = i ? data : (const u_char *) "whsec_test";
        slen = i ? hlen : 10;

        tf_hmac_key_init(&key, secret, slen);

        if (HMAC(EVP_sha256(), secret, (int) slen, body, blen, ref_hmac,
                 &dlen)
            == NULL || dlen != TF_DIGEST_LEN)
        {
            abort();
        }

        tf_hmac_compute(&key, chunks, n, got);

        if (memcmp(got, ref_hmac, TF_DIGEST_LEN) != 0
            || !tf_hmac_matches(&key, chunks, n, ref_hmac))
        {
            abort();
        }

        /* one chunk, or none, give the same */

        tf_hmac_compute(&key, &whole, blen ? 1 : 0, got);

        if (memcmp(got, ref_hmac, TF_DIGEST_LEN) != 0) {
            abort();
        }

        /* the decoded header as the expected digest: matches iff equal */

        if (rc == 0
            && tf_hmac_matches(&key, chunks, n, digest)
               != (memcmp(digest, ref_hmac, TF_DIGEST_LEN) == 0))
        {
            abort();
        }
    }

    free(chunks);

    return 0;
}
