
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Teachfloor-Signature: lowercase hex HMAC-SHA256 of the raw request body.
 * Pure code: no nginx types, so that it can be unit-tested, fuzzed and
 * benchmarked on its own.
 */


#ifndef _TF_SIGNATURE_H_INCLUDED_
#define _TF_SIGNATURE_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>

#include <openssl/sha.h>


#define TF_DIGEST_LEN       32
#define TF_SIGNATURE_LEN    64


/* the inner and outer SHA-256 states after the padded key blocks */
typedef struct {
    SHA256_CTX      inner;
    SHA256_CTX      outer;
} tf_hmac_key_t;


typedef struct {
    const u_char   *data;
    size_t          len;
} tf_chunk_t;


/* an HMAC under way: the body is fed to it in pieces as it is read */
typedef struct {
    SHA256_CTX      sha;
} tf_hmac_t;


/*
 * Decodes exactly 64 hex digits (either case) into 32 bytes.
 * Returns 0, or -1 for any other length or a non-hex character.
 */
int tf_signature_decode(const u_char *hex, size_t len,
    u_char digest[TF_DIGEST_LEN]);

void tf_hmac_key_init(tf_hmac_key_t *key, const u_char *secret, size_t len);

void tf_hmac_compute(const tf_hmac_key_t *key, const tf_chunk_t *chunks,
    size_t nchunks, u_char digest[TF_DIGEST_LEN]);

void tf_hmac_start(tf_hmac_t *hmac, const tf_hmac_key_t *key);
void tf_hmac_update(tf_hmac_t *hmac, const u_char *p, size_t len);

/* constant-time: 1 when the HMAC fed so far equals expected */
int tf_hmac_finish_matches(tf_hmac_t *hmac, const tf_hmac_key_t *key,
    const u_char expected[TF_DIGEST_LEN]);

/* a plain SHA-256, for keys that must not be stored as sent */
void tf_sha256(const u_char *p, size_t len, u_char digest[TF_DIGEST_LEN]);

/* SHA-256 of prefix and then data, without a copy */
void tf_sha256_prefixed(const u_char prefix[TF_DIGEST_LEN], const u_char *p,
    size_t len, u_char digest[TF_DIGEST_LEN]);

/* constant-time: 1 when the body's HMAC under key equals expected */
int tf_hmac_matches(const tf_hmac_key_t *key, const tf_chunk_t *chunks,
    size_t nchunks, const u_char expected[TF_DIGEST_LEN]);


#endif /* _TF_SIGNATURE_H_INCLUDED_ */
