
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Prometheus text exposition: label value escaping.  Pure code: no nginx
 * types, so that it can be unit-tested on its own.
 */


#ifndef _TF_PROM_H_INCLUDED_
#define _TF_PROM_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


/* the length of p once escaped: backslash, double quote and newline */
size_t tf_prom_escaped_len(const u_char *p, size_t len);

/* writes tf_prom_escaped_len(p, len) bytes to dst, returns their end */
u_char *tf_prom_escape(u_char *dst, const u_char *p, size_t len);


#endif /* _TF_PROM_H_INCLUDED_ */
