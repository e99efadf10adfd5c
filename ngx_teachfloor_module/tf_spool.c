
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 */


#include <string.h>

#include "tf_spool.h"


static const char  tf_spool_hex[] = "0123456789abcdef";


static int
tf_spool_plain(u_char c)
{
    return c >= 0x20 && c != 0x7f && c != '\\';
}


size_t
tf_spool_escaped_len(const u_char *p, size_t len)
{
    size_t  i, n;

    n = len;

    for (i = 0; i < len; i++) {
        if (!tf_spool_plain(p[i])) {
            n += 3;
        }
    }

    return n;
}


u_char *
tf_spool_escape(u_char *dst, const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {

        if (tf_spool_plain(p[i])) {
            *dst++ = p[i];
            continue;
        }

        *dst++ = '\\';
        *dst++ = 'x';
        *dst++ = tf_spool_hex[p[i] >> 4];
        *dst++ = tf_spool_hex[p[i] & 0xf];
    }

    return dst;
}


static int
tf_spool_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* in place; -1 on an escape that tf_spool_escape() never writes */

static int
tf_spool_unescape(u_char *p, size_t len, tf_str_t *out)
{
    int      hi, lo;
    u_char  *s, *d, *last;

    s = p;
    d = p;
    last = p + len;

    while (s < last) {

        if (*s != '\\') {
            *d++ = *s++;
            continue;
        }

        if (last - s < 4 || s[1] != 'x') {
            return -1;
        }

        hi = tf_spool_hex_value(s[2]);
        lo = tf_spool_hex_value(s[3]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        *d++ = (u_char) (hi << 4 | lo);
        s += 4;
    }

    out->data = p;
    out->len = d - p;

    return 0;
}


static int
tf_spool_number(const u_char *p, size_t len, uint64_t *n)
{
    size_t    i;
    uint64_t  v;

    if (len == 0 || len > 19) {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        v = v * 10 + (p[i] - '0');
    }

    *n = v;

    return 0;
}


size_t
tf_spool_head_len(const u_char *first, size_t len)
{
    uint64_t  n;

    if (len < TF_SPOOL_FIRST_LEN
        || memcmp(first, TF_SPOOL_MAGIC, TF_SPOOL_MAGIC_LEN) != 0
        || first[TF_SPOOL_FIRST_LEN - 1] != '\n'
        || tf_spool_number(first + TF_SPOOL_MAGIC_LEN, 10, &n) != 0
        || n <= TF_SPOOL_FIRST_LEN
        || n > TF_SPOOL_HEAD_MAX)
    {
        return 0;
    }

    return (size_t) n;
}


typedef struct {
    const char     *key;
    size_t          offset;
} tf_spool_field_t;


static const tf_spool_field_t  tf_spool_fields[] = {
    { "event", offsetof(tf_spool_record_t, event) },
    { "id", offsetof(tf_spool_record_t, id) },
    { "timestamp", offsetof(tf_spool_record_t, timestamp) },
    { "organization", offsetof(tf_spool_record_t, organization) },
    { "secret", offsetof(tf_spool_record_t, secret) },
    { "remote", offsetof(tf_spool_record_t, remote) },
    { "local", offsetof(tf_spool_record_t, local) },
    { "uri", offsetof(tf_spool_record_t, uri) },
    { "args", offsetof(tf_spool_record_t, args) },
    { "unparsed", offsetof(tf_spool_record_t, unparsed) },
    { "host", offsetof(tf_spool_record_t, host) },
    { NULL, 0 }
};


/* 0 when nothing in P would end a line of the request */

static int
tf_spool_raw(const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n') {
            return -1;
        }
    }

    return 0;
}


int
tf_spool_head_parse(u_char *head, size_t len, tf_spool_record_t *rec,
    const char **error)
{
    size_t                   klen;
    u_char                  *p, *last, *eol, *sp;
    uint64_t                 n;
    unsigned                 seen;
    const tf_spool_field_t  *f;

    memset(rec, 0, sizeof(tf_spool_record_t));

    if (tf_spool_head_len(head, len) != len) {
        *error = "no spool record head";
        return -1;
    }

    p = head + TF_SPOOL_FIRST_LEN;
    last = head + len;
    seen = 0;

    for ( ;; ) {
        eol = memchr(p, '\n', last - p);

        if (eol == NULL) {
            *error = "a field line without its end";
            return -1;
        }

        if (eol == p) {
            p++;
            break;
        }

        sp = memchr(p, ' ', eol - p);

        if (sp == NULL) {
            *error = "a field line without a value";
            return -1;
        }

        klen = sp - p;
        sp++;

        if (klen == 8 && memcmp(p, "accepted", 8) == 0) {
            if (tf_spool_number(sp, eol - sp, &n) != 0
                || n > (uint64_t) INT64_MAX)
            {
                *error = "a bad accepted time";
                return -1;
            }

            rec->accepted = (int64_t) n;
            seen |= 1;

        } else if (klen == 4 && memcmp(p, "body", 4) == 0) {
            if (tf_spool_number(sp, eol - sp, &rec->body_len) != 0) {
                *error = "a bad body length";
                return -1;
            }

            seen |= 2;

        } else if (klen == 9 && memcmp(p, "secret_no", 9) == 0) {
            if (tf_spool_number(sp, eol - sp, &rec->secret_no) != 0) {
                *error = "a bad secret number";
                return -1;
            }

        } else if (klen == 4 && memcmp(p, "test", 4) == 0) {
            rec->test = (eol - sp == 1 && *sp == '1');

        } else {
            for (f = tf_spool_fields; f->key; f++) {
                if (strlen(f->key) == klen && memcmp(p, f->key, klen) == 0) {
                    break;
                }
            }

            /* a field of a later version: skipped */

            if (f->key
                && tf_spool_unescape(sp, eol - sp,
                                     (tf_str_t *) ((u_char *) rec + f->offset))
                   != 0)
            {
                *error = "a bad escape in a field";
                return -1;
            }
        }

        p = eol + 1;
    }

    if (seen != 3) {
        *error = "no accepted time or body length";
        return -1;
    }

    if (last - p < 1 || last[-1] != '\n'
        || (last - p > 1 && last[-2] != '\n'))
    {
        *error = "headers without their end";
        return -1;
    }

    /*
     * What a delivery finds its location with (a rewrite may have made
     * one without a leading "/", which a regex location can take).
     */

    if (rec->uri.len == 0) {
        *error = "no URI";
        return -1;
    }

    /*
     * Sent as they are in the request line: no line break, lest the
     * record write lines of its own (a space is the configuration's to
     * put there, "set $args", as nginx would send it).
     */

    if (tf_spool_raw(rec->args.data, rec->args.len) != 0
        || (rec->unparsed.len
            && (rec->unparsed.data[0] != '/'
                || tf_spool_raw(rec->unparsed.data, rec->unparsed.len) != 0)))
    {
        *error = "a bad request line";
        return -1;
    }

    /* nginx takes no header with a NUL or a CR, the app must not either */

    if (memchr(p, '\0', last - p) != NULL
        || memchr(p, '\r', last - p) != NULL)
    {
        *error = "a bad header line";
        return -1;
    }

    rec->headers = p;
    rec->headers_len = last - p - 1;
    rec->head_len = len;

    return 0;
}


int
tf_spool_header_next(const u_char **pos, const u_char *last, tf_str_t *name,
    tf_str_t *value)
{
    const u_char  *p, *eol, *colon;

    for (p = *pos; p < last; p = eol + 1) {

        eol = memchr(p, '\n', last - p);

        if (eol == NULL) {
            eol = last;
        }

        colon = memchr(p, ':', eol - p);

        /* a line nginx could not have received is skipped */

        if (colon == NULL || colon == p) {
            continue;
        }

        name->data = p;
        name->len = colon - p;

        colon++;

        if (colon < eol && *colon == ' ') {
            colon++;
        }

        value->data = colon;
        value->len = eol - colon;

        *pos = (eol < last) ? eol + 1 : last;

        return 1;
    }

    *pos = last;

    return 0;
}
