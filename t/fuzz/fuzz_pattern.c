
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Input: <pattern> '\n' <event>.  A compiled pattern must be well formed
 * by a plain reference grammar (and a rejected one ill formed); matching a
 * valid event name must agree with a plain reference matcher, and a set of
 * the one pattern must allow the event as that pattern says.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tf_pattern.h"
#include "tf_envelope.h"


/* in a literal segment: anything but a dot, a "*" or a control character */

static int
name_char(u_char c)
{
    return c >= 0x20 && c != 0x7f && c != '.' && c != '*';
}


/* next segment of [p, end): its end */

static const u_char *
seg_end(const u_char *p, const u_char *end)
{
    while (p < end && *p != '.') {
        p++;
    }

    return p;
}


static int
ref_valid(const u_char *p, size_t len)
{
    size_t         nseg;
    const u_char  *end, *e, *q;

    if (len && p[0] == '!') {
        p++;
        len--;
    }

    if (len == 1 && p[0] == '*') {
        return 1;
    }

    end = p + len;
    nseg = 0;

    for ( ;; ) {
        e = seg_end(p, end);

        if (e == p) {
            return 0;
        }

        if (!(e - p == 1 && *p == '*')) {
            for (q = p; q < e; q++) {
                if (!name_char(*q)) {
                    return 0;
                }
            }
        }

        nseg++;

        if (e == end) {
            break;
        }

        p = e + 1;
    }

    return nseg <= TF_PATTERN_MAX_SEGMENTS;
}


static int
ref_match(const u_char *p, size_t plen, const u_char *ev, size_t elen)
{
    const u_char  *pend, *eend, *pe, *ee;

    if (plen && p[0] == '!') {
        p++;
        plen--;
    }

    if (plen == 1 && p[0] == '*') {
        return 1;
    }

    pend = p + plen;
    eend = ev + elen;

    for ( ;; ) {
        pe = seg_end(p, pend);
        ee = seg_end(ev, eend);

        if (!(pe - p == 1 && *p == '*')
            && (pe - p != ee - ev || memcmp(p, ev, pe - p) != 0))
        {
            return 0;
        }

        if (pe == pend || ee == eend) {
            return pe == pend && ee == eend;
        }

        p = pe + 1;
        ev = ee + 1;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc, m, allows;
    size_t         plen, elen;
    const u_char  *nl, *ev;
    tf_pattern_t   pat;

    nl = memchr(data, '\n', size);
    plen = nl ? (size_t) (nl - data) : size;
    ev = nl ? nl + 1 : data + size;
    elen = nl ? size - plen - 1 : 0;

    rc = tf_pattern_compile(&pat, data, plen);

    if ((rc == 0) != ref_valid(data, plen)) {
        abort();
    }

    if (rc != 0) {
        return 0;
    }

    if (pat.exclude != (plen && data[0] == '!')) {
        abort();
    }

    /* any event bytes at all: no crash */
    m = tf_pattern_match(&pat, ev, elen);

    if (!tf_event_name_valid(ev, elen)) {
        return 0;
    }

    if (m != ref_match(data, plen, ev, elen)) {
        abort();
    }

    allows = tf_pattern_set_allows(&pat, 1, ev, elen);

    if (allows != (pat.exclude ? !m : m)) {
        abort();
    }

    /* an empty set allows every event */
    if (!tf_pattern_set_allows(&pat, 0, ev, elen)) {
        abort();
    }

    return 0;
}
