
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 */


#include <string.h>

#include "tf_pattern.h"


static int tf_pattern_name_char(u_char c);


int
tf_pattern_compile(tf_pattern_t *pat, const u_char *text, size_t len)
{
    size_t         i, start, n;
    const u_char  *seg;

    memset(pat, 0, sizeof(tf_pattern_t));

    if (len && text[0] == '!') {
        pat->exclude = 1;
        text++;
        len--;
    }

    if (len == 0) {
        pat->error = "it is empty";
        return -1;
    }

    if (len == 1 && text[0] == '*') {
        pat->any = 1;
        return 0;
    }

    n = 0;
    start = 0;

    for (i = 0; i <= len; i++) {

        if (i < len && text[i] != '.') {
            if (text[i] != '*' && !tf_pattern_name_char(text[i])) {
                pat->error = "it has a control character";
                return -1;
            }

            continue;
        }

        seg = text + start;

        if (i == start) {
            pat->error = "it has an empty segment (a dot at an end, or two "
                         "dots in a row)";
            return -1;
        }

        if (n == TF_PATTERN_MAX_SEGMENTS) {
            pat->error = "it has more than 16 segments";
            return -1;
        }

        if (memchr(seg, '*', i - start) != NULL) {

            /* a wildcard stands for a whole segment, not part of one */
            if (i - start != 1) {
                pat->error = "\"*\" is not a whole segment (write "
                             "\"course.*\", not \"course.up*\")";
                return -1;
            }

            pat->segments[n].data = NULL;
            pat->segments[n].len = 0;

        } else {
            pat->segments[n].data = seg;
            pat->segments[n].len = i - start;
        }

        n++;
        start = i + 1;
    }

    pat->nsegments = n;

    return 0;
}


int
tf_pattern_match(const tf_pattern_t *pat, const u_char *event, size_t len)
{
    size_t               n;
    const u_char        *p, *dot, *last;
    const tf_segment_t  *seg;

    if (pat->any) {
        return 1;
    }

    p = event;
    last = event + len;

    for (n = 0; n < pat->nsegments; n++) {
        dot = memchr(p, '.', last - p);
        seg = &pat->segments[n];

        if (seg->data != NULL
            && (seg->len != (size_t) ((dot ? dot : last) - p)
                || memcmp(seg->data, p, seg->len) != 0))
        {
            return 0;
        }

        if (dot == NULL) {
            return n + 1 == pat->nsegments;
        }

        p = dot + 1;
    }

    /* the event has more segments than the pattern */

    return 0;
}


int
tf_pattern_set_allows(const tf_pattern_t *pats, size_t n,
    const u_char *event, size_t len)
{
    int     included, has_include;
    size_t  i;

    included = 0;
    has_include = 0;

    for (i = 0; i < n; i++) {

        if (pats[i].exclude) {
            if (tf_pattern_match(&pats[i], event, len)) {
                return 0;
            }

            continue;
        }

        has_include = 1;

        if (!included && tf_pattern_match(&pats[i], event, len)) {
            included = 1;
        }
    }

    return included || !has_include;
}


/* what an event name may hold (tf_event_name_valid()) but for '.' and '*' */

static int
tf_pattern_name_char(u_char c)
{
    return c >= 0x20 && c != 0x7f;
}
