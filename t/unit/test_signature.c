
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * tf_signature: hex decoding and the chunked, prepared-key HMAC-SHA256,
 * against the fixture signatures and OpenSSL's one-shot HMAC().
 */


#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tf_test.h"
#include "tf_signature.h"


#define SIGNATURES  "t/fixtures/samples/SIGNATURES.whsec_test"
#define SECRET      "whsec_test"

#define HEX_LOWER \
    "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"
#define HEX_UPPER \
    "00112233445566778899AABBCCDDEEFF0123456789ABCDEFFEDCBA9876543210"
#define HEX_MIXED \
    "00112233445566778899aAbBcCdDeEfF0123456789AbCdEffEdCbA9876543210"


static const u_char  hex_bytes[TF_DIGEST_LEN] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10
};


static int
is_hex_digit(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


static void
test_decode(void)
{
    int     c, accepted;
    size_t  pos;
    u_char  digest[TF_DIGEST_LEN], buf[80];

    CHECK_EQ(tf_signature_decode(S(HEX_LOWER), digest), 0);
    CHECK(memcmp(digest, hex_bytes, TF_DIGEST_LEN) == 0);

    memset(digest, 0, sizeof(digest));
    CHECK_EQ(tf_signature_decode(S(HEX_UPPER), digest), 0);
    CHECK(memcmp(digest, hex_bytes, TF_DIGEST_LEN) == 0);

    memset(digest, 0, sizeof(digest));
    CHECK_EQ(tf_signature_decode(S(HEX_MIXED), digest), 0);
    CHECK(memcmp(digest, hex_bytes, TF_DIGEST_LEN) == 0);

    /* the extremes */
    CHECK_EQ(tf_signature_decode(S("0000000000000000000000000000000000000000"
                                   "000000000000000000000000"), digest), 0);
    for (pos = 0; pos < TF_DIGEST_LEN && digest[pos] == 0; pos++) { }
    CHECK_EQ(pos, TF_DIGEST_LEN);

    CHECK_EQ(tf_signature_decode(S("ffffffffffffffffffffffffffffffffffffffff"
                                   "FFFFFFFFFFFFFFFFFFFFFFFF"), digest), 0);
    for (pos = 0; pos < TF_DIGEST_LEN && digest[pos] == 0xff; pos++) { }
    CHECK_EQ(pos, TF_DIGEST_LEN);

    /* wrong lengths */
    CHECK_EQ(tf_signature_decode((const u_char *) HEX_LOWER, 63, digest), -1);
    CHECK_EQ(tf_signature_decode((const u_char *) HEX_LOWER "0", 65, digest),
             -1);
    CHECK_EQ(tf_signature_decode((const u_char *) HEX_LOWER "00", 66, digest),
             -1);
    CHECK_EQ(tf_signature_decode((const u_char *) HEX_LOWER, 32, digest), -1);
    CHECK_EQ(tf_signature_decode((const u_char *) HEX_LOWER, 1, digest), -1);
    CHECK_EQ(tf_signature_decode((const u_char *) "", 0, digest), -1);
    CHECK_EQ(tf_signature_decode(S(HEX_LOWER HEX_LOWER), digest), -1);

    /* a scheme prefix is not part of the value */
    CHECK_EQ(tf_signature_decode(S("sha256=" HEX_LOWER), digest), -1);
    CHECK_EQ(tf_signature_decode((const u_char *) "sha256=" HEX_LOWER, 64,
                                 digest), -1);
    CHECK_EQ(tf_signature_decode(S("0x" HEX_LOWER), digest), -1);

    /* white space around it is not trimmed here */
    CHECK_EQ(tf_signature_decode((const u_char *) " " HEX_LOWER, 64, digest),
             -1);
    memcpy(buf, HEX_LOWER, 64);
    buf[63] = ' ';
    CHECK_EQ(tf_signature_decode(buf, 64, digest), -1);

    /* every byte value, at the first, a middle and the last position */
    for (pos = 0; pos < 64; pos += 31) {
        accepted = 0;

        for (c = 0; c < 256; c++) {
            memcpy(buf, HEX_LOWER, 64);
            buf[pos] = (u_char) c;

            if (tf_signature_decode(buf, 64, digest) == 0) {
                accepted++;

                CHECK_MSG(is_hex_digit(c), "byte 0x%02x accepted at %zu",
                          c, pos);

            } else {
                CHECK_MSG(!is_hex_digit(c), "hex digit '%c' rejected at %zu",
                          c, pos);
            }
        }

        CHECK_EQ(accepted, 22);
    }

    /* a NUL inside the 64 bytes does not end the value early */
    memcpy(buf, HEX_LOWER, 64);
    buf[40] = '\0';
    CHECK_EQ(tf_signature_decode(buf, 64, digest), -1);
}


/* splits body into chunks of the sizes in sizes[] (cycled), then hmac */

static void
hmac_split(const tf_hmac_key_t *key, const u_char *body, size_t len,
    const size_t *sizes, size_t nsizes, u_char digest[TF_DIGEST_LEN])
{
    size_t       n, off, k, size;
    tf_chunk_t  *chunks;

    /* worst case: 1-byte chunks, with an empty chunk before each */
    chunks = malloc((2 * len + 2) * sizeof(tf_chunk_t));
    if (chunks == NULL) {
        abort();
    }

    n = 0;
    off = 0;

    for (k = 0; off < len; k++) {
        size = sizes[k % nsizes];

        if (size > len - off) {
            size = len - off;
        }

        chunks[n].data = body + off;
        chunks[n].len = size;
        n++;
        off += size;
    }

    tf_hmac_compute(key, chunks, n, digest);

    free(chunks);
}


static void
reference_hmac(const u_char *secret, size_t slen, const u_char *body,
    size_t len, u_char digest[TF_DIGEST_LEN])
{
    unsigned int  dlen;

    dlen = 0;

    if (HMAC(EVP_sha256(), secret, (int) slen, body, len, digest, &dlen)
        == NULL || dlen != TF_DIGEST_LEN)
    {
        fprintf(stderr, "unit: HMAC() failed\n");
        abort();
    }
}


static void
test_fixture_vectors(void)
{
    char           *line, *name, path[512];
    size_t          siglen, len, i, nfiles, bit;
    u_char         *sigs, *body, expected[TF_DIGEST_LEN],
                    digest[TF_DIGEST_LEN], flipped[TF_DIGEST_LEN];
    tf_chunk_t      one;
    tf_hmac_key_t   key;

    static const size_t  one_byte[] = { 1 };
    static const size_t  two_three[] = { 2, 3 };
    static const size_t  blocks[] = { 63, 64, 65 };
    static const size_t  odd[] = { 7, 1, 100, 13, 0, 55, 2, 128, 5 };
    static const size_t  big[] = { 4096 };
    static const size_t  head[] = { 1, 1000000 };

    tf_hmac_key_init(&key, S(SECRET));

    sigs = tf_test_read_file(SIGNATURES, &siglen);
    sigs = realloc(sigs, siglen + 1);
    if (sigs == NULL) {
        abort();
    }
    sigs[siglen] = '\0';

    nfiles = 0;

    for (line = strtok((char *) sigs, "\n"); line;
         line = strtok(NULL, "\n"))
    {
        name = strstr(line, "  ");
        if (name == NULL) {
            continue;
        }

        CHECK_EQ(name - line, 64);
        CHECK_EQ(tf_signature_decode((u_char *) line, 64, expected), 0);

        name += 2;
        snprintf(path, sizeof(path), "t/fixtures/%s", name);

        body = tf_test_read_file(path, &len);
        nfiles++;

        /* the reference agrees with the fixture file */
        reference_hmac(S(SECRET), body, len, digest);
        CHECK_MSG(memcmp(digest, expected, TF_DIGEST_LEN) == 0,
                  "OpenSSL HMAC of %s", name);

        one.data = body;
        one.len = len;

        memset(digest, 0, sizeof(digest));
        tf_hmac_compute(&key, &one, 1, digest);
        CHECK_MSG(memcmp(digest, expected, TF_DIGEST_LEN) == 0,
                  "one chunk: %s", name);
        CHECK_MSG(tf_hmac_matches(&key, &one, 1, expected), "%s", name);

#define SPLIT(sizes)                                                         \
        memset(digest, 0, sizeof(digest));                                   \
        hmac_split(&key, body, len, sizes,                                   \
                   sizeof(sizes) / sizeof(sizes[0]), digest);                \
        CHECK_MSG(memcmp(digest, expected, TF_DIGEST_LEN) == 0,              \
                  "%s split by %s", name, #sizes)

        SPLIT(one_byte);
        SPLIT(two_three);
        SPLIT(blocks);
        SPLIT(odd);
        SPLIT(big);
        SPLIT(head);

#undef SPLIT

        /* any single flipped bit of the digest is refused */
        for (bit = 0; bit < TF_DIGEST_LEN * 8; bit++) {
            memcpy(flipped, expected, TF_DIGEST_LEN);
            flipped[bit / 8] ^= (u_char) (1u << (bit % 8));

            if (tf_hmac_matches(&key, &one, 1, flipped)) {
                break;
            }
        }
        CHECK_MSG(bit == TF_DIGEST_LEN * 8, "flipped bit %zu matched (%s)",
                  bit, name);

        /* the body with one flipped bit anywhere does not match */
        for (i = 0; i < len; i += 17) {
            body[i] ^= 0x01;
            if (tf_hmac_matches(&key, &one, 1, expected)) {
                break;
            }
            body[i] ^= 0x01;
        }
        CHECK_MSG(i >= len, "body bit flip at %zu matched (%s)", i, name);

        /* so does a truncated body, or one with a trailing newline */
        one.len = len - 1;
        CHECK(!tf_hmac_matches(&key, &one, 1, expected));

        free(body);
    }

    CHECK_EQ(nfiles, 5);

    free(sigs);
}


static void
test_keys(void)
{
    size_t         i, j;
    u_char         secret[300], body[1000], expected[TF_DIGEST_LEN],
                   digest[TF_DIGEST_LEN];
    tf_chunk_t     chunks[3];
    tf_hmac_key_t  key;

    static const size_t  key_lens[] = { 0, 1, 10, 31, 32, 33, 63, 64, 65,
                                        100, 128, 129, 300 };
    static const size_t  body_lens[] = { 0, 1, 55, 56, 63, 64, 65, 119,
                                         120, 1000 };
    static const size_t  one_byte[] = { 1 };

    for (i = 0; i < sizeof(secret); i++) {
        secret[i] = (u_char) (i * 7 + 3);
    }

    for (i = 0; i < sizeof(body); i++) {
        body[i] = (u_char) (i * 13 + 5);
    }

    for (i = 0; i < sizeof(key_lens) / sizeof(key_lens[0]); i++) {
        tf_hmac_key_init(&key, secret, key_lens[i]);

        for (j = 0; j < sizeof(body_lens) / sizeof(body_lens[0]); j++) {
            reference_hmac(secret, key_lens[i], body, body_lens[j], expected);

            chunks[0].data = body;
            chunks[0].len = body_lens[j];

            memset(digest, 0, sizeof(digest));
            tf_hmac_compute(&key, chunks, 1, digest);
            CHECK_MSG(memcmp(digest, expected, TF_DIGEST_LEN) == 0,
                      "key %zu bytes, body %zu bytes", key_lens[i],
                      body_lens[j]);

            memset(digest, 0, sizeof(digest));
            hmac_split(&key, body, body_lens[j], one_byte, 1, digest);
            CHECK_MSG(memcmp(digest, expected, TF_DIGEST_LEN) == 0,
                      "key %zu bytes, body %zu bytes in 1-byte chunks",
                      key_lens[i], body_lens[j]);
        }
    }

    /*
     * A key longer than the 64-byte block is hashed first (RFC 2104):
     * HMAC(K) == HMAC(SHA256(K)) for such keys, and the prepared state
     * is reusable: the same body gives the same digest twice.
     */
    tf_hmac_key_init(&key, secret, 200);
    reference_hmac(secret, 200, S("hello"), expected);

    chunks[0].data = (const u_char *) "hel";
    chunks[0].len = 3;
    chunks[1].data = (const u_char *) "";
    chunks[1].len = 0;
    chunks[2].data = (const u_char *) "lo";
    chunks[2].len = 2;

    CHECK(tf_hmac_matches(&key, chunks, 3, expected));
    CHECK(tf_hmac_matches(&key, chunks, 3, expected));

    {
        u_char  hashed[TF_DIGEST_LEN];

        SHA256(secret, 200, hashed);
        tf_hmac_key_init(&key, hashed, TF_DIGEST_LEN);
        CHECK(tf_hmac_matches(&key, chunks, 3, expected));
    }

    /* RFC 4231 test case 6: a 131-byte key of 0xaa */
    memset(secret, 0xaa, 131);
    tf_hmac_key_init(&key, secret, 131);
    CHECK_EQ(tf_signature_decode(S("60e431591ee0b67f0d8a26aacbf5b77f"
                                   "8e0bc6213728c5140546040f0ee37f54"),
                                 expected), 0);
    chunks[0].data = (const u_char *)
                     "Test Using Larger Than Block-Size Key - Hash Key First";
    chunks[0].len = strlen((const char *) chunks[0].data);
    CHECK(tf_hmac_matches(&key, chunks, 1, expected));

    /* RFC 4231 test case 2: key "Jefe" */
    tf_hmac_key_init(&key, S("Jefe"));
    CHECK_EQ(tf_signature_decode(S("5bdcc146bf60754e6a042426089575c7"
                                   "5a003f089d2739839dec58b964ec3843"),
                                 expected), 0);
    chunks[0].data = (const u_char *) "what do ya want ";
    chunks[0].len = 16;
    chunks[1].data = (const u_char *) "for nothing?";
    chunks[1].len = 12;
    CHECK(tf_hmac_matches(&key, chunks, 2, expected));

    /* a wrong key does not match */
    tf_hmac_key_init(&key, S("Jeff"));
    CHECK(!tf_hmac_matches(&key, chunks, 2, expected));
}


static void
test_empty_body(void)
{
    u_char         expected[TF_DIGEST_LEN], digest[TF_DIGEST_LEN];
    tf_chunk_t     chunk;
    tf_hmac_key_t  key;

    tf_hmac_key_init(&key, S(SECRET));
    reference_hmac(S(SECRET), (const u_char *) "", 0, expected);

    /* no chunks at all */
    memset(digest, 0, sizeof(digest));
    tf_hmac_compute(&key, NULL, 0, digest);
    CHECK(memcmp(digest, expected, TF_DIGEST_LEN) == 0);
    CHECK(tf_hmac_matches(&key, NULL, 0, expected));

    /* one empty chunk */
    chunk.data = (const u_char *) "";
    chunk.len = 0;
    CHECK(tf_hmac_matches(&key, &chunk, 1, expected));

    /* HMAC-SHA256("whsec_test", ""), as computed by openssl dgst */
    CHECK_EQ(tf_signature_decode(S("43c0f4d23c8e8841358fad4624b1a592"
                                   "799222b29f25bb59baea43cdcb522ed1"),
                                 digest), 0);
    CHECK(memcmp(digest, expected, TF_DIGEST_LEN) == 0);

    /* the empty body's digest is not all zeroes */
    memset(digest, 0, sizeof(digest));
    CHECK(!tf_hmac_matches(&key, NULL, 0, digest));
}


void
test_signature(void)
{
    test_decode();
    test_fixture_vectors();
    test_keys();
    test_empty_body();
}
