
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Event-type patterns: "member.joined", "course.*", "*.completed", "*",
 * each optionally negated with "!".  Names and patterns are cut at each
 * dot into segments.  A literal segment matches the same bytes (any but a
 * dot, a "*" or a control character, case-sensitive); a "*" segment
 * matches exactly one segment, an empty one included; "*" alone matches
 * every event.  Compiled once, matched without allocation.  Pure code: no
 * nginx types.
 */


#ifndef _TF_PATTERN_H_INCLUDED_
#define _TF_PATTERN_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


#define TF_PATTERN_MAX_SEGMENTS  16


typedef struct {
    const u_char   *data;               /* NULL for a "*" segment */
    size_t          len;
} tf_segment_t;


typedef struct {
    tf_segment_t    segments[TF_PATTERN_MAX_SEGMENTS];
    unsigned        nsegments:8;
    unsigned        any:1;              /* "*" alone */
    unsigned        exclude:1;          /* "!" */
    const char     *error;              /* why compiling failed */
} tf_pattern_t;


/*
 * Compiles the text; the pattern keeps pointers into it, so it must outlive
 * the pattern.  Returns 0, or -1 for a malformed pattern, with pat->error
 * saying why.
 */
int tf_pattern_compile(tf_pattern_t *pat, const u_char *text, size_t len);

int tf_pattern_match(const tf_pattern_t *pat, const u_char *event,
    size_t len);

/*
 * An event passes a set when no exclusion matches it and either the set has
 * no inclusion or one of them matches.  An empty set passes every event.
 */
int tf_pattern_set_allows(const tf_pattern_t *pats, size_t n,
    const u_char *event, size_t len);


#endif /* _TF_PATTERN_H_INCLUDED_ */
