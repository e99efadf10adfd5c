
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * The spool's record: one accepted event as it waits on disk for delivery.
 * Pure code: no nginx types, so that it can be unit-tested and fuzzed on
 * its own, and read by the operator's command without nginx.
 *
 *     teachfloor-spool 1 <head length, 10 digits>\n
 *     <key> <value>\n             accepted, event, id, ... (escaped)
 *     \n
 *     <Name>: <value>\n           the request's headers, as received
 *     \n
 *     <body>                      byte for byte
 */


#ifndef _TF_SPOOL_H_INCLUDED_
#define _TF_SPOOL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tf_envelope.h"


#define TF_SPOOL_MAGIC      "teachfloor-spool 1 "
#define TF_SPOOL_MAGIC_LEN  (sizeof(TF_SPOOL_MAGIC) - 1)

/* the first line: magic, ten digits and a newline */
#define TF_SPOOL_FIRST_LEN  (TF_SPOOL_MAGIC_LEN + 10 + 1)

/* a head larger than this is no record of ours */
#define TF_SPOOL_HEAD_MAX   (1024 * 1024)


typedef struct {
    int64_t         accepted;       /* ms since 1970 */
    uint64_t        body_len;
    tf_str_t        event;
    tf_str_t        id;
    tf_str_t        timestamp;
    tf_str_t        organization;
    tf_str_t        secret;         /* the secret's name=, or empty */
    tf_str_t        remote;         /* the sender's address, as text */
    tf_str_t        local;          /* the address it reached, with port */
    tf_str_t        uri;            /* decoded, as nginx matched it */
    tf_str_t        args;
    tf_str_t        unparsed;       /* the request line's URI, if valid */
    tf_str_t        host;           /* $host: the Host nginx checked */
    uint64_t        secret_no;      /* the secret's 1-based position */
    int             test;
    const u_char   *headers;        /* "Name: value\n" lines */
    size_t          headers_len;
    size_t          head_len;       /* where the body starts */
} tf_spool_record_t;


/* backslash and bytes below 0x20 or 0x7f become \xHH: every field one line */
size_t tf_spool_escaped_len(const u_char *p, size_t len);
u_char *tf_spool_escape(u_char *dst, const u_char *p, size_t len);

/* the head length the first line announces, or 0 if it is not ours */
size_t tf_spool_head_len(const u_char *first, size_t len);

/*
 * Parses a whole head in place (fields are unescaped where they stand).
 * Returns 0, or -1 with *error saying why.
 */
int tf_spool_head_parse(u_char *head, size_t len, tf_spool_record_t *rec,
    const char **error);

/* the next header line from *pos; 0 at the end */
int tf_spool_header_next(const u_char **pos, const u_char *last,
    tf_str_t *name, tf_str_t *value);


#endif /* _TF_SPOOL_H_INCLUDED_ */
