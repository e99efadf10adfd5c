
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Input: a spool record's head after its first line (the fields, the
 * headers).  The first line announcing the input's length is put before
 * it, in a buffer of exactly that size, and the head parsed.  The input
 * alone must also be no first line unless it announces a length a first
 * line can.  On success: the fields, the headers and every header line
 * tf_spool_header_next() gives lie inside the head, no name is empty or
 * holds a colon or a line break, no value a line break, the body starts at
 * the end of the head; every field, escaped and parsed again, is the same.
 * On failure: a reason.  The input is also read as header lines.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf_spool.h"
#include "tf_spool_head.h"


#define NFIELDS  10


static const char  *keys[NFIELDS] = {
    "event", "id", "timestamp", "organization", "secret", "remote",
    "local", "uri", "args", "unparsed"
};


static tf_str_t *
field(tf_spool_record_t *rec, int i)
{
    tf_str_t  *f[NFIELDS] = {
        &rec->event, &rec->id, &rec->timestamp, &rec->organization,
        &rec->secret, &rec->remote, &rec->local, &rec->uri, &rec->args,
        &rec->unparsed
    };

    return f[i];
}


static int
inside(const void *p, size_t len, const u_char *start, const u_char *end)
{
    const u_char  *d = p;

    if (len == 0) {
        return 1;
    }

    return d != NULL && d >= start && d <= end && len <= (size_t) (end - d);
}


/* every line tf_spool_header_next() gives: inside, and well formed */

static void
headers(const u_char *pos, const u_char *last)
{
    tf_str_t       name, value;
    const u_char  *before;

    for ( ;; ) {
        before = pos;

        if (!tf_spool_header_next(&pos, last, &name, &value)) {
            if (pos != last) {
                abort();
            }

            return;
        }

        if (pos <= before || pos > last
            || name.len == 0
            || !inside(name.data, name.len, before, pos)
            || !inside(value.data, value.len, before, pos)
            || memchr(name.data, ':', name.len)
            || memchr(name.data, '\n', name.len)
            || (value.len && memchr(value.data, '\n', value.len)))
        {
            abort();
        }
    }
}


/* the record's fields, escaped into a head of their own and parsed back */

static void
round_trip(tf_spool_record_t *rec)
{
    int                 i;
    u_char             *rest, *p, *head;
    size_t              size, len;
    const char         *error;
    tf_spool_record_t   again;

    size = 64;

    for (i = 0; i < NFIELDS; i++) {
        size += strlen(keys[i]) + 2
                + tf_spool_escaped_len(field(rec, i)->data, field(rec, i)->len);
    }

    rest = malloc(size);
    if (rest == NULL) {
        abort();
    }

    p = rest + sprintf((char *) rest, "accepted 1\nbody 0\n");

    for (i = 0; i < NFIELDS; i++) {
        p += sprintf((char *) p, "%s ", keys[i]);
        p = tf_spool_escape(p, field(rec, i)->data, field(rec, i)->len);
        *p++ = '\n';
    }

    *p++ = '\n';
    *p++ = '\n';

    if ((size_t) (p - rest) > size) {
        abort();
    }

    head = tf_spool_test_head(rest, p - rest, &len);
    free(rest);

    if (len > TF_SPOOL_HEAD_MAX) {
        free(head);
        return;
    }

    if (tf_spool_head_parse(head, len, &again, &error) != 0) {
        abort();
    }

    for (i = 0; i < NFIELDS; i++) {
        if (field(&again, i)->len != field(rec, i)->len
            || (field(rec, i)->len
                && memcmp(field(&again, i)->data, field(rec, i)->data,
                          field(rec, i)->len) != 0))
        {
            abort();
        }
    }

    free(head);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 i, rc;
    u_char             *head, *copy;
    size_t              len, n;
    tf_str_t           *f;
    const char         *error;
    tf_spool_record_t   rec;

    /* the input itself as a first line */

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    n = tf_spool_head_len(copy, size);

    if (n != 0 && (n <= TF_SPOOL_FIRST_LEN || n > TF_SPOOL_HEAD_MAX
                   || size < TF_SPOOL_FIRST_LEN))
    {
        abort();
    }

    /* and as header lines */

    headers(copy, copy + size);

    free(copy);

    if (size + TF_SPOOL_FIRST_LEN > TF_SPOOL_HEAD_MAX) {
        return 0;
    }

    head = tf_spool_test_head(data, size, &len);

    /* a head is more than its first line */

    if (tf_spool_head_len(head, len) != (size ? len : 0)) {
        abort();
    }

    error = NULL;
    rc = tf_spool_head_parse(head, len, &rec, &error);

    if (rc != 0) {
        if (rc != -1 || error == NULL) {
            abort();
        }

        free(head);
        return 0;
    }

    if (rec.head_len != len || rec.accepted < 0) {
        abort();
    }

    for (i = 0; i < NFIELDS; i++) {
        f = field(&rec, i);

        if (!inside(f->data, f->len, head + TF_SPOOL_FIRST_LEN, head + len)) {
            abort();
        }
    }

    /* the headers end with their empty line, right before the body */

    if (!inside(rec.headers, rec.headers_len, head, head + len)
        || rec.headers == NULL
        || rec.headers + rec.headers_len + 1 != head + len
        || head[len - 1] != '\n')
    {
        abort();
    }

    headers(rec.headers, rec.headers + rec.headers_len);

    round_trip(&rec);

    free(head);

    return 0;
}
