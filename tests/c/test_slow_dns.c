/*
 * test_slow_dns: a host name lookup that does not answer (run with
 * LD_PRELOAD=slow_getaddrinfo.so, which makes "slowdns*" take 5 s) must not
 * hold up the caller: the download ends at its deadline, and freeing the
 * client returns at once, although the lookup's helper thread is still
 * inside getaddrinfo. Run by tests/process.rs.
 *
 * Output: one "ok N - what" / "not ok N - what: details" line per check,
 * last "N passed, M failed"; exit status 1 if a check failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "browserbase.h"
#include "tap.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
    bb_client_builder *b = bb_client_builder_new();
    bb_error *err = NULL;
    int set = bb_client_builder_set_base_url(b, "https://slowdns.test", &err) == BB_OK &&
              bb_client_builder_set_deadline_ms(b, 500, &err) == BB_OK &&
              bb_client_builder_set_max_retries(b, 0, &err) == BB_OK;
    check(set, "the builder takes the settings", "%s", bb_error_message(err));
    bb_client *client = NULL;
    bb_code rc = bb_client_new(b, &client, &err);
    bb_client_builder_free(b);
    if (!check(rc == BB_OK, "bb_client_new", "%s", bb_error_message(err))) return tap_summary();

    uint8_t *data = NULL;
    size_t len = 0;
    double t0 = now();
    rc = bb_client_download_to_buffer(client, "k", "s", &data, &len, &err);
    double call = now() - t0;
    check(rc == BB_ERR_TIMEOUT, "the download fails with BB_ERR_TIMEOUT", "%s: %s",
          bb_code_name(rc), bb_error_message(err));
    check(call < 2.0, "the download ends at its deadline (500 ms), not with the lookup (5 s)",
          "took %.2f s", call);
    bb_error_free(err);

    t0 = now();
    bb_client_free(client);
    double freeing = now() - t0;
    check(freeing < 1.0, "bb_client_free does not wait for the lookup in progress",
          "took %.2f s", freeing);
    return tap_summary();
}
