
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 */


#include "tf_prom.h"


size_t
tf_prom_escaped_len(const u_char *p, size_t len)
{
    size_t  i, n;

    n = len;

    for (i = 0; i < len; i++) {
        if (p[i] == '\\' || p[i] == '"' || p[i] == '\n') {
            n++;
        }
    }

    return n;
}


u_char *
tf_prom_escape(u_char *dst, const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {

        switch (p[i]) {

        case '\\':
        case '"':
            *dst++ = '\\';
            *dst++ = p[i];
            break;

        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            break;

        default:
            *dst++ = p[i];
        }
    }

    return dst;
}
