
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * tf_spool_*: the record a spooled event waits in.  Escaping round trips
 * every byte; the first line announces the head's length and nothing
 * else passes for one; a head as the module writes it parses into its
 * fields (unescaped), its headers and its length, and each way a head can
 * be damaged is refused with a reason; the header lines come out one by
 * one, the ones nginx could not have received skipped.
 */


#include "tf_test.h"
#include "tf_spool.h"
#include "tf_spool_head.h"


/* the head of the last parse(): the record's fields point into it */
static u_char  *held;


/* rc of tf_spool_head_parse() on the first line and rest */

static int
parse(const char *rest, tf_spool_record_t *rec, const char **error)
{
    size_t  len;

    free(held);
    held = tf_spool_test_head((const u_char *) rest, strlen(rest), &len);

    *error = NULL;

    return tf_spool_head_parse(held, len, rec, error);
}


static void
parse_bad(const char *rest, const char *why, int line)
{
    int                 rc;
    const char         *error;
    tf_spool_record_t   rec;

    rc = parse(rest, &rec, &error);

    if (rc == -1 && error && strcmp(error, why) == 0) {
        tf_test_passed++;
        return;
    }

    tf_test_failed++;
    fprintf(stderr, "%s:%d: FAIL: head \"%s\": rc %d, error \"%s\", "
            "expected \"%s\"\n", __FILE__, line, rest, rc,
            error ? error : "(none)", why);
}


#define BAD(rest, why)  parse_bad(rest, why, __LINE__)

#define FIELDS  "accepted 1764558000123\nbody 42\nuri /wh\n"


static void
test_escape(void)
{
    u_char   all[256], esc[256 * 4], *end;
    size_t   i, n;

    for (i = 0; i < 256; i++) {
        all[i] = (u_char) i;
    }

    /* 32 control bytes, 0x7f and the backslash take 4 bytes each */
    n = tf_spool_escaped_len(all, 256);
    CHECK_EQ(n, 256 + 34 * 3);

    end = tf_spool_escape(esc, all, 256);
    CHECK_EQ(end - esc, n);

    /* nothing escaped is a line break, a DEL or a byte below 0x20 */
    for (i = 0; i < n; i++) {
        if (esc[i] < 0x20 || esc[i] == 0x7f) {
            break;
        }
    }

    CHECK_EQ(i, n);

    CHECK_EQ(tf_spool_escaped_len(S("member.joined")), 13);
    CHECK_EQ(tf_spool_escaped_len(NULL, 0), 0);

    end = tf_spool_escape(esc, S("a\\b\n\x7f\x01\xc3\xa9"));
    CHECK_STR(esc, end - esc, "a\\x5cb\\x0a\\x7f\\x01\xc3\xa9");

    /* UTF-8 and the rest of the printable bytes are left as they are */
    end = tf_spool_escape(esc, S("caf\xc3\xa9 /x?y=1&z"));
    CHECK_STR(esc, end - esc, "caf\xc3\xa9 /x?y=1&z");
}


/* every byte, escaped into a field and parsed back: the same bytes */

static void
test_round_trip(void)
{
    int                 rc;
    u_char              all[256], rest[2048], *p, *head;
    size_t              i, len;
    const char         *error;
    tf_spool_record_t   rec;

    for (i = 0; i < 256; i++) {
        all[i] = (u_char) (255 - i);
    }

    p = rest;
    p += sprintf((char *) p, FIELDS "event ");
    p = tf_spool_escape(p, all, 256);
    p += sprintf((char *) p, "\nuri ");
    p = tf_spool_escape(p, S("/webhooks/\\teach floor\r\n"));
    p += sprintf((char *) p, "\nid \n\n\n");

    head = tf_spool_test_head(rest, p - rest, &len);

    error = NULL;
    rc = tf_spool_head_parse(head, len, &rec, &error);

    CHECK_EQ(rc, 0);
    CHECK(error == NULL);
    CHECK_EQ(rec.event.len, 256);
    CHECK(rec.event.len == 256 && memcmp(rec.event.data, all, 256) == 0);
    CHECK_STR(rec.uri.data, rec.uri.len, "/webhooks/\\teach floor\r\n");
    CHECK_EQ(rec.id.len, 0);
    CHECK_EQ(rec.head_len, len);

    /* in place: the values point into the head */
    CHECK(rec.event.data > head && rec.event.data < head + len);

    free(head);
}


static void
test_head_len(void)
{
    u_char  line[TF_SPOOL_FIRST_LEN + 1];

    memcpy(line, "teachfloor-spool 1 0000000123\n", TF_SPOOL_FIRST_LEN);

    CHECK_EQ(TF_SPOOL_FIRST_LEN, 30);
    CHECK_EQ(tf_spool_head_len(line, TF_SPOOL_FIRST_LEN), 123);

    /* more bytes after the first line change nothing */
    line[TF_SPOOL_FIRST_LEN] = 'x';
    CHECK_EQ(tf_spool_head_len(line, TF_SPOOL_FIRST_LEN + 1), 123);

    /* too short to hold the line */
    CHECK_EQ(tf_spool_head_len(line, TF_SPOOL_FIRST_LEN - 1), 0);
    CHECK_EQ(tf_spool_head_len(line, 0), 0);

    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 0000000031\n")), 31);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 1048576000\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 0001048576\n")),
             TF_SPOOL_HEAD_MAX);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 0001048577\n")), 0);

    /* no room for anything after the first line */
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 0000000030\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 0000000000\n")), 0);

    /* another version, another magic, a damaged number or line end */
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 2 0000000123\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("Teachfloor-spool 1 0000000123\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 000000012x\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 -000000123\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1  000000123\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 0000000123\r")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 00000000123\n")), 0);
    CHECK_EQ(tf_spool_head_len(S("teachfloor-spool 1 123\n\n\n\n\n\n\n\n")),
             0);
}


/* a head as ngx_http_teachfloor_spool_head() writes one */

static void
test_parse_good(void)
{
    int                 rc;
    const char         *error;
    tf_spool_record_t   rec;

    static const char  good[] =
        "accepted 1764558000123\n"
        "body 1234\n"
        "test 1\n"
        "event member.joined\n"
        "id evt_123\n"
        "timestamp 2025-12-01T03:00:00Z\n"
        "organization org\\x0a9\n"
        "secret 2026-q3\n"
        "remote 203.0.113.7\n"
        "local 127.0.0.1:8080\n"
        "uri /webhooks/teachfloor\n"
        "args a=1&b=%0A\n"
        "unparsed /webhooks/teachfloor?a=1&b=%0A\n"
        "\n"
        "Host: hooks.example.com\n"
        "Content-Type: application/json\n"
        "Teachfloor-Signature: t=1,v1=abc\n"
        "\n";

    rc = parse(good, &rec, &error);

    CHECK_EQ(rc, 0);
    CHECK(error == NULL);
    CHECK_EQ(rec.accepted, INT64_C(1764558000123));
    CHECK_EQ(rec.body_len, 1234);
    CHECK_EQ(rec.test, 1);
    CHECK_STR(rec.event.data, rec.event.len, "member.joined");
    CHECK_STR(rec.id.data, rec.id.len, "evt_123");
    CHECK_STR(rec.timestamp.data, rec.timestamp.len, "2025-12-01T03:00:00Z");
    CHECK_STR(rec.organization.data, rec.organization.len, "org\n9");
    CHECK_STR(rec.secret.data, rec.secret.len, "2026-q3");
    CHECK_STR(rec.remote.data, rec.remote.len, "203.0.113.7");
    CHECK_STR(rec.local.data, rec.local.len, "127.0.0.1:8080");
    CHECK_STR(rec.uri.data, rec.uri.len, "/webhooks/teachfloor");
    CHECK_STR(rec.args.data, rec.args.len, "a=1&b=%0A");
    CHECK_STR(rec.unparsed.data, rec.unparsed.len,
              "/webhooks/teachfloor?a=1&b=%0A");
    CHECK_STR(rec.headers, rec.headers_len,
              "Host: hooks.example.com\n"
              "Content-Type: application/json\n"
              "Teachfloor-Signature: t=1,v1=abc\n");
    CHECK_EQ(rec.head_len, TF_SPOOL_FIRST_LEN + sizeof(good) - 1);

    /* what a rewrite may make: a URI without "/", a space in the args */
    rc = parse("accepted 1\nbody 2\nuri hook2\nargs q=/a b&\x7f\n\n\n",
               &rec, &error);
    CHECK_EQ(rc, 0);
    CHECK_STR(rec.uri.data, rec.uri.len, "hook2");
    CHECK_STR(rec.args.data, rec.args.len, "q=/a b&\x7f");

    /* the least a head can be: no fields but the three, no headers */
    rc = parse(FIELDS "\n\n", &rec, &error);
    CHECK_EQ(rc, 0);
    CHECK_EQ(rec.accepted, INT64_C(1764558000123));
    CHECK_EQ(rec.body_len, 42);
    CHECK_EQ(rec.test, 0);
    CHECK_EQ(rec.event.len, 0);
    CHECK_EQ(rec.headers_len, 0);

    /* in any order; a field of a later version is skipped */
    rc = parse("future thing\nbody 0\nevent e\nuri /\naccepted 0\nx\\x y\n\n\n",
               &rec, &error);
    CHECK_EQ(rc, 0);
    CHECK_EQ(rec.accepted, 0);
    CHECK_EQ(rec.body_len, 0);
    CHECK_STR(rec.event.data, rec.event.len, "e");

    /* test is 1 or not */
    rc = parse(FIELDS "test 0\n\n\n", &rec, &error);
    CHECK(rc == 0 && rec.test == 0);
    rc = parse(FIELDS "test 11\n\n\n", &rec, &error);
    CHECK(rc == 0 && rec.test == 0);

    /* a field given twice: the last one */
    rc = parse(FIELDS "event a\nevent b\nbody 7\n\n\n", &rec, &error);
    CHECK(rc == 0 && rec.body_len == 7);
    CHECK_STR(rec.event.data, rec.event.len, "b");

    /* an empty value, a value with spaces */
    rc = parse(FIELDS "event \nid a b  c\n\n\n", &rec, &error);
    CHECK(rc == 0 && rec.event.len == 0);
    CHECK_STR(rec.id.data, rec.id.len, "a b  c");

    /* the largest numbers */
    rc = parse("accepted 9223372036854775807\nbody 9999999999999999999\n"
               "uri /\n\n\n",
               &rec, &error);
    CHECK_EQ(rc, 0);
    CHECK_EQ(rec.accepted, INT64_MAX);
    CHECK(rec.body_len == UINT64_C(9999999999999999999));
}


static void
test_parse_bad(void)
{
    int                 rc;
    u_char             *head;
    size_t              len;
    const char         *error;
    tf_spool_record_t   rec;

    BAD("accepted 1\n", "a field line without its end");
    BAD("accepted 1\nbody 2", "a field line without its end");
    BAD("accepted 1\nbody 2\n", "a field line without its end");
    BAD("accepted\nbody 2\n\n\n", "a field line without a value");
    BAD(FIELDS "event\n\n\n", "a field line without a value");

    BAD("body 2\n\n\n", "no accepted time or body length");
    BAD("accepted 1\n\n\n", "no accepted time or body length");
    BAD("\n\n", "no accepted time or body length");

    BAD("accepted \nbody 2\n\n\n", "a bad accepted time");
    BAD("accepted -1\nbody 2\n\n\n", "a bad accepted time");
    BAD("accepted 1x\nbody 2\n\n\n", "a bad accepted time");
    BAD("accepted 9223372036854775808\nbody 2\n\n\n", "a bad accepted time");
    BAD("accepted 00000000000000000001\nbody 2\n\n\n", "a bad accepted time");
    BAD("accepted 1 \nbody 2\n\n\n", "a bad accepted time");
    BAD("accepted 1\nbody \n\n\n", "a bad body length");
    BAD("accepted 1\nbody +2\n\n\n", "a bad body length");
    BAD("accepted 1\nbody 12345678901234567890\n\n\n", "a bad body length");

    /* escapes tf_spool_escape() never writes */
    BAD(FIELDS "event \\\n\n\n", "a bad escape in a field");
    BAD(FIELDS "event \\x\n\n\n", "a bad escape in a field");
    BAD(FIELDS "event \\x0\n\n\n", "a bad escape in a field");
    BAD(FIELDS "event a\\x0\n\n\n", "a bad escape in a field");
    BAD(FIELDS "event \\x0A\n\n\n", "a bad escape in a field");
    BAD(FIELDS "event \\xg0\n\n\n", "a bad escape in a field");
    BAD(FIELDS "event \\y00\n\n\n", "a bad escape in a field");
    BAD(FIELDS "event \\\\\n\n\n", "a bad escape in a field");
    BAD(FIELDS "unparsed /a\\x2\n\n\n", "a bad escape in a field");

    /* a delivery finds its location by the URI */
    BAD("accepted 1\nbody 2\n\n\n", "no URI");
    BAD("accepted 1\nbody 2\nuri \n\n\n", "no URI");

    /* nothing that would end or split the request line, or a header's */
    BAD(FIELDS "args a\\x0d\\x0aX: 1\n\n\n", "a bad request line");
    BAD(FIELDS "args a\\x0ab\n\n\n", "a bad request line");
    BAD(FIELDS "args a\\x00\n\n\n", "a bad request line");
    BAD(FIELDS "unparsed xyz\n\n\n", "a bad request line");
    BAD(FIELDS "unparsed /a\\x0d\\x0aX: 1\n\n\n", "a bad request line");
    BAD(FIELDS "unparsed /a\\x00\n\n\n", "a bad request line");
    BAD(FIELDS "\nX: a\rb\n\n", "a bad header line");
    BAD(FIELDS "\nX\r: ab\n\n", "a bad header line");

    /* the headers must end with an empty line */
    BAD(FIELDS "\n", "headers without their end");
    BAD(FIELDS "\nHost: a\n", "headers without their end");
    BAD(FIELDS "\nHost: a", "headers without their end");
    BAD(FIELDS "\nHost: a\n\nx", "headers without their end");

    /* a length that is not the one the first line announces */
    head = tf_spool_test_head(S(FIELDS "\n\n"), &len);

    error = NULL;
    rc = tf_spool_head_parse(head, len - 1, &rec, &error);
    CHECK(rc == -1 && error && strcmp(error, "no spool record head") == 0);

    error = NULL;
    rc = tf_spool_head_parse(head, 10, &rec, &error);
    CHECK(rc == -1 && error && strcmp(error, "no spool record head") == 0);

    head[0] = 'T';
    error = NULL;
    rc = tf_spool_head_parse(head, len, &rec, &error);
    CHECK(rc == -1 && error && strcmp(error, "no spool record head") == 0);

    free(head);
}


/* the next header line is name: value */

static void
next_is(const u_char **pos, const u_char *last, const char *name,
    const char *value)
{
    tf_str_t  n, v;

    CHECK_EQ(tf_spool_header_next(pos, last, &n, &v), 1);
    CHECK_STR(n.data, n.len, name);
    CHECK_STR(v.data, v.len, value);
}


/* the header lines of a parsed head, one by one */

static void
test_header_next(void)
{
    tf_str_t       name, value;
    const u_char  *pos, *last;

    static const char  lines[] =
        "Host: hooks.example.com:8080\n"
        "X-Empty:\n"
        "X-Tight:v\n"
        "X-Spaces:   v  \n"
        "no colon here\n"
        ": no name\n"
        "\n"
        "Teachfloor-Signature: t=1764558000,v1=0a1b\n"
        "Last: without a line end";

    pos = (const u_char *) lines;
    last = pos + sizeof(lines) - 1;

    next_is(&pos, last, "Host", "hooks.example.com:8080");
    next_is(&pos, last, "X-Empty", "");
    next_is(&pos, last, "X-Tight", "v");

    /* one space after the colon is the separator, the rest is the value */
    next_is(&pos, last, "X-Spaces", "  v  ");

    /* the lines without a colon or a name, and the empty one, skipped */
    next_is(&pos, last, "Teachfloor-Signature", "t=1764558000,v1=0a1b");
    next_is(&pos, last, "Last", "without a line end");
    CHECK(pos == last);

    CHECK_EQ(tf_spool_header_next(&pos, last, &name, &value), 0);
    CHECK(pos == last);
    CHECK_EQ(tf_spool_header_next(&pos, last, &name, &value), 0);

    /* nothing, or nothing but skipped lines */
    pos = (const u_char *) lines;
    CHECK_EQ(tf_spool_header_next(&pos, pos, &name, &value), 0);

    pos = (const u_char *) "\n\nnone\n:\n";
    last = pos + 9;
    CHECK_EQ(tf_spool_header_next(&pos, last, &name, &value), 0);
    CHECK(pos == last);
}


/* the headers of a parsed head, as delivery reads them */

static void
test_parse_headers(void)
{
    int                 rc, n;
    tf_str_t            name, value;
    const char         *error;
    const u_char       *pos, *last;
    tf_spool_record_t   rec;
    size_t              len;
    u_char             *head;

    static const char  rest[] = FIELDS "\n"
                                "Host: a\n"
                                "Content-Length: 42\n"
                                "\n";

    head = tf_spool_test_head(S(rest), &len);

    rc = tf_spool_head_parse(head, len, &rec, &error);
    CHECK_EQ(rc, 0);

    pos = rec.headers;
    last = rec.headers + rec.headers_len;
    n = 0;

    while (tf_spool_header_next(&pos, last, &name, &value)) {
        n++;

        if (n == 2) {
            CHECK_STR(name.data, name.len, "Content-Length");
            CHECK_STR(value.data, value.len, "42");
        }
    }

    CHECK_EQ(n, 2);

    /* the body starts right after the head */
    CHECK(rec.headers + rec.headers_len + 1 == head + rec.head_len);

    free(head);
}


void
test_spool(void)
{
    test_escape();
    test_round_trip();
    test_head_len();
    test_parse_good();
    test_parse_bad();
    test_header_next();
    test_parse_headers();

    free(held);
    held = NULL;
}
