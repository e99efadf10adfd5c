
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * tf_pattern: compiling event-type patterns, matching one, and sets of
 * inclusions and exclusions.
 */


#include "tf_test.h"
#include "tf_pattern.h"


static int
compile(tf_pattern_t *pat, const char *text)
{
    return tf_pattern_compile(pat, (const u_char *) text, strlen(text));
}


static int
match(const char *pattern, const char *event, int line)
{
    tf_pattern_t  pat;

    if (compile(&pat, pattern) != 0) {
        tf_test_failed++;
        fprintf(stderr, "%s:%d: FAIL: pattern \"%s\" rejected\n", __FILE__,
                line, pattern);
        return -1;
    }

    return tf_pattern_match(&pat, (const u_char *) event, strlen(event));
}


#define MATCH(p, e)     CHECK_EQ(match(p, e, __LINE__), 1)
#define NO_MATCH(p, e)  CHECK_EQ(match(p, e, __LINE__), 0)


/* compiles the NULL-terminated list into pats, returns the count */

static size_t
compile_set(tf_pattern_t *pats, const char **texts, int line)
{
    size_t  n;

    for (n = 0; texts[n]; n++) {
        if (compile(&pats[n], texts[n]) != 0) {
            tf_test_failed++;
            fprintf(stderr, "%s:%d: FAIL: pattern \"%s\" rejected\n",
                    __FILE__, line, texts[n]);
        }
    }

    return n;
}


#define ALLOWS(pats, n, e)                                                   \
    CHECK_MSG(tf_pattern_set_allows(pats, n, S(e)), "\"%s\" refused", e)
#define REFUSES(pats, n, e)                                                  \
    CHECK_MSG(!tf_pattern_set_allows(pats, n, S(e)), "\"%s\" allowed", e)


static void
test_forms(void)
{
    tf_pattern_t  pat;

    static const char  text[] = "course.*.x";

    /* exact */
    MATCH("member.joined", "member.joined");
    NO_MATCH("member.joined", "member.join");
    NO_MATCH("member.joined", "member.joinedx");
    NO_MATCH("member.joined", "xmember.joined");
    NO_MATCH("member.joined", "member.joined.x");
    NO_MATCH("member.joined", "x.member.joined");
    NO_MATCH("member.joined", "member");
    NO_MATCH("member.joined", "course.joined");
    NO_MATCH("member.joined", "member.left");
    NO_MATCH("member.joined", "");
    MATCH("a.b.c.d", "a.b.c.d");
    NO_MATCH("a.b.c.d", "a.b.c");
    NO_MATCH("a.b.c", "a.b.c.d");

    /* a trailing "*" segment: exactly one segment */
    MATCH("course.*", "course.updated");
    MATCH("course.*", "course.join");
    MATCH("course.*", "course.a");
    NO_MATCH("course.*", "course.a.b");
    NO_MATCH("course.*", "course");
    NO_MATCH("course.*", "courses.updated");
    NO_MATCH("course.*", "cours.updated");
    NO_MATCH("course.*", "member.joined");
    NO_MATCH("course.*", "x.course.updated");

    /* a leading "*" segment */
    MATCH("*.completed", "element.completed");
    MATCH("*.completed", "module.completed");
    MATCH("*.completed", "course.completed");
    NO_MATCH("*.completed", "completed");
    NO_MATCH("*.completed", "a.b.completed");
    NO_MATCH("*.completed", "element.completed.x");
    NO_MATCH("*.completed", "element.complete");
    NO_MATCH("*.completed", "element.completedx");

    /* a middle "*" segment, several "*" segments */
    MATCH("a.*.c", "a.b.c");
    MATCH("a.*.c", "a.xyz.c");
    NO_MATCH("a.*.c", "a.c");
    NO_MATCH("a.*.c", "a.b.d");
    NO_MATCH("a.*.c", "a.b.b.c");
    MATCH("*.*", "member.joined");
    NO_MATCH("*.*", "a.b.c");
    MATCH("*.*.*", "a.b.c");
    NO_MATCH("*.*.*", "a.b");

    /* event names outside the convention: empty segments count */
    MATCH("a.*", "a.");
    MATCH("a.*.b", "a..b");
    MATCH("*.a", ".a");
    NO_MATCH("a.*", "a.b.");
    NO_MATCH("a.*", "a");
    NO_MATCH("a.b", "a.b.");
    NO_MATCH("a.b", "a");

    /* "*" alone: every event */
    CHECK_EQ(compile(&pat, "*"), 0);
    CHECK_EQ(pat.any, 1);
    CHECK_EQ(pat.exclude, 0);
    MATCH("*", "member.joined");
    MATCH("*", "a.b.c.d.e");
    MATCH("*", "test.event");

    /* negation: the pattern matches as without "!", and is an exclusion */
    CHECK_EQ(compile(&pat, "!member.joined"), 0);
    CHECK_EQ(pat.exclude, 1);
    CHECK_EQ(pat.any, 0);
    MATCH("!member.joined", "member.joined");
    NO_MATCH("!member.joined", "member.left");
    MATCH("!course.*", "course.updated");
    NO_MATCH("!course.*", "course.a.b");
    CHECK_EQ(compile(&pat, "!*"), 0);
    CHECK_EQ(pat.exclude, 1);
    CHECK_EQ(pat.any, 1);
    MATCH("!*", "member.joined");

    CHECK_EQ(compile(&pat, "member.joined"), 0);
    CHECK_EQ(pat.exclude, 0);
    CHECK_EQ(pat.nsegments, 2);

    /* the pattern points into its text */
    CHECK_EQ(tf_pattern_compile(&pat, S(text)), 0);
    CHECK_EQ(pat.nsegments, 3);
    CHECK(pat.segments[0].data == (const u_char *) text);
    CHECK_EQ(pat.segments[0].len, 6);
    CHECK(pat.segments[1].data == NULL);
    CHECK(pat.segments[2].data == (const u_char *) text + 9);
    CHECK_EQ(pat.segments[2].len, 1);

    /* a length shorter than the text: only that much is the pattern */
    CHECK_EQ(tf_pattern_compile(&pat, (const u_char *) "member.joined.x",
                                13), 0);
    CHECK(tf_pattern_match(&pat, S("member.joined")));
    CHECK(!tf_pattern_match(&pat, S("member.joined.x")));

    /* and for the event too */
    CHECK_EQ(compile(&pat, "member.joined"), 0);
    CHECK(tf_pattern_match(&pat, (const u_char *) "member.joined.x", 13));
    CHECK(!tf_pattern_match(&pat, (const u_char *) "member.joined", 12));

    /* names with digits and underscores */
    MATCH("course_v2.item_3", "course_v2.item_3");
    MATCH("0.1", "0.1");
    MATCH("_._", "_._");
}


static void
test_malformed(void)
{
    size_t        i;
    char          buf[80];
    tf_pattern_t  pat;

    /* empty segments, "*" in part of one, control characters */
    static const char  *bad[] = {
        "", "!", "*x", "course.", ".x", ".", "..", "a..b", "a.b.", ".a.b",
        "co*rse.x", "course*.x", "*course.x", "course.**", "**", "**.x",
        "*.", ".*", "!*.", "*!", "a.*!", "!.x", "!*.*.", "a.b\n", "a\tb",
        "\x1f.x", "a.\x7f", "!\x01",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_MSG(compile(&pat, bad[i]) == -1, "\"%s\" accepted", bad[i]);
    }

    /* a NUL inside the length */
    CHECK_EQ(tf_pattern_compile(&pat, (const u_char *) "a.b\0", 4), -1);
    CHECK_EQ(tf_pattern_compile(&pat, (const u_char *) "a\0.b", 4), -1);
    CHECK_EQ(tf_pattern_compile(&pat, (const u_char *) "", 0), -1);

    /* 16 segments are fine, 17 are not */
    strcpy(buf, "a");
    for (i = 1; i < 16; i++) {
        strcat(buf, ".a");
    }

    CHECK_EQ(compile(&pat, buf), 0);
    CHECK_EQ(pat.nsegments, 16);
    CHECK(tf_pattern_match(&pat, (const u_char *) buf, strlen(buf)));

    strcat(buf, ".a");
    CHECK_EQ(compile(&pat, buf), -1);

    strcpy(buf, "*");
    for (i = 1; i < 17; i++) {
        strcat(buf, ".*");
    }
    CHECK_EQ(compile(&pat, buf), -1);
    CHECK_EQ(compile(&pat, buf + 2), 0);
    CHECK_EQ(pat.nsegments, 16);

    /* an event of 17 segments matches no 16-segment pattern */
    strcpy(buf, "a");
    for (i = 1; i < 17; i++) {
        strcat(buf, ".a");
    }
    CHECK(!tf_pattern_match(&pat, (const u_char *) buf, strlen(buf)));
    CHECK(tf_pattern_match(&pat, (const u_char *) buf + 2,
                           strlen(buf) - 2));
}


/*
 * Names outside the resource.action convention and patterns for them:
 * literal segments match byte for byte, "*" any one segment, empty too.
 */

static void
test_odd_names(void)
{
    size_t        n;
    tf_pattern_t  pat, pats[4];

    static const char  *good[] = {
        "member", "!member", "Course.x", "course.X", "COURSE.UPDATED",
        "a.b c", " a.b", "a.b ", "a-b.c", "a/b.c", "a.b,c.d", "a.b|c",
        "\xc3\xa9.x", "! a.b", "?.x", "a.?", "!!", "!!a.b", "a.!b",
        "Custom Event: Lead Scored", "lead-scored", "orgX.*.v2",
    };
    static const char  *course[] = { "course.*", "!course.deleted", NULL };
    static const char  *not_course[] = { "!course.*", NULL };
    static const char  *custom[] = { "lead-scored", "orgX.*.v2",
                                     "Custom Event: Lead Scored", NULL };

    for (n = 0; n < sizeof(good) / sizeof(good[0]); n++) {
        CHECK_MSG(compile(&pat, good[n]) == 0, "\"%s\" refused", good[n]);
    }

    /* one segment */
    MATCH("member", "member");
    MATCH("lead-scored", "lead-scored");
    NO_MATCH("member", "member.joined");
    NO_MATCH("member", "member.");
    NO_MATCH("member", ".member");
    NO_MATCH("member", "Member");
    NO_MATCH("member", "");
    MATCH("Custom Event: Lead Scored", "Custom Event: Lead Scored");
    NO_MATCH("Custom Event: Lead Scored", "custom event: lead scored");
    NO_MATCH("Custom Event: Lead Scored", "Custom Event: Lead Scored ");

    /* case, spaces and UTF-8 byte for byte */
    MATCH("Course.X", "Course.X");
    NO_MATCH("Course.X", "course.x");
    NO_MATCH("course.x", "Course.x");
    MATCH("*.X", "course.X");
    NO_MATCH("*.X", "course.x");
    MATCH("a.b c", "a.b c");
    NO_MATCH("a.b c", "a.bc");
    NO_MATCH("a.b", " a.b");
    MATCH("*.b", " .b");
    MATCH("\xc3\xa9.x", "\xc3\xa9.x");
    NO_MATCH("\xc3\xa9.x", "e.x");
    NO_MATCH("\xc3\xa9.x", "\xc3.x");
    MATCH("orgX.*.v2", "orgX.custom.v2");
    NO_MATCH("orgX.*.v2", "orgx.custom.v2");
    MATCH("a.!b", "a.!b");

    /* empty segments: only "*" takes one */
    MATCH("member.*", "member.");
    MATCH("*.joined", ".joined");
    MATCH("a.*.b", "a..b");
    MATCH("*.*", ".");
    MATCH("*.*.*", "..");
    NO_MATCH("*.*", "..");
    MATCH("*", ".");
    MATCH("*", "..");
    NO_MATCH("member.joined", "member.joined.");
    NO_MATCH("member.joined", ".member.joined");
    NO_MATCH("member.joined", "member..joined");
    NO_MATCH("member.*", "member..");
    NO_MATCH("*.*", "");

    /* sets: an inclusion of the convention takes none of these */
    n = compile_set(pats, course, __LINE__);
    REFUSES(pats, n, "Course.updated");
    REFUSES(pats, n, "course");
    REFUSES(pats, n, "lead-scored");
    ALLOWS(pats, n, "course.");
    ALLOWS(pats, n, "course.Deleted");

    n = compile_set(pats, not_course, __LINE__);
    ALLOWS(pats, n, "Custom Event: Lead Scored");
    ALLOWS(pats, n, "course");
    REFUSES(pats, n, "course.");
    REFUSES(pats, n, "course.\xc3\xa9");

    n = compile_set(pats, custom, __LINE__);
    ALLOWS(pats, n, "lead-scored");
    ALLOWS(pats, n, "orgX.custom.v2");
    ALLOWS(pats, n, "Custom Event: Lead Scored");
    REFUSES(pats, n, "member.joined");
    REFUSES(pats, n, "lead-scored.x");
}


static void
test_sets(void)
{
    size_t        n;
    tf_pattern_t  pats[8];

    static const char  *excl_wins[] = { "course.*", "!course.deleted", NULL };
    static const char  *excl_first[] = { "!course.deleted", "course.*",
                                         NULL };
    static const char  *same[] = { "course.deleted", "!course.deleted",
                                   NULL };
    static const char  *all_but[] = { "*", "!test.event", "!*.deleted",
                                      NULL };
    static const char  *only_excl[] = { "!test.event", NULL };
    static const char  *several[] = { "member.joined", "course.*",
                                      "*.completed", NULL };
    static const char  *none[] = { "!*", NULL };
    static const char  *incl_none[] = { "member.joined", "!*", NULL };

    /* an empty set passes everything */
    CHECK(tf_pattern_set_allows(NULL, 0, S("member.joined")));
    CHECK(tf_pattern_set_allows(pats, 0, S("a.b")));

    /* an exclusion wins over an inclusion, in either order */
    n = compile_set(pats, excl_wins, __LINE__);
    ALLOWS(pats, n, "course.updated");
    REFUSES(pats, n, "course.deleted");
    REFUSES(pats, n, "member.joined");
    REFUSES(pats, n, "course.a.b");

    n = compile_set(pats, excl_first, __LINE__);
    ALLOWS(pats, n, "course.updated");
    REFUSES(pats, n, "course.deleted");
    REFUSES(pats, n, "member.joined");

    n = compile_set(pats, same, __LINE__);
    REFUSES(pats, n, "course.deleted");
    REFUSES(pats, n, "course.updated");

    n = compile_set(pats, all_but, __LINE__);
    ALLOWS(pats, n, "member.joined");
    ALLOWS(pats, n, "course.updated");
    REFUSES(pats, n, "test.event");
    REFUSES(pats, n, "course.deleted");
    REFUSES(pats, n, "member.deleted");
    ALLOWS(pats, n, "a.b.deleted");

    /* exclusions only: everything else passes */
    n = compile_set(pats, only_excl, __LINE__);
    ALLOWS(pats, n, "member.joined");
    ALLOWS(pats, n, "test.events");
    REFUSES(pats, n, "test.event");

    /* several inclusions: any of them */
    n = compile_set(pats, several, __LINE__);
    ALLOWS(pats, n, "member.joined");
    ALLOWS(pats, n, "course.updated");
    ALLOWS(pats, n, "element.completed");
    ALLOWS(pats, n, "course.completed");
    REFUSES(pats, n, "member.left");
    REFUSES(pats, n, "test.event");
    REFUSES(pats, n, "a.b.completed");

    n = compile_set(pats, none, __LINE__);
    REFUSES(pats, n, "member.joined");

    n = compile_set(pats, incl_none, __LINE__);
    REFUSES(pats, n, "member.joined");
}


/* a plain reference: same segment count, each "*" or equal */

static int
reference_match(const char *pattern, const char *event)
{
    const char  *p, *e, *pe, *ee;

    if (pattern[0] == '!') {
        pattern++;
    }

    if (strcmp(pattern, "*") == 0) {
        return 1;
    }

    p = pattern;
    e = event;

    for ( ;; ) {
        pe = strchr(p, '.');
        ee = strchr(e, '.');

        if (pe == NULL) {
            pe = p + strlen(p);
        }

        if (ee == NULL) {
            ee = e + strlen(e);
        }

        if (!(pe - p == 1 && *p == '*')
            && (pe - p != ee - e || memcmp(p, e, pe - p) != 0))
        {
            return 0;
        }

        if (*pe == '\0' || *ee == '\0') {
            return *pe == '\0' && *ee == '\0';
        }

        p = pe + 1;
        e = ee + 1;
    }
}


/* every pattern and event of up to 4 segments over a small alphabet */

static void
build(char *buf, const char **alphabet, size_t nalpha, size_t code,
    size_t nseg)
{
    size_t  i;

    buf[0] = '\0';

    for (i = 0; i < nseg; i++) {
        if (i) {
            strcat(buf, ".");
        }

        strcat(buf, alphabet[code % nalpha]);
        code /= nalpha;
    }
}


static void
test_exhaustive(void)
{
    size_t        np, ne, pc, ec, ptotal, etotal, checked, mismatches;
    char          pbuf[64], ebuf[64];
    tf_pattern_t  pat;

    static const char  *palpha[] = { "a", "b", "ab", "*" };
    static const char  *ealpha[] = { "a", "b", "ab", "c" };

    checked = 0;
    mismatches = 0;

    for (np = 2; np <= 4; np++) {
        ptotal = 1;
        for (pc = 0; pc < np; pc++) {
            ptotal *= 4;
        }

        for (pc = 0; pc < ptotal; pc++) {
            build(pbuf, palpha, 4, pc, np);

            if (compile(&pat, pbuf) != 0) {
                mismatches++;
                fprintf(stderr, "pattern \"%s\" rejected\n", pbuf);
                continue;
            }

            for (ne = 2; ne <= 5; ne++) {
                etotal = 1;
                for (ec = 0; ec < ne; ec++) {
                    etotal *= 4;
                }

                for (ec = 0; ec < etotal; ec++) {
                    build(ebuf, ealpha, 4, ec, ne);
                    checked++;

                    if (tf_pattern_match(&pat, (u_char *) ebuf, strlen(ebuf))
                        != reference_match(pbuf, ebuf))
                    {
                        if (mismatches++ < 5) {
                            fprintf(stderr, "\"%s\" ~ \"%s\": %d\n", pbuf,
                                    ebuf, !reference_match(pbuf, ebuf));
                        }
                    }
                }
            }
        }
    }

    CHECK(checked > 100000);
    CHECK_EQ(mismatches, 0);
}


void
test_pattern(void)
{
    test_forms();
    test_malformed();
    test_odd_names();
    test_sets();
    test_exhaustive();
}
