/*
 * test_foreign_localhost: plain http is allowed to "localhost" because it is
 * this machine; when the resolver says it is another one (run with
 * LD_PRELOAD=foreign_localhost.so, which makes "localhost" 192.0.2.1 and
 * counts connect() calls to non-loopback addresses), the library must not
 * connect there, let alone send the key: BB_ERR_CONNECTION saying why.
 * An IP literal base URL still works under the shim. Run by tests/process.rs
 * with BB_TEST_PORT (a stand-in server on 127.0.0.1) and BB_TEST_SESSION.
 *
 * Output: one "ok N - what" / "not ok N - what: details" line per check,
 * last "N passed, M failed"; exit status 1 if a check failed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browserbase.h"
#include "tap.h"

#define TEST_KEY "bb_test_key"

static bb_code download(const char *base, bb_error **err) {
    bb_client_builder *b = bb_client_builder_new();
    bb_client *client = NULL;
    bb_code rc = bb_client_builder_set_base_url(b, base, err);
    if (rc == BB_OK) rc = bb_client_builder_set_max_retries(b, 0, err);
    if (rc == BB_OK) rc = bb_client_builder_set_connect_timeout_ms(b, 2000, err);
    if (rc == BB_OK) rc = bb_client_new(b, &client, err);
    bb_client_builder_free(b);
    if (rc != BB_OK) return rc;
    uint8_t *data = NULL;
    size_t len = 0;
    rc = bb_client_download_to_buffer(client, TEST_KEY, getenv("BB_TEST_SESSION"), &data, &len,
                                      err);
    if (rc == BB_OK) bb_buffer_free(data, len);
    bb_client_free(client);
    return rc;
}

int main(void) {
    const char *port = getenv("BB_TEST_PORT");
    int *foreign = (int *)dlsym(RTLD_DEFAULT, "bb_test_foreign_connects");
    if (!check(port != NULL && foreign != NULL, "run with BB_TEST_PORT and the shim preloaded",
               "BB_TEST_PORT=%s, shim %s", port ? port : "(unset)",
               foreign ? "loaded" : "missing"))
        return tap_summary();

    char base[64];
    snprintf(base, sizeof base, "http://localhost:%s", port);
    bb_error *err = NULL;
    bb_code rc = download(base, &err);
    const char *message = err ? bb_error_message(err) : "";
    check(rc == BB_ERR_CONNECTION, "http://localhost resolving to 192.0.2.1 -> BB_ERR_CONNECTION",
          "%s: %s", bb_code_name(rc), message);
    check(strstr(message, "192.0.2.1") != NULL && strstr(message, "loopback") != NULL,
          "the message says where localhost pointed and why that was refused", "%s", message);
    check(strstr(message, TEST_KEY) == NULL, "the message does not hold the key", "%s", message);
    check(__atomic_load_n(foreign, __ATOMIC_SEQ_CST) == 0,
          "no connection to the non-loopback address was even attempted", "%d connect() calls",
          *foreign);
    bb_error_free(err);

    /* The shim leaves IP literals alone: the same server by address works. */
    snprintf(base, sizeof base, "http://127.0.0.1:%s", port);
    err = NULL;
    rc = download(base, &err);
    check(rc == BB_OK, "http://127.0.0.1 under the shim: BB_OK", "%s: %s", bb_code_name(rc),
          err ? bb_error_message(err) : "");
    bb_error_free(err);
    return tap_summary();
}
