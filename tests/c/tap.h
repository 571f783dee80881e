/*
 * TAP-style checks shared by the C test programs: one "ok N - what" or
 * "not ok N - what: details" line per check, then tap_summary() prints the
 * closing "N passed, M failed" line the harness (and CI) reads.
 */
#ifndef BB_TEST_TAP_H
#define BB_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int checks_run;
static int checks_failed;

/* Records one check: `ok` is its outcome; on failure the printf-style
 * details follow the description. Returns `ok`. */
static int check(int ok, const char *what, const char *details_fmt, ...) {
    checks_run++;
    if (ok) {
        printf("ok %d - %s\n", checks_run, what);
    } else {
        checks_failed++;
        printf("not ok %d - %s: ", checks_run, what);
        va_list ap;
        va_start(ap, details_fmt);
        vprintf(details_fmt, ap);
        va_end(ap);
        printf("\n");
    }
    fflush(stdout);
    return ok;
}

/* Prints the closing line; returns the process exit status. */
static int tap_summary(void) {
    printf("%d passed, %d failed\n", checks_run - checks_failed, checks_failed);
    return checks_failed ? 1 : 0;
}

#endif
