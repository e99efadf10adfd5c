
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * A spool record's head for tests: the first line announcing the length,
 * then the given fields and headers, in a malloc()ed buffer of exactly
 * that size (so that ASan catches any read past it).  Shared by the unit
 * tests and the fuzz target.
 */


#ifndef _TF_SPOOL_HEAD_H_INCLUDED_
#define _TF_SPOOL_HEAD_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf_spool.h"


static inline u_char *
tf_spool_test_head(const u_char *rest, size_t rest_len, size_t *len)
{
    u_char  *head;
    char     first[64];

    *len = TF_SPOOL_FIRST_LEN + rest_len;

    snprintf(first, sizeof(first), TF_SPOOL_MAGIC "%010zu\n", *len);

    head = malloc(*len);
    if (head == NULL) {
        abort();
    }

    memcpy(head, first, TF_SPOOL_FIRST_LEN);
    memcpy(head + TF_SPOOL_FIRST_LEN, rest, rest_len);

    return head;
}


#endif /* _TF_SPOOL_HEAD_H_INCLUDED_ */
