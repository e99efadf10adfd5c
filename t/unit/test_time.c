
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * tf_time_parse: RFC 3339 date-times to seconds since the epoch.
 */


#include <time.h>

#include "tf_test.h"
#include "tf_time.h"


#define SENTINEL  INT64_C(0x5a5a5a5a5a5a5a5a)


static int64_t
parse_ok(const char *s, int line)
{
    int64_t  epoch;

    epoch = SENTINEL;

    if (tf_time_parse((const u_char *) s, strlen(s), &epoch) != 0) {
        tf_test_failed++;
        fprintf(stderr, "%s:%d: FAIL: \"%s\" rejected\n", __FILE__, line, s);
        return SENTINEL;
    }

    tf_test_passed++;

    return epoch;
}


static void
parse_bad(const u_char *s, size_t len, int line)
{
    int      rc;
    int64_t  epoch;

    epoch = SENTINEL;
    rc = tf_time_parse(s, len, &epoch);

    if (rc == -1 && epoch == SENTINEL) {
        tf_test_passed++;
        return;
    }

    tf_test_failed++;
    fprintf(stderr, "%s:%d: FAIL: \"%.*s\" (len %zu) gave rc %d epoch %"
            PRId64 "\n", __FILE__, line, (int) len, (const char *) s, len,
            rc, epoch);
}


#define EPOCH(s, e)  CHECK_EQ(parse_ok(s, __LINE__), INT64_C(e))
#define BAD(s)       parse_bad((const u_char *) (s), strlen(s), __LINE__)
#define BADN(s)      parse_bad(S(s), __LINE__)


static void
test_valid(void)
{
    /* known instants */
    EPOCH("1970-01-01T00:00:00Z", 0);
    EPOCH("2025-10-07T15:30:00Z", 1759851000);
    EPOCH("2000-01-01T00:00:00Z", 946684800);
    EPOCH("2038-01-19T03:14:08Z", 2147483648);
    EPOCH("1969-12-31T23:59:59Z", -1);
    EPOCH("1900-01-01T00:00:00Z", -2208988800);
    EPOCH("9999-12-31T23:59:59Z", 253402300799);
    EPOCH("0000-01-01T00:00:00Z", -62167219200);
    EPOCH("0001-01-01T00:00:00Z", -62135596800);

    /* lowercase separators */
    EPOCH("2025-10-07t15:30:00Z", 1759851000);
    EPOCH("2025-10-07T15:30:00z", 1759851000);
    EPOCH("2025-10-07t15:30:00z", 1759851000);

    /* fractions are accepted and dropped, never rounded */
    EPOCH("2025-10-07T15:30:00.0Z", 1759851000);
    EPOCH("2025-10-07T15:30:00.5Z", 1759851000);
    EPOCH("2025-10-07T15:30:00.999999999Z", 1759851000);
    EPOCH("2025-10-07T15:30:00.000000Z", 1759851000);
    EPOCH("2025-10-07T15:30:00.123z", 1759851000);
    EPOCH("2025-10-07T15:30:00.12345678901234567890123456789Z", 1759851000);
    EPOCH("2025-10-07T15:30:00.5+02:00", 1759843800);

    /* offsets: the same instant */
    EPOCH("2025-10-07T15:30:00+00:00", 1759851000);
    EPOCH("2025-10-07T15:30:00-00:00", 1759851000);
    EPOCH("2025-10-07T17:30:00+02:00", 1759851000);
    EPOCH("2025-10-07T10:30:00-05:00", 1759851000);
    EPOCH("2025-10-07T21:00:00+05:30", 1759851000);
    EPOCH("2025-10-07T11:45:00-03:45", 1759851000);
    EPOCH("2025-10-08T14:29:00+22:59", 1759851000);
    EPOCH("2025-10-06T16:31:00-22:59", 1759851000);
    EPOCH("2025-10-07T17:30:00.250+02:00", 1759851000);

    /* offsets that cross a day and a year */
    EPOCH("2025-10-07T00:30:00+01:00", 1759793400);
    EPOCH("2025-12-31T23:30:00-01:00", 1767227400);
    EPOCH("1970-01-01T00:00:00+01:00", -3600);
    EPOCH("1969-12-31T23:00:00-01:00", 0);

    /* leap years */
    EPOCH("2024-02-29T00:00:00Z", 1709164800);
    EPOCH("2024-02-29T23:59:59Z", 1709251199);
    EPOCH("2024-03-01T00:00:00Z", 1709251200);
    EPOCH("2025-03-01T00:00:00Z", 1740787200);
    EPOCH("2000-02-29T12:00:00Z", 951825600);

    /* a leap second counts as :59 */
    EPOCH("2016-12-31T23:59:60Z", 1483228799);
    EPOCH("2016-12-31T23:59:60.5Z", 1483228799);
    EPOCH("2017-01-01T00:59:60+01:00", 1483228799);

    /* month ends */
    EPOCH("2025-01-31T00:00:00Z", 1738281600);
    EPOCH("2025-04-30T00:00:00Z", 1745971200);
    EPOCH("2025-12-31T23:59:59Z", 1767225599);
}


static void
test_invalid(void)
{
    int64_t  epoch;

    /* missing or incomplete zone */
    BAD("2025-10-07T15:30:00");
    BAD("2025-10-07T15:30:00.123");
    BAD("2025-10-07T15:30:00+");
    BAD("2025-10-07T15:30:00+01");
    BAD("2025-10-07T15:30:00+01:0");
    BAD("2025-10-07T15:30:00+0100");
    BAD("2025-10-07T15:30:00-0500");
    BAD("2025-10-07T15:30:00+1:00");
    BAD("2025-10-07T15:30:00+01:00:00");
    BAD("2025-10-07T15:30:00+01.00");
    BAD("2025-10-07T15:30:00+24:00");
    BAD("2025-10-07T15:30:00+01:60");
    BAD("2025-10-07T15:30:00+ab:cd");
    BAD("2025-10-07T15:30:00UTC");
    BAD("2025-10-07T15:30:00 Z");
    BAD("2025-10-07T15:30:00GMT");

    /* fractions */
    BAD("2025-10-07T15:30:00.Z");
    BAD("2025-10-07T15:30:00.");
    BAD("2025-10-07T15:30:00,5Z");
    BAD("2025-10-07T15:30:00.5.5Z");
    BAD("2025-10-07T15:30:00.-5Z");

    /* bad fields */
    BAD("2025-00-07T15:30:00Z");
    BAD("2025-13-07T15:30:00Z");
    BAD("2025-99-07T15:30:00Z");
    BAD("2025-10-00T15:30:00Z");
    BAD("2025-10-32T15:30:00Z");
    BAD("2025-04-31T15:30:00Z");
    BAD("2025-06-31T15:30:00Z");
    BAD("2025-09-31T15:30:00Z");
    BAD("2025-11-31T15:30:00Z");
    BAD("2023-02-29T00:00:00Z");
    BAD("2100-02-29T00:00:00Z");
    BAD("1900-02-29T00:00:00Z");
    BAD("2024-02-30T00:00:00Z");
    BAD("2025-10-07T24:00:00Z");
    BAD("2025-10-07T25:30:00Z");
    BAD("2025-10-07T15:60:00Z");
    BAD("2025-10-07T15:30:61Z");
    BAD("2025-10-07T15:30:99Z");

    /* shapes */
    BAD("2025-10-07 15:30:00Z");
    BAD("2025-10-07X15:30:00Z");
    BAD("2025-10-07_15:30:00Z");
    BAD("2025/10/07T15:30:00Z");
    BAD("2025-10-07T15-30-00Z");
    BAD("2025-10-07T15:30Z");
    BAD("2025-1-07T15:30:00Z");
    BAD("2025-10-7T15:30:00Z");
    BAD("25-10-07T15:30:00Z");
    BAD("20250-10-07T15:30:00Z");
    BAD("+2025-10-07T15:30:00Z");
    BAD("-2025-10-07T15:30:00Z");
    BAD("2025-1a-07T15:30:00Z");
    BAD("2O25-10-07T15:30:00Z");
    BAD("2025-10-07T1 :30:00Z");
    BAD("2025-10-07T15:30:0 Z");
    BAD("20251007T153000Z");
    BAD("Tue, 07 Oct 2025 15:30:00 GMT");
    BAD("1759851000");
    BAD("");

    /* trailing or leading bytes */
    BAD("2025-10-07T15:30:00Z ");
    BAD(" 2025-10-07T15:30:00Z");
    BAD("2025-10-07T15:30:00ZZ");
    BAD("2025-10-07T15:30:00Z\n");
    BAD("2025-10-07T15:30:00Zx");
    BAD("2025-10-07T15:30:00+01:00Z");
    BAD("2025-10-07T15:30:00+01:00 ");
    BAD("2025-10-07T15:30:00Z+01:00");
    BADN("2025-10-07T15:30:00Z\0");
    BADN("2025-10-07T15:30:00\0Z");
    BADN("2025-10-07T15:30:00.5\0Z");

    /* non-ASCII digits: full-width '1' in UTF-8 */
    BAD("2025-10-07T\xef\xbc\x91" "5:30:00Z");

    /* NULL is fine for a zero length */
    epoch = SENTINEL;
    CHECK_EQ(tf_time_parse(NULL, 0, &epoch), -1);
    CHECK(epoch == SENTINEL);
}


/* every strict prefix of a valid string is invalid */

static void
test_truncated(void)
{
    size_t   i, k, len;
    u_char  *copy;

    static const char  *valid[] = {
        "2025-10-07T15:30:00Z",
        "2025-10-07T15:30:00.000000Z",
        "2025-10-07T17:30:00+02:00",
        "2025-10-07T10:30:00.123-05:00",
        "2016-12-31T23:59:60z",
    };

    for (k = 0; k < sizeof(valid) / sizeof(valid[0]); k++) {
        len = strlen(valid[k]);

        for (i = 0; i < len; i++) {
            /* exactly i bytes on the heap, so that an over-read shows */
            copy = malloc(i ? i : 1);
            if (copy == NULL) {
                abort();
            }

            memcpy(copy, valid[k], i);
            parse_bad(copy, i, __LINE__);
            free(copy);
        }

        (void) parse_ok(valid[k], __LINE__);
    }
}


/* every day from 1600 to 2400 against timegm(), and every offset */

static void
test_against_timegm(void)
{
    int        y, mismatches, n, sign, oh, om;
    char       buf[64];
    time_t     t, start, end;
    int64_t    epoch;
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 1600 - 1900;
    tm.tm_mday = 1;
    start = timegm(&tm);

    tm.tm_year = 2400 - 1900;
    end = timegm(&tm);

    mismatches = 0;
    n = 0;

    /* a prime step, so that the time of day varies too */
    for (t = start; t < end; t += 86400 + 3607) {
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);

        epoch = SENTINEL;
        if (tf_time_parse((u_char *) buf, strlen(buf), &epoch) != 0
            || epoch != (int64_t) t)
        {
            if (mismatches++ < 5) {
                fprintf(stderr, "%s:%d: %s: got %" PRId64 ", timegm %lld\n",
                        __FILE__, __LINE__, buf, epoch, (long long) t);
            }
        }

        n++;
    }

    CHECK(n > 200000);
    CHECK_EQ(mismatches, 0);

    /* Feb 29 of every year from 1600 to 2400: valid exactly in leap years */
    mismatches = 0;

    for (y = 1600; y <= 2400; y++) {
        int  leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

        snprintf(buf, sizeof(buf), "%04d-02-29T12:00:00Z", y);

        if ((tf_time_parse((u_char *) buf, strlen(buf), &epoch) == 0)
            != leap)
        {
            if (mismatches++ < 5) {
                fprintf(stderr, "%s:%d: %s: leap %d\n", __FILE__, __LINE__,
                        buf, leap);
            }
        }
    }

    CHECK_EQ(mismatches, 0);

    /* every offset of the same instant */
    mismatches = 0;

    for (sign = -1; sign <= 1; sign += 2) {
        for (oh = 0; oh < 24; oh++) {
            for (om = 0; om < 60; om++) {
                t = 1759851000 + sign * (oh * 3600 + om * 60);
                gmtime_r(&t, &tm);
                n = (int) strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S",
                                   &tm);
                snprintf(buf + n, sizeof(buf) - n, "%c%02d:%02d",
                         sign < 0 ? '-' : '+', oh, om);

                if (tf_time_parse((u_char *) buf, strlen(buf), &epoch) != 0
                    || epoch != 1759851000)
                {
                    if (mismatches++ < 5) {
                        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,
                                buf);
                    }
                }
            }
        }
    }

    CHECK_EQ(mismatches, 0);
}


void
test_time(void)
{
    test_valid();
    test_invalid();
    test_truncated();
    test_against_timegm();
}
