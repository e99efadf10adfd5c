
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 */


#include "tf_time.h"


static int tf_time_digits(const u_char *p, size_t n, int *value);
static int64_t tf_time_days_from_civil(int64_t y, int m, int d);


int
tf_time_parse(const u_char *p, size_t len, int64_t *epoch)
{
    int          year, month, day, hour, min, sec, oh, om, mdays;
    size_t       i;
    int64_t      t, offset;
    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                 30, 31 };

    /* "YYYY-MM-DDTHH:MM:SS" and at least "Z" */
    if (len < 20) {
        return -1;
    }

    if (tf_time_digits(p, 4, &year) != 0
        || p[4] != '-'
        || tf_time_digits(p + 5, 2, &month) != 0
        || p[7] != '-'
        || tf_time_digits(p + 8, 2, &day) != 0
        || (p[10] != 'T' && p[10] != 't')
        || tf_time_digits(p + 11, 2, &hour) != 0
        || p[13] != ':'
        || tf_time_digits(p + 14, 2, &min) != 0
        || p[16] != ':'
        || tf_time_digits(p + 17, 2, &sec) != 0)
    {
        return -1;
    }

    if (month < 1 || month > 12 || hour > 23 || min > 59 || sec > 60) {
        return -1;
    }

    mdays = days[month - 1];

    if (month == 2
        && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    {
        mdays = 29;
    }

    if (day < 1 || day > mdays) {
        return -1;
    }

    if (sec == 60) {
        sec = 59;
    }

    i = 19;

    if (p[i] == '.') {
        i++;

        if (i == len || p[i] < '0' || p[i] > '9') {
            return -1;
        }

        while (i < len && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
    }

    if (i == len) {
        return -1;
    }

    if (p[i] == 'Z' || p[i] == 'z') {
        offset = 0;
        i++;

    } else if (p[i] == '+' || p[i] == '-') {

        if (len - i != 6
            || tf_time_digits(p + i + 1, 2, &oh) != 0
            || p[i + 3] != ':'
            || tf_time_digits(p + i + 4, 2, &om) != 0
            || oh > 23 || om > 59)
        {
            return -1;
        }

        offset = (int64_t) oh * 3600 + om * 60;

        if (p[i] == '-') {
            offset = -offset;
        }

        i += 6;

    } else {
        return -1;
    }

    if (i != len) {
        return -1;
    }

    t = tf_time_days_from_civil(year, month, day) * 86400
        + (int64_t) hour * 3600 + min * 60 + sec;

    *epoch = t - offset;

    return 0;
}


static int
tf_time_digits(const u_char *p, size_t n, int *value)
{
    int     v;
    size_t  i;

    v = 0;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        v = v * 10 + (p[i] - '0');
    }

    *value = v;

    return 0;
}


/* days since 1970-01-01 in the proleptic Gregorian calendar */

static int64_t
tf_time_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}
