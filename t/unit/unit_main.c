
/*
 * Copyright (C) The ngx_http_teachfloor_module authors
 *
 * The unit-test runner: runs every test group and ends with one line,
 * "unit: N passed, N failed"; exits non-zero when any check failed.
 * An optional argument is the repository root (default: the current
 * directory), where the fixtures are looked up.
 */


#include <errno.h>
#include <unistd.h>

#include "tf_test.h"
#include "tf_envelope.h"


unsigned long  tf_test_passed;
unsigned long  tf_test_failed;


u_char *
tf_test_read_file(const char *path, size_t *len)
{
    long     size;
    FILE    *f;
    u_char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "unit: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fprintf(stderr, "unit: cannot size %s\n", path);
        exit(2);
    }

    /* exactly the file's size, so that ASan catches any over-read */
    buf = malloc(size ? (size_t) size : 1);
    if (buf == NULL
        || (size && fread(buf, 1, (size_t) size, f) != (size_t) size))
    {
        fprintf(stderr, "unit: cannot read %s\n", path);
        exit(2);
    }

    fclose(f);

    *len = (size_t) size;

    return buf;
}


int
main(int argc, char **argv)
{
    static const struct {
        const char  *name;
        void       (*run)(void);
    } groups[] = {
        { "signature", test_signature },
        { "time", test_time },
        { "envelope", test_envelope },
        { "pattern", test_pattern },
        { "prom", test_prom },
        { "spool", test_spool },
    };

    size_t         i;
    unsigned long  passed, failed;

    if (argc > 1 && chdir(argv[1]) != 0) {
        fprintf(stderr, "unit: cannot chdir to %s: %s\n", argv[1],
                strerror(errno));
        return 2;
    }

    tf_envelope_init();

    for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        passed = tf_test_passed;
        failed = tf_test_failed;

        groups[i].run();

        printf("  %-10s %lu passed, %lu failed\n", groups[i].name,
               tf_test_passed - passed, tf_test_failed - failed);
    }

    printf("unit: %lu passed, %lu failed\n", tf_test_passed, tf_test_failed);

    /* before LeakSanitizer's check at exit, which ends without flushing */
    fflush(stdout);

    return tf_test_failed ? 1 : 0;
}
