
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Input: a date-time.  On success the result must be in range and survive
 * a round trip through its canonical "YYYY-MM-DDTHH:MM:SSZ" form; on
 * failure the output must be untouched.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tf_time.h"


#define SENTINEL  INT64_C(0x5a5a5a5a5a5a5a5a)

/* 0000-01-01T00:00:00+23:59 and 9999-12-31T23:59:59-23:59 */
#define MIN_EPOCH  (INT64_C(-62167219200) - 86399)
#define MAX_EPOCH  (INT64_C(253402300799) + 86399)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int        n;
    char       buf[64];
    time_t     t;
    int64_t    epoch, again;
    struct tm  tm;

    epoch = SENTINEL;

    if (tf_time_parse(data, size, &epoch) != 0) {
        if (epoch != SENTINEL) {
            abort();
        }

        return 0;
    }

    if (size < 20 || epoch < MIN_EPOCH || epoch > MAX_EPOCH) {
        abort();
    }

    /* the last byte is a zone designator or an offset's digit */
    if (data[size - 1] != 'Z' && data[size - 1] != 'z'
        && !(data[size - 1] >= '0' && data[size - 1] <= '9'))
    {
        abort();
    }

    t = (time_t) epoch;

    if (gmtime_r(&t, &tm) == NULL) {
        abort();
    }

    if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        return 0;
    }

    n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);

    again = SENTINEL;

    if (tf_time_parse((u_char *) buf, (size_t) n, &again) != 0
        || again != epoch)
    {
        abort();
    }

    return 0;
}
