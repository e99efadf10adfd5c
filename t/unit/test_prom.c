
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * Prometheus label value escaping.
 */


#include <string.h>

#include "tf_test.h"
#include "tf_prom.h"


static void
check_escape(const char *in, const char *want, int line)
{
    size_t  len, n;
    u_char  buf[256], *end;

    len = strlen(in);
    n = tf_prom_escaped_len((const u_char *) in, len);

    memset(buf, 0xAA, sizeof(buf));
    end = tf_prom_escape(buf, (const u_char *) in, len);

    CHECK_MSG(n == strlen(want), "line %d: length %zu, want %zu", line, n,
              strlen(want));
    CHECK_MSG((size_t) (end - buf) == n,
              "line %d: wrote %zu bytes, announced %zu", line,
              (size_t) (end - buf), n);
    CHECK_MSG(memcmp(buf, want, strlen(want)) == 0,
              "line %d: \"%.*s\", want \"%s\"", line, (int) (end - buf),
              (const char *) buf, want);

    /* nothing written past the announced length */
    CHECK_MSG(buf[n] == 0xAA, "line %d: wrote past the end", line);
}


void
test_prom(void)
{
    size_t  i;
    u_char  all[256], out[768], *end;

    check_escape("", "", __LINE__);
    check_escape("member.joined", "member.joined", __LINE__);
    check_escape("a\\b", "a\\\\b", __LINE__);
    check_escape("say \"hi\"", "say \\\"hi\\\"", __LINE__);
    check_escape("two\nlines", "two\\nlines", __LINE__);
    check_escape("\\\"\n", "\\\\\\\"\\n", __LINE__);
    check_escape("tab\tand\rcr", "tab\tand\rcr", __LINE__);

    /* every byte value: only the three grow, each by one byte */

    for (i = 0; i < 256; i++) {
        all[i] = (u_char) i;
    }

    CHECK(tf_prom_escaped_len(all, 256) == 259);

    end = tf_prom_escape(out, all, 256);
    CHECK((size_t) (end - out) == 259);
}
