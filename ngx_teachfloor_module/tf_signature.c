
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


#include <string.h>
#include <openssl/crypto.h>

#include "tf_signature.h"


#define TF_HMAC_BLOCK  64


/* a hex digit's value plus one; zero for anything else */
static const u_char  tf_hex[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
    ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16
};


int
tf_signature_decode(const u_char *hex, size_t len,
    u_char digest[TF_DIGEST_LEN])
{
    size_t  i;
    u_char  hi, lo;

    if (len != TF_SIGNATURE_LEN) {
        return -1;
    }

    for (i = 0; i < TF_DIGEST_LEN; i++) {
        hi = tf_hex[hex[2 * i]];
        lo = tf_hex[hex[2 * i + 1]];

        if (hi == 0 || lo == 0) {
            return -1;
        }

        digest[i] = (u_char) ((hi - 1) << 4 | (lo - 1));
    }

    return 0;
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
tf_hmac_compute(const tf_hmac_key_t *key, const tf_chunk_t *chunks,
    size_t nchunks, u_char digest[TF_DIGEST_LEN])
{
    size_t      i;
    u_char      inner[TF_DIGEST_LEN];
    SHA256_CTX  sha;

    sha = key->inner;

    for (i = 0; i < nchunks; i++) {
        SHA256_Update(&sha, chunks[i].data, chunks[i].len);
    }

    SHA256_Final(inner, &sha);

    sha = key->outer;
    SHA256_Update(&sha, inner, TF_DIGEST_LEN);
    SHA256_Final(digest, &sha);
}


int
tf_hmac_matches(const tf_hmac_key_t *key, const tf_chunk_t *chunks,
    size_t nchunks, const u_char expected[TF_DIGEST_LEN])
{
    u_char  digest[TF_DIGEST_LEN];

    tf_hmac_compute(key, chunks, nchunks, digest);

    return CRYPTO_memcmp(digest, expected, TF_DIGEST_LEN) == 0;
}


void
tf_sha256(const u_char *p, size_t len, u_char digest[TF_DIGEST_LEN])
{
    SHA256(p, len, digest);
}
