/*
 * The progress and log callbacks through the C API. Reads BB_TEST_BASE_URL
 * and BB_TEST_SESSION; prints TAP-style lines and "N passed, M failed".
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <unistd.h>

#include "browserbase.h"

/* Threads of this process, from /proc/self/task. */
static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') n++;
    }
    closedir(d);
    return n;
}

static int passed, failed;
static void check(int ok, const char *what) {
    printf("%s %d - %s\n", ok ? "ok" : "not ok", passed + failed + 1, what);
    if (ok) passed++; else failed++;
}

struct progress_log { int calls; uint64_t first, last; int64_t total; int cancel_after; };

static int on_progress(void *user_data, uint64_t received, int64_t total) {
    struct progress_log *p = user_data;
    if (p->calls == 0) p->first = received;
    p->calls++;
    p->last = received;
    p->total = total;
    return p->cancel_after > 0 && p->calls >= p->cancel_after;
}

struct line_log { int lines, info_requests, has_key; };

static void on_log(void *user_data, bb_log_level level, const char *message) {
    struct line_log *l = user_data;
    l->lines++;
    if (level == BB_LOG_INFO && strncmp(message, "GET /v1/sessions/", 17) == 0) l->info_requests++;
    if (strstr(message, "bb_test_key") != NULL) l->has_key = 1;
}

/* A callback that replaces itself from a nested call: its first line makes
 * a download from inside the callback, whose own log line reaches it again
 * on the same thread, and that nested call replaces it. */
struct nested_log { bb_client *client; const char *session; int depth, calls, replaced; bb_code rc; };
static struct line_log after_nested = {0, 0, 0};

static void on_log_nested(void *user_data, bb_log_level level, const char *message) {
    struct nested_log *n = user_data;
    (void)level; (void)message;
    n->calls++;
    if (n->depth == 0 && !n->replaced) {
        n->depth++;
        uint8_t *data = NULL;
        size_t len = 0;
        bb_error *err = NULL;
        if (bb_client_download_to_buffer(n->client, NULL, n->session, &data, &len, &err) == BB_OK)
            bb_buffer_free(data, len);
        bb_error_free(err);
        n->depth--;
    } else if (n->depth == 1 && !n->replaced) {
        bb_error *err = NULL;
        n->rc = bb_set_log_callback(on_log, &after_nested, BB_LOG_DEBUG, &err);
        bb_error_free(err);
        n->replaced = 1;
    }
}

static bb_client *make_client(const char *base, struct progress_log *p) {
    bb_error *err = NULL;
    bb_client *client = NULL;
    bb_client_builder *b = bb_client_builder_new();
    bb_code rc = bb_client_builder_set_base_url(b, base, &err);
    if (rc == BB_OK) rc = bb_client_builder_set_api_key(b, "bb_test_key", &err);
    if (rc == BB_OK) rc = bb_client_builder_set_progress(b, on_progress, p, &err);
    if (rc == BB_OK) rc = bb_client_new(b, &client, &err);
    bb_client_builder_free(b);
    if (rc != BB_OK) {
        printf("# %s: %s\n", bb_code_name(rc), bb_error_message(err));
        bb_error_free(err);
    }
    return client;
}

int main(void) {
    const char *base = getenv("BB_TEST_BASE_URL");
    const char *session = getenv("BB_TEST_SESSION");
    if (!base || !session) { fprintf(stderr, "BB_TEST_BASE_URL and BB_TEST_SESSION are required\n"); return 2; }

    /* The library is loaded (linked) but not used yet: it started nothing. */
    check(thread_count() == 1, "loading the library starts no thread");

    struct line_log log = {0, 0, 0};
    bb_error *err = NULL;
    check(bb_set_log_callback(on_log, &log, BB_LOG_DEBUG, &err) == BB_OK, "log callback installed");
    check(bb_set_log_callback(on_log, &log, (bb_log_level)42, &err) == BB_ERR_INVALID_ARGUMENT,
          "an unknown log level is refused");
    bb_error_free(err);
    err = NULL;

    struct progress_log p = {0, 1, 0, 0, 0};
    bb_client *client = make_client(base, &p);
    check(client != NULL, "client with a progress callback");
    uint8_t *data = NULL;
    size_t len = 0;
    bb_code rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    check(rc == BB_OK, "download with progress");
    check(p.calls >= 2 && p.first == 0 && p.last == len && p.total == (int64_t)len,
          "progress went from 0 to the Content-Length");
    check(log.info_requests == 1 && log.lines >= 1, "one info line for the request");
    check(!log.has_key, "no log line holds the key");
    bb_buffer_free(data, len);
    bb_client_free(client);

    struct progress_log stop = {0, 1, 0, 0, 1};
    client = make_client(base, &stop);
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    check(rc == BB_ERR_CANCELLED, "a non-zero progress return cancels");
    bb_error_free(err);
    err = NULL;
    bb_client_free(client);

    /* The nested self-replacement waited for its own outer call forever:
     * alarm() turns a hang into a failure (SIGALRM) within seconds. */
    alarm(20);
    struct progress_log quiet = {0, 1, 0, 0, 0};
    struct nested_log nested = {NULL, session, 0, 0, 0, BB_ERR_INTERNAL};
    nested.client = make_client(base, &quiet);
    check(bb_set_log_callback(on_log_nested, &nested, BB_LOG_INFO, &err) == BB_OK,
          "the self-replacing callback is installed");
    rc = bb_client_download_to_buffer(nested.client, NULL, session, &data, &len, &err);
    check(rc == BB_OK && nested.replaced && nested.rc == BB_OK && nested.calls == 2,
          "a callback replaces itself from a nested call (callback, download, its line) "
          "without waiting for its own calls");
    if (rc == BB_OK) bb_buffer_free(data, len); else { bb_error_free(err); err = NULL; }
    rc = bb_client_download_to_buffer(nested.client, NULL, session, &data, &len, &err);
    check(rc == BB_OK && after_nested.info_requests == 1 && nested.calls == 2,
          "the replacement receives the next lines");
    if (rc == BB_OK) bb_buffer_free(data, len); else { bb_error_free(err); err = NULL; }
    bb_client_free(nested.client);
    alarm(0);

    /* NULL restores stderr at BROWSERBASE_LOG's level (read once: a bad
     * value is reported once, not at every restore); no line is logged
     * between these and the BB_LOG_OFF below. */
    check(bb_set_log_callback(NULL, NULL, BB_LOG_INFO, &err) == BB_OK &&
          bb_set_log_callback(NULL, NULL, BB_LOG_DEBUG, &err) == BB_OK,
          "NULL restores the default");

    int lines_before = log.lines;
    check(bb_set_log_callback(NULL, NULL, BB_LOG_OFF, &err) == BB_OK, "log callback removed");
    struct progress_log again = {0, 1, 0, 0, 0};
    client = make_client(base, &again);
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    check(rc == BB_OK && log.lines == lines_before, "no lines reach a removed callback");
    if (rc == BB_OK) bb_buffer_free(data, len); else bb_error_free(err);
    bb_client_free(client);

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
