
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 */


/*
 * SHA256_CTX is a plain struct: a keyed HMAC state prepared once is copied
 * per request without allocation, which OpenSSL 3.0's EVP_MAC_CTX_dup() and
 * EVP_MD_CTX_copy_ex() cannot do (both duplicate provider contexts on the
 * heap).  The low-level SHA-256 API is deprecated in 3.x, not removed.
 */
#define OPENSSL_SUPPRESS_DEPRECATED


#include <stdint.h>
#include <string.h>
#include <openssl/crypto.h>

#include "tf_signature.h"


#define TF_HMAC_BLOCK  64


/*
 * A hex digit's value with 0x10 set; zero for anything else.  And-ed
 * together over the whole signature, the flag is tested once, not per digit.
 */
static const u_char  tf_hex[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14,
    ['5'] = 0x15, ['6'] = 0x16, ['7'] = 0x17, ['8'] = 0x18, ['9'] = 0x19,
    ['a'] = 0x1a, ['b'] = 0x1b, ['c'] = 0x1c, ['d'] = 0x1d, ['e'] = 0x1e,
    ['f'] = 0x1f,
    ['A'] = 0x1a, ['B'] = 0x1b, ['C'] = 0x1c, ['D'] = 0x1d, ['E'] = 0x1e,
    ['F'] = 0x1f
};


int
tf_signature_decode(const u_char *hex, size_t len,
    u_char digest[TF_DIGEST_LEN])
{
    size_t  i;
    u_char  hi, lo, valid;

    if (len != TF_SIGNATURE_LEN) {
        return -1;
    }

    valid = 0x10;

    for (i = 0; i < TF_DIGEST_LEN; i++) {
        hi = tf_hex[hex[2 * i]];
        lo = tf_hex[hex[2 * i + 1]];

        valid &= hi & lo;
        digest[i] = (u_char) ((hi & 0x0f) << 4 | (lo & 0x0f));
    }

    return valid ? 0 : -1;
}


void
tf_hmac_key_init(tf_hmac_key_t *key, const u_char *secret, size_t len)
{
    size_t  i;
    u_char  block[TF_HMAC_BLOCK], pad[TF_HMAC_BLOCK];

    memset(block, 0, sizeof(block));

    if (len > TF_HMAC_BLOCK) {
        SHA256(secret, len, block);

    } else if (len) {
        memcpy(block, secret, len);
    }

    for (i = 0; i < TF_HMAC_BLOCK; i++) {
        pad[i] = block[i] ^ 0x36;
    }

    SHA256_Init(&key->inner);
    SHA256_Update(&key->inner, pad, TF_HMAC_BLOCK);

    for (i = 0; i < TF_HMAC_BLOCK; i++) {
        pad[i] = block[i] ^ 0x5c;
    }

    SHA256_Init(&key->outer);
    SHA256_Update(&key->outer, pad, TF_HMAC_BLOCK);

    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
}


void
tf_hmac_start(tf_hmac_t *hmac, const tf_hmac_key_t *key)
{
    hmac->sha = key->inner;
}


void
tf_hmac_update(tf_hmac_t *hmac, const u_char *p, size_t len)
{
    SHA256_Update(&hmac->sha, p, len);
}


static void
tf_hmac_outer(tf_hmac_t *hmac, const tf_hmac_key_t *key,
    u_char digest[TF_DIGEST_LEN])
{
    SHA256_CTX  outer;

    SHA256_Final(digest, &hmac->sha);

    outer = key->outer;
    SHA256_Update(&outer, digest, TF_DIGEST_LEN);
    SHA256_Final(digest, &outer);
}


void
tf_hmac_compute(const tf_hmac_key_t *key, const tf_chunk_t *chunks,
    size_t nchunks, u_char digest[TF_DIGEST_LEN])
{
    size_t     i;
    tf_hmac_t  hmac;

    tf_hmac_start(&hmac, key);

    for (i = 0; i < nchunks; i++) {
        tf_hmac_update(&hmac, chunks[i].data, chunks[i].len);
    }

    tf_hmac_outer(&hmac, key, digest);
}


/* CRYPTO_memcmp() takes as long wherever the digests differ */

int
tf_hmac_matches(const tf_hmac_key_t *key, const tf_chunk_t *chunks,
    size_t nchunks, const u_char expected[TF_DIGEST_LEN])
{
    u_char  digest[TF_DIGEST_LEN];

    tf_hmac_compute(key, chunks, nchunks, digest);

    return CRYPTO_memcmp(digest, expected, TF_DIGEST_LEN) == 0;
}


int
tf_hmac_finish_matches(tf_hmac_t *hmac, const tf_hmac_key_t *key,
    const u_char expected[TF_DIGEST_LEN])
{
    u_char  digest[TF_DIGEST_LEN];

    tf_hmac_outer(hmac, key, digest);

    return CRYPTO_memcmp(digest, expected, TF_DIGEST_LEN) == 0;
}


void
tf_sha256(const u_char *p, size_t len, u_char digest[TF_DIGEST_LEN])
{
    SHA256(p, len, digest);
}


void
tf_sha256_prefixed(const u_char prefix[TF_DIGEST_LEN], const u_char *p,
    size_t len, u_char digest[TF_DIGEST_LEN])
{
    SHA256_CTX  sha;

    SHA256_Init(&sha);
    SHA256_Update(&sha, prefix, TF_DIGEST_LEN);
    SHA256_Update(&sha, p, len);
    SHA256_Final(digest, &sha);
}
