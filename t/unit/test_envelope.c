
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * tf_envelope: both envelope shapes, each validation rule, malformed JSON,
 * and where the memory goes (the arena during a parse, malloc() outside,
 * in other threads, and under hooks someone else installed).
 */


#include <malloc.h>
#include <pthread.h>
#include <cjson/cJSON.h>

#include "tf_test.h"
#include "tf_arena.h"
#include "tf_envelope.h"
#include "tf_time.h"


#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TF_ASAN  1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TF_ASAN  1
#endif

#if (TF_ASAN)
#include <sanitizer/allocator_interface.h>
#endif


static tf_arena_t      arena;
static tf_allocator_t  allocator = { tf_arena_alloc, &arena };


static int
str_owned(const tf_str_t *s)
{
    if (s->len == 0) {
        return 1;
    }

    return s->data != NULL && tf_arena_owns(&arena, s->data, s->len);
}


/*
 * Parses a heap copy of exactly len bytes (no terminating NUL, so that an
 * over-read shows under ASan), then wipes and frees the copy: the strings
 * in env must live in the arena, which stays until the next parse.
 * Failures of the invariants are reported against the caller's line.
 */

static tf_envelope_rc_e
parse_at(const void *json, size_t len, tf_envelope_t *env, int line)
{
    u_char            *body;
    int64_t            epoch;
    tf_envelope_rc_e   rc;

    tf_arena_free(&arena);

    body = malloc(len ? len : 1);
    if (body == NULL) {
        abort();
    }

    memcpy(body, json, len);

    memset(env, 0x5a, sizeof(tf_envelope_t));
    rc = tf_envelope_parse(body, len, &allocator, env);

    memset(body, 'X', len);
    free(body);

    if (!str_owned(&env->event) || !str_owned(&env->id)
        || !str_owned(&env->time) || !str_owned(&env->organization_id))
    {
        TF_FAIL_AT("line %d: a string of the envelope is not in the arena",
                   line);
    }

    if (rc == TF_ENVELOPE_OK) {
        if (!tf_event_name_valid(env->event.data, env->event.len)) {
            TF_FAIL_AT("line %d: OK with an invalid event \"%.*s\"", line,
                       (int) env->event.len, (const char *) env->event.data);
        }

        if (tf_time_parse(env->time.data, env->time.len, &epoch) != 0
            || epoch != env->epoch)
        {
            TF_FAIL_AT("line %d: OK with time \"%.*s\" epoch %" PRId64, line,
                       (int) env->time.len, (const char *) env->time.data,
                       env->epoch);
        }
    }

    if (rc == TF_ENVELOPE_MALFORMED_JSON && env->event.len != 0) {
        TF_FAIL_AT("line %d: MALFORMED_JSON with an event", line);
    }

    /* every refusal says why, for the log line; a success says nothing */

    if ((rc == TF_ENVELOPE_OK) != (env->error == NULL)) {
        TF_FAIL_AT("line %d: rc %d with error \"%s\"", line, (int) rc,
                   env->error ? env->error : "(none)");
    }

    if (env->event.len
        && !tf_event_name_valid(env->event.data, env->event.len))
    {
        TF_FAIL_AT("line %d: an invalid event name is set", line);
    }

    return rc;
}


#define parse(json, len, env)  parse_at(json, len, env, __LINE__)

#define RC(json, expected)                                                   \
    CHECK_EQ(parse_at(S(json), &env, __LINE__), expected)

#define OK(json)         RC(json, TF_ENVELOPE_OK)
#define INVALID(json)    RC(json, TF_ENVELOPE_INVALID)
#define MALFORMED(json)  RC(json, TF_ENVELOPE_MALFORMED_JSON)


/* the body text around the fields under test */
#define TS    "\"timestamp\":\"2025-10-07T15:30:00Z\""
#define DATA  "\"data\":{}"
#define EV    "\"event\":\"member.joined\""


static void
test_fixtures(void)
{
    size_t            i, len;
    u_char           *body;
    char              path[256];
    tf_envelope_t     env;
    tf_envelope_rc_e  rc;

    static const struct {
        const char  *file;
        const char  *event;
        const char  *id;
        const char  *time;
        const char  *org;
        int          test;
    } samples[] = {
        { "course-join-typed.json", "course.join", "evt_abc123",
          "2025-10-07T15:30:00.000000Z", "acme-corp", 0 },
        { "course-updated.json", "course.updated", "",
          "2025-10-07T15:30:00Z", "org_123", 0 },
        { "element-completed.json", "element.completed", "",
          "2025-10-07T15:30:00Z", "", 0 },
        { "member-joined.json", "member.joined", "",
          "2025-10-07T15:30:00Z", "org_123", 0 },
        { "test-event.json", "test.event", "",
          "2025-10-07T15:30:00Z", "", 1 },
    };

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        snprintf(path, sizeof(path), "t/fixtures/samples/%s",
                 samples[i].file);

        body = tf_test_read_file(path, &len);

        rc = parse(body, len, &env);
        CHECK_MSG(rc == TF_ENVELOPE_OK, "%s: rc %d", samples[i].file, rc);
        CHECK_STR(env.event.data, env.event.len, samples[i].event);
        CHECK_STR(env.id.data, env.id.len, samples[i].id);
        CHECK_STR(env.time.data, env.time.len, samples[i].time);
        CHECK_STR(env.organization_id.data, env.organization_id.len,
                  samples[i].org);
        CHECK_EQ(env.epoch, 1759851000);
        CHECK_EQ(env.test, samples[i].test);
        CHECK(arena.nblocks > 0);

        free(body);
    }
}


static void
test_shapes(void)
{
    tf_envelope_t  env;

    /* the smallest of each shape */
    OK("{" EV "," TS "," DATA "}");
    CHECK_STR(env.event.data, env.event.len, "member.joined");
    CHECK_EQ(env.id.len, 0);
    CHECK_EQ(env.organization_id.len, 0);
    CHECK_EQ(env.test, 0);

    OK("{\"id\":\"e1\",\"type\":\"course.join\","
       "\"created_at\":\"2025-10-07T17:30:00+02:00\",\"data\":{}}");
    CHECK_STR(env.event.data, env.event.len, "course.join");
    CHECK_STR(env.id.data, env.id.len, "e1");
    CHECK_STR(env.time.data, env.time.len, "2025-10-07T17:30:00+02:00");
    CHECK_EQ(env.epoch, 1759851000);

    /* fields in any order, white space anywhere */
    OK(" \t\r\n{ \"data\" : { } ,\n \"timestamp\" :\t\"2025-10-07T15:30:00Z\""
       " , \"event\" : \"member.joined\" } \r\n\t ");
    CHECK_STR(env.event.data, env.event.len, "member.joined");

    /* "event" wins over "type", "timestamp" over "created_at" */
    OK("{\"type\":\"course.join\",\"event\":\"member.joined\","
       "\"created_at\":\"2000-01-01T00:00:00Z\"," TS "," DATA "}");
    CHECK_STR(env.event.data, env.event.len, "member.joined");
    CHECK_EQ(env.epoch, 1759851000);

    /* the fields of either shape mix */
    OK("{" EV ",\"created_at\":\"2025-10-07T15:30:00Z\"," DATA "}");
    OK("{\"type\":\"a.b\"," TS "," DATA ",\"test\":false}");

    /* test */
    OK("{" EV "," TS "," DATA ",\"test\":true}");
    CHECK_EQ(env.test, 1);
    OK("{" EV "," TS "," DATA ",\"test\":false}");
    CHECK_EQ(env.test, 0);

    /* id */
    OK("{" EV "," TS "," DATA ",\"id\":\"x\"}");
    CHECK_STR(env.id.data, env.id.len, "x");

    /* unknown fields are ignored, whatever their type */
    OK("{" EV "," TS "," DATA ",\"extra\":[1,{\"a\":null},\"s\",true],"
       "\"n\":-1.5e10,\"nul\":null,\"o\":{\"event\":\"x\"},"
       "\"Event\":\"BAD\",\"TEST\":\"yes\",\"ID\":7,\"\":0}");
    CHECK_STR(env.event.data, env.event.len, "member.joined");
    CHECK_EQ(env.id.len, 0);
    CHECK_EQ(env.test, 0);

    /* escapes in the strings are decoded */
    OK("{\"event\":\"member\\u002ejoined\"," TS "," DATA
       ",\"id\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\"}");
    CHECK_STR(env.event.data, env.event.len, "member.joined");
    CHECK_STR(env.id.data, env.id.len, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");

    /* event names of the convention */
    OK("{\"event\":\"a.b\"," TS "," DATA "}");
    CHECK_EQ(tf_event_name_conventional(env.event.data, env.event.len), 1);
    OK("{\"event\":\"a_1.b_2.c_3.d\"," TS "," DATA "}");
    CHECK_EQ(tf_event_name_conventional(env.event.data, env.event.len), 1);
    OK("{\"event\":\"0.9\"," TS "," DATA "}");
    OK("{\"event\":\"_._\"," TS "," DATA "}");
    CHECK_EQ(tf_event_name_conventional(env.event.data, env.event.len), 1);

    /* a UTF-8 byte order mark is tolerated by cJSON */
    OK("\xef\xbb\xbf{" EV "," TS "," DATA "}");
}


static void
test_invalid(void)
{
    tf_envelope_t  env;

    /* no event, or not a string, or not a valid name */
    INVALID("{" TS "," DATA "}");
    CHECK(env.event.len == 0 && env.event.data == NULL);
    INVALID("{}");
    INVALID("{\"event\":null," TS "," DATA "}");
    INVALID("{\"event\":1," TS "," DATA "}");
    INVALID("{\"event\":true," TS "," DATA "}");
    INVALID("{\"event\":[\"a.b\"]," TS "," DATA "}");
    INVALID("{\"event\":{\"a\":\"b\"}," TS "," DATA "}");
    INVALID("{\"event\":\"\"," TS "," DATA "}");
    INVALID("{\"type\":\"\"," TS "," DATA "}");
    INVALID("{\"type\":7," TS "," DATA "}");
    INVALID("{\"Event\":\"member.joined\"," TS "," DATA "}");

    /* control characters, escaped or raw (cJSON takes them raw) */
    INVALID("{\"event\":\"member.joined\\n\"," TS "," DATA "}");
    CHECK(env.event.len == 0 && env.event.data == NULL);
    INVALID("{\"event\":\"member.joined\\u0001\"," TS "," DATA "}");
    INVALID("{\"event\":\"\\u001fx\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\\tb\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\\rb\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\\u007fb\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\\u0085b\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\\u009fb\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\x01b\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\tb\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\nb\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\x7f\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\xc2\x85\"," TS "," DATA "}");

    /* bytes that are no UTF-8: a JSON text is UTF-8 */
    INVALID("{\"event\":\"a\xff\"," TS "," DATA "}");
    INVALID("{\"event\":\"a\xc3\"," TS "," DATA "}");
    INVALID("{\"event\":\"\xc3.b\"," TS "," DATA "}");
    INVALID("{\"event\":\"\xa9\"," TS "," DATA "}");
    INVALID("{\"event\":\"\xc0\xae\"," TS "," DATA "}");
    INVALID("{\"event\":\"\xe0\x80\xae\"," TS "," DATA "}");
    INVALID("{\"event\":\"\xed\xa0\x80\"," TS "," DATA "}");
    INVALID("{\"event\":\"\xf4\x90\x80\x80\"," TS "," DATA "}");
    INVALID("{\"event\":\"\xe2\x82\"," TS "," DATA "}");

    /* an invalid "event" is not replaced by a valid "type" */
    INVALID("{\"event\":\"a\\u0001\",\"type\":\"course.join\"," TS ","
            DATA "}");
    CHECK(env.event.len == 0);
    INVALID("{\"event\":null,\"type\":\"course.join\"," TS "," DATA "}");

    /* with a valid event, env->event stays set on INVALID */
    INVALID("{" EV "}");
    CHECK_STR(env.event.data, env.event.len, "member.joined");

    /* time: missing, not a string, empty, malformed */
    INVALID("{" EV "," DATA "}");
    CHECK_STR(env.event.data, env.event.len, "member.joined");
    INVALID("{" EV ",\"timestamp\":1759851000," DATA "}");
    INVALID("{" EV ",\"timestamp\":null," DATA "}");
    INVALID("{" EV ",\"timestamp\":\"\"," DATA "}");
    INVALID("{" EV ",\"timestamp\":\"2025-10-07T15:30:00\"," DATA "}");
    INVALID("{" EV ",\"timestamp\":\"2025-10-07 15:30:00Z\"," DATA "}");
    INVALID("{" EV ",\"timestamp\":\"2023-02-29T15:30:00Z\"," DATA "}");
    INVALID("{" EV ",\"timestamp\":\"2025-10-07T15:30:00Z \"," DATA "}");
    INVALID("{" EV ",\"created_at\":\"yesterday\"," DATA "}");
    INVALID("{" EV ",\"timestamp\":\"bad\","
            "\"created_at\":\"2025-10-07T15:30:00Z\"," DATA "}");

    /* data: missing or not an object */
    INVALID("{" EV "," TS "}");
    INVALID("{" EV "," TS ",\"data\":null}");
    INVALID("{" EV "," TS ",\"data\":[]}");
    INVALID("{" EV "," TS ",\"data\":[{}]}");
    INVALID("{" EV "," TS ",\"data\":\"{}\"}");
    INVALID("{" EV "," TS ",\"data\":0}");
    INVALID("{" EV "," TS ",\"data\":true}");
    INVALID("{" EV "," TS ",\"Data\":{}}");

    /* id: when present, a non-empty string */
    INVALID("{" EV "," TS "," DATA ",\"id\":\"\"}");
    INVALID("{" EV "," TS "," DATA ",\"id\":123}");
    INVALID("{" EV "," TS "," DATA ",\"id\":null}");
    INVALID("{" EV "," TS "," DATA ",\"id\":[\"x\"]}");
    INVALID("{" EV "," TS "," DATA ",\"id\":{}}");
    INVALID("{" EV "," TS "," DATA ",\"id\":false}");

    /* test: when present, a boolean */
    INVALID("{" EV "," TS "," DATA ",\"test\":\"true\"}");
    INVALID("{" EV "," TS "," DATA ",\"test\":1}");
    INVALID("{" EV "," TS "," DATA ",\"test\":0}");
    INVALID("{" EV "," TS "," DATA ",\"test\":null}");
    INVALID("{" EV "," TS "," DATA ",\"test\":[true]}");
}


/*
 * Names outside the resource.action convention: Teachfloor calls it a
 * convention and has custom events, so any printable UTF-8 name is taken
 * (and flagged), up to TF_EVENT_NAME_MAX bytes.
 */

static void
test_odd_names(void)
{
    size_t         i, n;
    char           body[1024], name[TF_EVENT_NAME_MAX + 2];
    tf_envelope_t  env;

#define ODD(json, expected)                                                  \
    OK("{\"event\":\"" json "\"," TS "," DATA "}");                           \
    CHECK_STR(env.event.data, env.event.len, expected);                      \
    CHECK_EQ(tf_event_name_conventional(env.event.data, env.event.len), 0)

    ODD("member", "member");
    ODD("lead-scored", "lead-scored");
    ODD("Custom Event: Lead Scored", "Custom Event: Lead Scored");
    ODD("orgX.custom.v2", "orgX.custom.v2");
    ODD("Member.Joined", "Member.Joined");
    ODD("member.", "member.");
    ODD(".joined", ".joined");
    ODD(".", ".");
    ODD("..", "..");
    ODD("member..joined", "member..joined");
    ODD(" member.joined ", " member.joined ");
    ODD("member.*", "member.*");
    ODD("*", "*");
    ODD("!x.y", "!x.y");
    ODD("a\\\"b\\\\c", "a\"b\\c");
    ODD("m\\u00e9mber.joined", "m\xc3\xa9mber.joined");
    ODD("m\xc3\xa9mber.joined", "m\xc3\xa9mber.joined");
    ODD("\\u00a0", "\xc2\xa0");
    ODD("\\ud83d\\ude00.x", "\xf0\x9f\x98\x80.x");
    ODD("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");
    ODD("\xef\xbf\xbf", "\xef\xbf\xbf");

#undef ODD

    /* the second shape's "type" the same */
    OK("{\"id\":\"e1\",\"type\":\"Lead Scored\","
       "\"created_at\":\"2025-10-07T15:30:00Z\",\"data\":{}}");
    CHECK_STR(env.event.data, env.event.len, "Lead Scored");
    CHECK_EQ(tf_event_name_conventional(env.event.data, env.event.len), 0);

    /* a lone surrogate: cJSON refuses the text itself */
    MALFORMED("{\"event\":\"\\ud800\"," TS "," DATA "}");

    /* the bound is on the decoded bytes, whatever their spelling */

    for (n = TF_EVENT_NAME_MAX - 1; n <= TF_EVENT_NAME_MAX + 1; n++) {
        memset(name, 'a', n);
        name[n] = '\0';
        snprintf(body, sizeof(body), "{\"event\":\"%s\"," TS "," DATA "}",
                 name);

        CHECK_MSG(parse(body, strlen(body), &env)
                  == (n <= TF_EVENT_NAME_MAX ? TF_ENVELOPE_OK
                                             : TF_ENVELOPE_INVALID),
                  "a name of %zu bytes", n);
    }

    /* 128 times U+00E9 escaped: 768 bytes of JSON, 256 of name */

    n = snprintf(body, sizeof(body), "{\"event\":\"");
    for (i = 0; i < TF_EVENT_NAME_MAX / 2; i++) {
        n += snprintf(body + n, sizeof(body) - n, "\\u00e9");
    }
    n += snprintf(body + n, sizeof(body) - n, "\"," TS "," DATA "}");

    CHECK_EQ(parse(body, n, &env), TF_ENVELOPE_OK);
    CHECK_EQ(env.event.len, TF_EVENT_NAME_MAX);

    /* one byte more: "x" then the same */
    memmove(body + 11, body + 10, n - 10);
    body[10] = 'x';
    CHECK_EQ(parse(body, n + 1, &env), TF_ENVELOPE_INVALID);
    CHECK_EQ(env.event.len, 0);
}


/* the log line's form of a name: bounded, cut between characters */

static void
test_escape(void)
{
    size_t   i;
    u_char  *end, buf[64];

#define ESC(name, expected)                                                  \
    memset(buf, 0xee, sizeof(buf));                                          \
    end = tf_event_name_escape(buf, buf + sizeof(buf) - 1, S(name));         \
    CHECK_STR(buf, end - buf, expected);                                     \
    CHECK(buf[sizeof(buf) - 1] == 0xee)

    ESC("member.joined", "member.joined");
    ESC("Custom Event: Lead Scored", "Custom Event: Lead Scored");
    ESC("a\"b\\c", "a\\\"b\\\\c");
    ESC("m\xc3\xa9", "m\\xc3\\xa9");
    ESC("\x01\x1f\x7f\xff\n", "\\x01\\x1f\\x7f\\xff\\x0a");
    ESC("", "");

#undef ESC

    /* in room of every size, whole characters only and nothing past it */

    for (i = 0; i <= 12; i++) {
        memset(buf, 0xee, sizeof(buf));
        end = tf_event_name_escape(buf, buf + i, S("a\"\xc3\xa9" "b"));

        CHECK_MSG(end <= buf + i && buf[i] == 0xee, "room %zu", i);
        CHECK_MSG(memcmp(buf, "a\\\"\\xc3\\xa9b", end - buf) == 0
                  && (end - buf == 0 || end - buf == 1 || end - buf == 3
                      || end - buf == 7 || end - buf == 11
                      || end - buf == 12),
                  "room %zu: \"%.*s\"", i, (int) (end - buf), buf);
    }
}


static void
test_malformed(void)
{
    tf_envelope_t  env;

    MALFORMED("");
    MALFORMED(" ");
    MALFORMED("\n\r\t ");
    MALFORMED("{");
    MALFORMED("}");
    MALFORMED("{{}}");
    MALFORMED("null");
    MALFORMED("true");
    MALFORMED("0");
    MALFORMED("-1.5");
    MALFORMED("\"member.joined\"");
    MALFORMED("[]");
    MALFORMED("[{" EV "," TS "," DATA "}]");

    /* truncated, or broken inside */
    MALFORMED("{" EV "," TS "," DATA);
    MALFORMED("{" EV "," TS ",\"data\":{");
    MALFORMED("{" EV "," TS ",\"data\":{}");
    MALFORMED("{\"event\":\"member.joined");
    MALFORMED("{\"event\":");
    MALFORMED("{\"event\"");
    MALFORMED("{\"event\":}");
    MALFORMED("{\"event\" \"member.joined\"}");
    MALFORMED("{" EV " " TS "}");
    MALFORMED("{" EV ",," TS "}");
    MALFORMED("{" EV "," TS "," DATA ",}");
    MALFORMED("{event:\"member.joined\"}");
    MALFORMED("{'event':'member.joined'}");
    MALFORMED("{" EV "," TS ",\"data\":{\"a\":01x}}");
    MALFORMED("{" EV "," TS ",\"data\":{\"a\":tru}}");
    MALFORMED("{" EV "," TS ",\"data\":{\"a\":\"\\x\"}}");
    MALFORMED("{" EV "," TS ",\"data\":{\"a\":\"\\u12\"}}");
    MALFORMED("{" EV "," TS ",\"data\":[}}");

    /* anything but white space after the value */
    MALFORMED("{" EV "," TS "," DATA "}x");
    MALFORMED("{" EV "," TS "," DATA "} x");
    MALFORMED("{" EV "," TS "," DATA "}}");
    MALFORMED("{" EV "," TS "," DATA "},");
    MALFORMED("{" EV "," TS "," DATA "}{}");
    MALFORMED("{" EV "," TS "," DATA "}\n{" EV "," TS "," DATA "}");
    MALFORMED("{" EV "," TS "," DATA "}\n\n0");
    MALFORMED("{" EV "," TS "," DATA "}\0");
    MALFORMED("{" EV "," TS "," DATA "}\n\0");
    MALFORMED("{" EV "," TS "," DATA "}\f");
    MALFORMED("{" EV "," TS "," DATA "}\v");
    MALFORMED("{" EV "," TS "," DATA "}/* c */");
    MALFORMED("{" EV "," TS "," DATA "}\xef\xbb\xbf");

    /*
     * Not asserted: cJSON takes any byte up to 0x20 (NUL and the control
     * characters included) for white space before and inside the value,
     * so "\0{...}" and "{...\0}" parse; only the bytes after the value
     * are held to JSON's four white-space characters, by the envelope.
     */
}


static void
test_organization(void)
{
    tf_envelope_t  env;

#define ORG(value, expected)                                                 \
    OK("{" EV "," TS ",\"data\":{\"organization\":{\"id\":" value "}}}");   \
    CHECK_STR(env.organization_id.data, env.organization_id.len, expected)

    ORG("\"org_123\"", "org_123");
    ORG("\"\"", "");
    ORG("123", "123");
    ORG("0", "0");
    ORG("-0", "0");
    ORG("-7", "-7");
    ORG("123.0", "123");
    ORG("1e3", "1000");
    ORG("12345678901234", "12345678901234");
    ORG("-12345678901234", "-12345678901234");
    ORG("9007199254740992", "9007199254740992");
    ORG("-9007199254740992", "-9007199254740992");
    ORG("1.5", "");
    ORG("-0.25", "");
    ORG("1e-3", "");
    ORG("1e16", "");
    ORG("1e300", "");
    ORG("1e400", "");
    ORG("-1e400", "");
    ORG("true", "");
    ORG("null", "");
    ORG("[]", "");
    ORG("[1]", "");
    ORG("{}", "");
    ORG("{\"id\":\"x\"}", "");
    /* it goes into headers ($teachfloor_organization): none of its own */
    ORG("\"org\\r\\nX-Injected: 1\"", "");
    ORG("\"org\\u007f\"", "");
    ORG("\"org 1 \\u00e9\"", "org 1 \xc3\xa9");

#undef ORG

    /* the organization itself missing or oddly shaped */
    OK("{" EV "," TS ",\"data\":{\"organization\":\"org_1\"}}");
    CHECK_EQ(env.organization_id.len, 0);
    OK("{" EV "," TS ",\"data\":{\"organization\":null}}");
    CHECK_EQ(env.organization_id.len, 0);
    OK("{" EV "," TS ",\"data\":{\"organization\":[{\"id\":\"x\"}]}}");
    CHECK_EQ(env.organization_id.len, 0);
    OK("{" EV "," TS ",\"data\":{\"organization\":{}}}");
    CHECK_EQ(env.organization_id.len, 0);
    OK("{" EV "," TS ",\"data\":{\"organization\":{\"name\":\"x\"}}}");
    CHECK_EQ(env.organization_id.len, 0);

    /* only data.organization counts */
    OK("{" EV "," TS "," DATA ",\"organization\":{\"id\":\"top\"}}");
    CHECK_EQ(env.organization_id.len, 0);
    OK("{" EV "," TS ",\"data\":{\"member\":{\"organization\":{\"id\":\"x\"}}}}");
    CHECK_EQ(env.organization_id.len, 0);
}


/* the JSON text of n nested arrays, inside an envelope or not */

static u_char *
nested(size_t n, const char *head, const char *tail, size_t *len)
{
    u_char  *p, *buf;
    size_t   hl, tl;

    hl = strlen(head);
    tl = strlen(tail);

    buf = malloc(hl + 2 * n + tl);
    if (buf == NULL) {
        abort();
    }

    p = buf;
    memcpy(p, head, hl);
    p += hl;
    memset(p, '[', n);
    p += n;
    memset(p, ']', n);
    p += n;
    memcpy(p, tail, tl);
    p += tl;

    *len = p - buf;

    return buf;
}


static void
test_nesting(void)
{
    size_t            len;
    u_char           *body;
    tf_envelope_t     env;

    /* 100000 '[' with nothing else */
    body = malloc(100000);
    if (body == NULL) {
        abort();
    }
    memset(body, '[', 100000);
    CHECK_EQ(parse(body, 100000, &env), TF_ENVELOPE_MALFORMED_JSON);

    memset(body, '{', 100000);
    CHECK_EQ(parse(body, 100000, &env), TF_ENVELOPE_MALFORMED_JSON);

    /* {"a":{"a":{"a":... */
    for (len = 0; len + 5 <= 100000; len += 5) {
        memcpy(body + len, "{\"a\":", 5);
    }
    CHECK_EQ(parse(body, len, &env), TF_ENVELOPE_MALFORMED_JSON);
    free(body);

    /* balanced, but deep */
    body = nested(100000, "", "", &len);
    CHECK_EQ(parse(body, len, &env), TF_ENVELOPE_MALFORMED_JSON);
    free(body);

    body = nested(100000, "{" EV "," TS ",\"data\":{\"x\":", "}}", &len);
    CHECK_EQ(parse(body, len, &env), TF_ENVELOPE_MALFORMED_JSON);
    free(body);

    /* shallow enough for cJSON (its limit is 1000) */
    body = nested(500, "{" EV "," TS ",\"data\":{\"x\":", "}}", &len);
    CHECK_EQ(parse(body, len, &env), TF_ENVELOPE_OK);
    free(body);
}


/* a failing allocator at every step of a parse: no crash, no half result */

static void
test_out_of_memory(void)
{
    size_t            n, calls, bad, oks;
    tf_envelope_t     env;
    tf_envelope_rc_e  rc;

    static const char  body[] =
        "{\"id\":\"evt_1\",\"type\":\"course.join\","
        "\"created_at\":\"2025-10-07T15:30:00Z\",\"test\":true,"
        "\"data\":{\"organization\":{\"id\":42,\"name\":\"x\"},"
        "\"list\":[1,2,{\"k\":\"v\"}]}}";

    /* how many allocations a full parse takes */
    arena.fail_at = 0;
    tf_arena_free(&arena);
    rc = tf_envelope_parse((const u_char *) body, sizeof(body) - 1,
                           &allocator, &env);
    CHECK_EQ(rc, TF_ENVELOPE_OK);
    CHECK_STR(env.organization_id.data, env.organization_id.len, "42");
    calls = arena.calls;
    CHECK(calls > 10);

    bad = 0;
    oks = 0;

    for (n = 1; n <= calls + 1; n++) {
        tf_arena_free(&arena);
        arena.fail_at = n;

        rc = tf_envelope_parse((const u_char *) body, sizeof(body) - 1,
                               &allocator, &env);

        if (rc == TF_ENVELOPE_OK) {
            oks++;

            /* only the organization id may be lost, as if absent */
            if (env.event.len != 11 || env.id.len != 5 || env.test != 1
                || env.epoch != 1759851000
                || (env.organization_id.len != 0 && n <= calls))
            {
                bad++;
            }

        } else if (rc != TF_ENVELOPE_MALFORMED_JSON) {
            bad++;
        }
    }

    arena.fail_at = 0;
    tf_arena_free(&arena);

    CHECK_EQ(bad, 0);
    /* the last allocation is the organization id's; after it, all is OK */
    CHECK_EQ(oks, 2);
}


/* bytes in use on the heap: exact under ASan, glibc's count otherwise */

static size_t
heap_in_use(void)
{
#if (TF_ASAN)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}


/* the sample envelopes, and bodies that are no envelope, with their rc */

static const char  *sample_files[] = {
    "t/fixtures/samples/course-join-typed.json",
    "t/fixtures/samples/course-updated.json",
    "t/fixtures/samples/element-completed.json",
    "t/fixtures/samples/member-joined.json",
    "t/fixtures/samples/test-event.json",
};

#define NSAMPLES  (sizeof(sample_files) / sizeof(sample_files[0]))

static const struct {
    const char        *body;
    tf_envelope_rc_e   rc;
} not_envelopes[] = {
    { "{\"event\":\"a.b\",\"data\":{\"x\":[1,2,", TF_ENVELOPE_MALFORMED_JSON },
    { "{\"event\":\"a.b\",\"data\":[1,2]}", TF_ENVELOPE_INVALID },
    { "{\"event\":\"a.b\",\"timestamp\":\"2025-10-07T15:30:00Z\"}",
      TF_ENVELOPE_INVALID },
    { "[{\"event\":\"a.b\"}]", TF_ENVELOPE_MALFORMED_JSON },
    { "{\"event\":\"a.b\"} x", TF_ENVELOPE_MALFORMED_JSON },
    { "{\"event\":\"a\\u0000b\",\"data\":{}}", TF_ENVELOPE_INVALID },
};


/*
 * Everything a parse keeps comes from the arena, and after the arena is
 * freed the heap is as before: nothing went to malloc() behind the
 * arena's back, or was left there.  Round 0 warms the allocator up.
 * (glibc's count is exact with its thread cache off: scripts/unit sets
 * GLIBC_TUNABLES=glibc.malloc.tcache_count=0; with it on, a leak may go
 * unseen here, and LeakSanitizer catches it in SANITIZE=1 runs.)  Each
 * round takes at least min_blocks blocks of the arena.
 */

static void
check_parses_leave_nothing(u_char **bodies, size_t *len, size_t min_blocks,
    int line)
{
    int               round;
    size_t            i, before, after;
    tf_envelope_t     env;
    tf_envelope_rc_e  rc;

    before = 0;

    for (round = 0; round < 2; round++) {
        tf_arena_free(&arena);

        if (round == 1) {
            before = heap_in_use();
        }

        for (i = 0; i < NSAMPLES; i++) {
            rc = tf_envelope_parse(bodies[i], len[i], &allocator, &env);
            CHECK_MSG(rc == TF_ENVELOPE_OK && str_owned(&env.event)
                      && str_owned(&env.time),
                      "line %d: %s: rc %d", line, sample_files[i], rc);
        }

        for (i = 0; i < sizeof(not_envelopes) / sizeof(not_envelopes[0]);
             i++)
        {
            rc = tf_envelope_parse((const u_char *) not_envelopes[i].body,
                                   strlen(not_envelopes[i].body),
                                   &allocator, &env);
            CHECK_MSG(rc == not_envelopes[i].rc, "line %d: %s: rc %d", line,
                      not_envelopes[i].body, rc);
        }

        CHECK_MSG(arena.nblocks >= min_blocks, "line %d: %zu blocks", line,
                  arena.nblocks);
        CHECK_EQ(arena.calls, arena.nblocks);

        tf_arena_free(&arena);
    }

    after = heap_in_use();
    CHECK_MSG(after == before, "line %d: heap in use: %zu before, %zu after",
              line, before, after);
}


static void
test_memory(void)
{
    int       round;
    char     *printed;
    size_t    i, len[NSAMPLES], before, after;
    cJSON    *json;
    u_char   *bodies[NSAMPLES];

    for (i = 0; i < NSAMPLES; i++) {
        bodies[i] = tf_test_read_file(sample_files[i], &len[i]);
    }

    check_parses_leave_nothing(bodies, len, 50, __LINE__);

    /*
     * Outside a parse, cJSON works as usual through malloc() and free():
     * the arena sees no call, and nothing is left over.
     */

    before = 0;

    for (round = 0; round < 2; round++) {
        if (round == 1) {
            before = heap_in_use();
        }

        json = cJSON_Parse("{\"a\":[1,2,{\"b\":\"c\"}],\"d\":\"e\"}");
        CHECK(json != NULL);
        CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(json, "a")));

        printed = cJSON_PrintUnformatted(json);
        CHECK(printed != NULL
              && strcmp(printed, "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":\"e\"}")
                 == 0);
        cJSON_free(printed);

        cJSON_AddStringToObject(json, "f", "g");
        cJSON_DeleteItemFromObject(json, "d");
        cJSON_Delete(json);

        CHECK(cJSON_Parse("{\"a\":") == NULL);

        json = cJSON_CreateObject();
        cJSON_AddNumberToObject(json, "n", 1);
        cJSON_Delete(json);

        CHECK_EQ(arena.calls, 0);
    }

    after = heap_in_use();
    CHECK_MSG(after == before, "heap in use: %zu before, %zu after",
              before, after);

    for (i = 0; i < NSAMPLES; i++) {
        free(bodies[i]);
    }
}


/*
 * cJSON decodes "\u0000" into a NUL byte inside valuestring, which a C
 * string would cut short: "member.joined\u0000.evil" must not pass for
 * "member.joined", nor "...Z\u0000junk" for a time.  An escaped backslash
 * before "u0000" is no NUL.
 */

static void
test_embedded_nul(void)
{
    tf_envelope_t     env;
    tf_envelope_rc_e  rc;

    rc = parse_at(S("{\"event\":\"member.joined\\u0000.evil\"," TS ","
                    DATA "}"), &env, __LINE__);
    CHECK_MSG(rc == TF_ENVELOPE_INVALID,
              "event \"member.joined\\u0000.evil\": rc %d, event \"%.*s\"",
              rc, (int) env.event.len, (const char *) env.event.data);

    rc = parse_at(S("{" EV ",\"timestamp\":\"2025-10-07T15:30:00Z\\u0000junk\","
                    DATA "}"), &env, __LINE__);
    CHECK_MSG(rc == TF_ENVELOPE_INVALID,
              "timestamp \"...Z\\u0000junk\": rc %d", rc);

    /* a raw NUL byte is no JSON at all, in a string or out of one */

    rc = parse_at((const u_char *) "{\"event\":\"member.joined\0.evil\"," TS ","
                  DATA "}", sizeof("{\"event\":\"member.joined\0.evil\","
                                   TS "," DATA "}") - 1, &env, __LINE__);
    CHECK_MSG(rc == TF_ENVELOPE_MALFORMED_JSON, "raw NUL in event: rc %d", rc);

    rc = parse_at((const u_char *) "{\"id\":\"evt_1\0a\",\"type\":\"course.join\","
                  "\"created_at\":\"2025-10-07T15:30:00Z\",\"data\":{}}",
                  sizeof("{\"id\":\"evt_1\0a\",\"type\":\"course.join\","
                         "\"created_at\":\"2025-10-07T15:30:00Z\","
                         "\"data\":{}}") - 1, &env, __LINE__);
    CHECK_MSG(rc == TF_ENVELOPE_MALFORMED_JSON, "raw NUL in id: rc %d", rc);

    rc = parse_at(S("{" EV "," TS ",\"data\":{\"note\":\"a\\\\u0000\"}}"),
                  &env, __LINE__);
    CHECK_MSG(rc == TF_ENVELOPE_OK, "escaped backslash before u0000: rc %d",
              rc);
}


/*
 * Hooks another library installed after tf_envelope_init(): the tree is
 * on its heap, not in the arena.  The envelope must come out the same,
 * its strings in the arena all the same, and the tree freed through those
 * hooks: nothing left on the heap.
 */

static void
envelope_print(const tf_envelope_t *env, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s|%.*s|%.*s|%.*s|%" PRId64 "|%d|%d",
             (int) env->event.len, (const char *) env->event.data,
             (int) env->id.len, (const char *) env->id.data,
             (int) env->time.len, (const char *) env->time.data,
             (int) env->organization_id.len,
             (const char *) env->organization_id.data,
             env->epoch, env->test,
             tf_event_name_conventional(env->event.data, env->event.len));
}


static size_t  foreign_mallocs;
static size_t  foreign_frees;


static void *
foreign_malloc(size_t size)
{
    foreign_mallocs++;
    return malloc(size);
}


static void
foreign_free(void *p)
{
    if (p) {
        foreign_frees++;
    }

    free(p);
}


static void
test_foreign_hooks(void)
{
    size_t            i, n, calls, len[NSAMPLES];
    char              ref[NSAMPLES][160], printed[160];
    u_char           *bodies[NSAMPLES];
    cJSON_Hooks       hooks;
    tf_envelope_t     env;
    tf_envelope_rc_e  rc;

    static const char  typed[] =
        "{\"id\":\"evt_1\",\"type\":\"Lead Scored\","
        "\"created_at\":\"2025-10-07T15:30:00Z\",\"test\":true,"
        "\"data\":{\"organization\":{\"id\":42},\"list\":[1,{\"k\":\"v\"}]}}";

    for (i = 0; i < NSAMPLES; i++) {
        bodies[i] = tf_test_read_file(sample_files[i], &len[i]);

        CHECK_EQ(parse(bodies[i], len[i], &env), TF_ENVELOPE_OK);
        envelope_print(&env, ref[i], sizeof(ref[i]));
    }

    /* someone's own allocator, counted */

    hooks.malloc_fn = foreign_malloc;
    hooks.free_fn = foreign_free;
    cJSON_InitHooks(&hooks);

    foreign_mallocs = 0;
    foreign_frees = 0;

    /* parse_at() checks the strings are in the arena, not in the tree */

    for (i = 0; i < NSAMPLES; i++) {
        CHECK_EQ(parse(bodies[i], len[i], &env), TF_ENVELOPE_OK);
        envelope_print(&env, printed, sizeof(printed));
        CHECK_MSG(strcmp(printed, ref[i]) == 0, "%s: %s, not %s",
                  sample_files[i], printed, ref[i]);
    }

    CHECK(foreign_mallocs > 50);
    CHECK_EQ(foreign_frees, foreign_mallocs);

    CHECK_EQ(parse(typed, sizeof(typed) - 1, &env), TF_ENVELOPE_OK);
    CHECK_STR(env.event.data, env.event.len, "Lead Scored");
    CHECK_STR(env.id.data, env.id.len, "evt_1");
    CHECK_STR(env.time.data, env.time.len, "2025-10-07T15:30:00Z");
    CHECK_STR(env.organization_id.data, env.organization_id.len, "42");
    CHECK_EQ(env.test, 1);
    CHECK_EQ(tf_event_name_conventional(env.event.data, env.event.len), 0);

    for (i = 0; i < sizeof(not_envelopes) / sizeof(not_envelopes[0]); i++) {
        rc = parse(not_envelopes[i].body, strlen(not_envelopes[i].body),
                   &env);
        CHECK_MSG(rc == not_envelopes[i].rc, "%s: rc %d",
                  not_envelopes[i].body, rc);
    }

    CHECK_EQ(foreign_frees, foreign_mallocs);

    /* the copies failing at each step: no half result, nothing kept */

    tf_arena_free(&arena);
    rc = tf_envelope_parse((const u_char *) typed, sizeof(typed) - 1,
                           &allocator, &env);
    CHECK_EQ(rc, TF_ENVELOPE_OK);
    calls = arena.calls;
    CHECK(calls >= 4);

    for (n = 1; n <= calls; n++) {
        tf_arena_free(&arena);
        arena.fail_at = n;

        rc = tf_envelope_parse((const u_char *) typed, sizeof(typed) - 1,
                               &allocator, &env);

        CHECK_MSG(rc == TF_ENVELOPE_MALFORMED_JSON
                  ? env.event.len == 0 && env.id.len == 0
                    && env.time.len == 0
                  : rc == TF_ENVELOPE_OK && env.organization_id.len == 0,
                  "copy failing at %zu: rc %d", n, rc);
    }

    arena.fail_at = 0;
    tf_arena_free(&arena);
    CHECK_EQ(foreign_frees, foreign_mallocs);

    /* cJSON's own malloc() and free() back, as after cJSON_InitHooks(NULL) */

    cJSON_InitHooks(NULL);
    check_parses_leave_nothing(bodies, len, NSAMPLES, __LINE__);

    tf_envelope_init();

    for (i = 0; i < NSAMPLES; i++) {
        free(bodies[i]);
    }
}


/*
 * Another thread's cJSON calls while this one parses (as a thread pool
 * of another module would make): the allocator's fallback, called in the
 * middle of our parse, starts a thread that parses, prints and deletes a
 * tree of its own.  None of it may reach our allocator, and all of it
 * must be freed (LeakSanitizer, and glibc's count).
 */

static int     other_started;
static size_t  other_arena_calls;
static int     other_ok;


static void *
other_thread(void *arg)
{
    int     ok;
    char   *printed;
    cJSON  *json;

    (void) arg;

    json = cJSON_Parse("{\"a\":[1,2,{\"b\":\"c\"}],\"d\":\"e\"}");

    ok = json != NULL
         && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(json, "a"));

    printed = ok ? cJSON_PrintUnformatted(json) : NULL;

    ok = ok && printed
         && strcmp(printed, "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":\"e\"}") == 0;

    cJSON_free(printed);
    cJSON_Delete(json);

    return ok ? arg : NULL;
}


static void *
alloc_with_other_thread(void *ctx, size_t size)
{
    void        *ret;
    size_t       calls;
    pthread_t    t;
    tf_arena_t  *a = ctx;

    if (!other_started) {
        other_started = 1;
        calls = a->calls;

        if (pthread_create(&t, NULL, other_thread, &other_ok) != 0
            || pthread_join(t, &ret) != 0)
        {
            abort();
        }

        other_ok = (ret != NULL);
        other_arena_calls = a->calls - calls;
    }

    return tf_arena_alloc(ctx, size);
}


static void
test_other_thread(void)
{
    size_t            before;
    tf_envelope_t     env;
    tf_allocator_t    a;
    tf_envelope_rc_e  rc;

    static const char  body[] =
        "{\"event\":\"member.joined\",\"timestamp\":\"2025-10-07T15:30:00Z\","
        "\"data\":{\"organization\":{\"id\":\"org_1\"}}}";

    a.alloc = alloc_with_other_thread;
    a.ctx = &arena;

    /* a thread and cJSON_Print's buffers once first, then counted */

    other_started = 0;
    (void) alloc_with_other_thread(&arena, 1);
    tf_arena_free(&arena);

    before = heap_in_use();

    other_started = 0;
    other_ok = 0;

    rc = tf_envelope_parse((const u_char *) body, sizeof(body) - 1, &a, &env);

    CHECK_EQ(rc, TF_ENVELOPE_OK);
    CHECK_STR(env.event.data, env.event.len, "member.joined");
    CHECK_STR(env.organization_id.data, env.organization_id.len, "org_1");
    CHECK_EQ(other_started, 1);
    CHECK_EQ(other_ok, 1);
    CHECK_EQ(other_arena_calls, 0);

    tf_arena_free(&arena);

    CHECK_MSG(heap_in_use() == before, "heap in use: %zu before, %zu after",
              before, heap_in_use());
}


/*
 * The rule written plainly: 1 to TF_EVENT_NAME_MAX bytes, decoded as UTF-8
 * code point by code point, each in its shortest form, no surrogate, none
 * past U+10FFFF, and none a control character (C0, DEL, C1).
 */

static int
name_valid_ref(const u_char *p, size_t len)
{
    size_t    i, k, n;
    uint32_t  cp, min;

    if (len == 0 || len > TF_EVENT_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i += n) {

        if (p[i] < 0x80) {
            n = 1;
            cp = p[i];
            min = 0;

        } else if ((p[i] & 0xe0) == 0xc0) {
            n = 2;
            cp = p[i] & 0x1f;
            min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3;
            cp = p[i] & 0x0f;
            min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4;
            cp = p[i] & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)
            || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
        {
            return 0;
        }
    }

    return 1;
}


/* the convention written plainly: segments of [a-z0-9_], two or more */

static int
name_conventional_ref(const u_char *p, size_t len)
{
    size_t  i, start, segments;

    segments = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            if (i == start) {
                return 0;
            }

            segments++;
            start = i + 1;
            continue;
        }

        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')
              || p[i] == '_'))
        {
            return 0;
        }
    }

    return segments >= 2;
}


/*
 * Every name of up to len bytes over an alphabet, against the references:
 * returns the number of names whose verdict differs, the first few shown.
 */

static size_t
names_against_ref(const u_char *alphabet, size_t na, size_t max,
    int (*check)(const u_char *, size_t),
    int (*ref)(const u_char *, size_t))
{
    size_t  len, i, k, n, combos, bad;
    u_char  name[8];

    bad = 0;

    for (len = 0; len <= max; len++) {
        combos = 1;

        for (i = 0; i < len; i++) {
            combos *= na;
        }

        for (k = 0; k < combos; k++) {
            n = k;

            for (i = 0; i < len; i++) {
                name[i] = alphabet[n % na];
                n /= na;
            }

            if (check(name, len) != ref(name, len) && bad++ < 5) {
                fprintf(stderr, "    name of %zu bytes:", len);
                for (i = 0; i < len; i++) {
                    fprintf(stderr, " %02x", name[i]);
                }
                fprintf(stderr, ": %d\n", check(name, len));
            }
        }
    }

    return bad;
}


/*
 * Every name of up to 5 bytes from an alphabet with each class of byte
 * the checks tell apart, against the plain rules; then every pair of
 * bytes, each followed by a few, inside a valid name; then the bound.
 */

static void
test_event_names(void)
{
    int       got, want;
    size_t    i, k, bad;
    u_char    buf[TF_EVENT_NAME_MAX + 8];
    unsigned  c, d, e;

    static const u_char  utf8[] = {
        'a', '.', ' ', 0x00, 0x1f, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
        0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5,
        0xff
    };
    static const u_char  conv[] = { 'a', 'z', '0', '9', '_', '.', 'A',
                                    '-', '/', '{', 0, 0x80, 0xff };
    static const u_char  tails[] = { 'a', 0x00, 0x7f, 0x80, 0xbf, 0xc0 };

    bad = names_against_ref(utf8, sizeof(utf8), 5, tf_event_name_valid,
                            name_valid_ref);
    CHECK_EQ(bad, 0);

    bad = names_against_ref(conv, sizeof(conv), 5,
                            tf_event_name_conventional,
                            name_conventional_ref);
    CHECK_EQ(bad, 0);

    bad = 0;

    for (c = 0; c < 256; c++) {
        for (d = 0; d < 256; d++) {
            for (i = 0; i < sizeof(tails); i++) {
                for (k = 0; k < sizeof(tails); k++) {
                    memcpy(buf, "ab.____.cd", 10);
                    buf[3] = (u_char) c;
                    buf[4] = (u_char) d;
                    buf[5] = tails[i];
                    buf[6] = tails[k];

                    for (e = 7; e <= 10; e++) {
                        got = tf_event_name_valid(buf, e);
                        want = name_valid_ref(buf, e);

                        if (got != want && bad++ < 5) {
                            fprintf(stderr, "    %02x %02x %02x %02x, %u "
                                    "bytes: %d\n", c, d, tails[i], tails[k],
                                    e, got);
                        }
                    }
                }
            }
        }
    }

    CHECK_EQ(bad, 0);

    for (i = 0; i < 13; i++) {
        for (c = 0; c < 256; c++) {
            memcpy(buf, "member_1.joined", 15);
            buf[i] = (u_char) c;

            got = tf_event_name_conventional(buf, 15);
            want = name_conventional_ref(buf, 15);

            if (got != want) {
                CHECK_MSG(got == want, "byte 0x%02x at %zu: %d, not %d",
                          c, i, got, want);
                break;
            }
        }

        CHECK_MSG(c == 256, "every byte at %zu", i);
    }

    /* the bound: in bytes, a character cut at it is no character */

    memset(buf, 'a', sizeof(buf));
    CHECK(tf_event_name_valid(buf, TF_EVENT_NAME_MAX));
    CHECK(!tf_event_name_valid(buf, TF_EVENT_NAME_MAX + 1));

    for (i = 0; i + 3 <= TF_EVENT_NAME_MAX + 3; i += 3) {
        memcpy(buf + i, "\xe2\x82\xac", 3);
    }

    CHECK(tf_event_name_valid(buf, TF_EVENT_NAME_MAX - 1));
    CHECK(!tf_event_name_valid(buf, TF_EVENT_NAME_MAX));
    CHECK(!tf_event_name_valid(buf, TF_EVENT_NAME_MAX + 2));
}


/* the reasons the log line gives, and where a JSON error is */

#define WHY(json, why)                                                       \
    do {                                                                      \
        (void) parse_at(S(json), &env, __LINE__);                             \
        CHECK_MSG(env.error && strcmp(env.error, why) == 0, "%s",             \
                  env.error ? env.error : "(none)");                          \
    } while (0)

static void
test_errors(void)
{
    tf_envelope_t  env;

    WHY("", "the body is empty");
    WHY("[1]", "the JSON value is not an object");
    WHY("{" EV "," TS "," DATA "} x", "text after the JSON object");
    CHECK(env.error_has_offset && env.error_at == 71);

    WHY("{\"event\":tru}", "not JSON, parsing stopped");
    CHECK(env.error_has_offset && env.error_at <= 10);

    (void) parse_at((const u_char *) "{\"a\":\"\0\"}", 9, &env, __LINE__);
    CHECK(env.error && strcmp(env.error, "a raw NUL byte") == 0);
    CHECK(env.error_has_offset && env.error_at == 6);

    WHY("{" TS "," DATA "}", "no \"event\" or \"type\" member");
    WHY("{\"event\":7," TS "," DATA "}",
        "the event name (\"event\", else \"type\") is not a non-empty string");
    WHY("{\"event\":\"a\\u0001b\"," TS "," DATA "}",
        "the event name has a control character or is not UTF-8");
    WHY("{" EV "," DATA "}", "no \"timestamp\" or \"created_at\" member");
    WHY("{" EV ",\"timestamp\":\"yesterday\"," DATA "}",
        "\"timestamp\" is not an RFC 3339 date-time");
    WHY("{\"type\":\"a.b\",\"created_at\":\"2025-13-01T00:00:00Z\"," DATA "}",
        "\"created_at\" is not an RFC 3339 date-time");
    WHY("{" EV "," TS "}", "no \"data\" member");
    WHY("{" EV "," TS ",\"data\":[]}", "\"data\" is not an object");
    WHY("{" EV "," TS "," DATA ",\"id\":\"\"}",
        "\"id\" is not a non-empty string");
    WHY("{" EV "," TS "," DATA ",\"id\":\"a\\r\\nX-Injected: 1\"}",
        "\"id\" has a control character");
    WHY("{" EV "," TS "," DATA ",\"id\":\"a\\u007f\"}",
        "\"id\" has a control character");
    WHY("{" EV "," TS "," DATA ",\"id\":\"a\\tb\"}",
        "\"id\" has a control character");
    CHECK_EQ(env.id.len, 0);
    WHY("{" EV "," TS "," DATA ",\"test\":1}", "\"test\" is not a boolean");
    WHY("{" EV "," TS ",\"data\":{\"a\":\"\\u0000\"}}",
        "a string has an escaped NUL (\\u0000)");
}


void
test_envelope(void)
{
    test_fixtures();
    test_shapes();
    test_invalid();
    test_malformed();
    test_errors();
    test_organization();
    test_nesting();
    test_out_of_memory();
    test_memory();
    test_embedded_nul();
    test_odd_names();
    test_escape();
    test_foreign_hooks();
    test_other_thread();
    test_event_names();

    tf_arena_free(&arena);
}
