
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * A tiny unit-test harness: CHECK/CHECK_EQ report file:line on failure and
 * count passes and failures; tf_test_summary() prints the totals line.
 * Every test file includes this header; the runner (unit_main.c) holds
 * the counters and calls each test_*() function.
 */


#ifndef _TF_TEST_H_INCLUDED_
#define _TF_TEST_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/types.h>


extern unsigned long  tf_test_passed;
extern unsigned long  tf_test_failed;


#define TF_FAIL_AT(...)                                                      \
    do {                                                                     \
        tf_test_failed++;                                                    \
        fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                \
        fprintf(stderr, __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                 \
    } while (0)


#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            tf_test_passed++;                                                \
        } else {                                                             \
            TF_FAIL_AT("%s", #cond);                                         \
        }                                                                    \
    } while (0)


/* CHECK_MSG(cond, "fmt", args...): the message gives context on failure */
#define CHECK_MSG(cond, ...)                                                 \
    do {                                                                     \
        if (cond) {                                                          \
            tf_test_passed++;                                                \
        } else {                                                             \
            TF_FAIL_AT("%s", #cond);                                         \
            fprintf(stderr, "    ");                                         \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)


/* integers (compared and printed as intmax_t) */
#define CHECK_EQ(a, b)                                                       \
    do {                                                                     \
        intmax_t  tf_a_ = (intmax_t) (a), tf_b_ = (intmax_t) (b);           \
        if (tf_a_ == tf_b_) {                                                \
            tf_test_passed++;                                                \
        } else {                                                             \
            TF_FAIL_AT("%s == %s: %jd != %jd", #a, #b, tf_a_, tf_b_);        \
        }                                                                    \
    } while (0)


/* a (data, len) byte string against a C string */
#define CHECK_STR(data, len, cstr)                                           \
    do {                                                                     \
        const void  *tf_d_ = (data);                                         \
        size_t       tf_l_ = (len);                                          \
        const char  *tf_s_ = (cstr);                                         \
        if (tf_l_ == strlen(tf_s_)                                           \
            && (tf_l_ == 0 || (tf_d_ && memcmp(tf_d_, tf_s_, tf_l_) == 0)))  \
        {                                                                    \
            tf_test_passed++;                                                \
        } else {                                                             \
            TF_FAIL_AT("%s == \"%s\": got \"%.*s\" (len %zu)", #data,        \
                       tf_s_, tf_d_ ? (int) tf_l_ : 6,                       \
                       tf_d_ ? (const char *) tf_d_ : "(null)", tf_l_);      \
        }                                                                    \
    } while (0)


#define S(lit)  (const u_char *) (lit), (sizeof(lit) - 1)


/*
 * Reads a whole file (a path relative to the repository root, where the
 * runner starts) into a malloc()ed buffer of exactly its size; exits on
 * failure.
 */
u_char *tf_test_read_file(const char *path, size_t *len);


void test_signature(void);
void test_time(void);
void test_envelope(void);
void test_pattern(void);
void test_prom(void);
void test_spool(void);


#endif /* _TF_TEST_H_INCLUDED_ */
