
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * RFC 3339 date-time parsing (the ISO 8601 profile Teachfloor sends).
 * Pure code: no nginx types.
 */


#ifndef _TF_TIME_H_INCLUDED_
#define _TF_TIME_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/*
 * Accepts YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm), "T" and "Z" in
 * either case, a leap second (:60) counted as :59.  On success stores the
 * UTC time in whole seconds since the Unix epoch and returns 0; returns -1
 * for anything else, with *epoch untouched.
 */
int tf_time_parse(const u_char *p, size_t len, int64_t *epoch);


#endif /* _TF_TIME_H_INCLUDED_ */
