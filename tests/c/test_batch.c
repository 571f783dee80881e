/*
 * Many sessions in one call from C (run by tests/batch.rs):
 *
 *   test_batch bad    every bad argument refused (the harness then checks
 *                     that the server saw no request and BB_TEST_DIR is
 *                     empty)
 *   test_batch run    a batch with a failure among successes, results and
 *                     the error; the batch progress callback (calling
 *                     thread, one end per session); a batch cancelled by
 *                     its callback (the harness then checks the files)
 *
 * Environment: BB_TEST_BASE_URL, BB_TEST_KEY, BB_TEST_DIR (an empty
 * directory). Sessions c0, c1 and c/3 exist on the server, "missing" does
 * not; p0..p5 exist and p0 stalls mid-body.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "browserbase.h"
#include "tap.h"

static int exists(const char *dir, const char *name) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static const char *message(const bb_error *e) {
    const char *m = e ? bb_error_message(e) : NULL;
    return m ? m : "(none)";
}

static bb_client *new_client(void) {
    bb_client_builder *b = bb_client_builder_new();
    bb_client *c = NULL;
    if (!b) return NULL;
    bb_client_builder_set_base_url(b, getenv("BB_TEST_BASE_URL"), NULL);
    bb_client_builder_set_api_key(b, getenv("BB_TEST_KEY"), NULL);
    bb_client_builder_set_max_retries(b, 0, NULL);
    bb_client_new(b, &c, NULL);
    bb_client_builder_free(b);
    return c;
}

/* Expects `rc`, `*err` containing `needle`, and `results` untouched. */
static void refused(const char *what, bb_code rc, bb_error *err, bb_code want,
                    const char *needle, const bb_code *results, size_t n) {
    size_t i;
    int untouched = 1;
    for (i = 0; i < n; i++) untouched &= results[i] == (bb_code)99;
    check(rc == want && err && strstr(message(err), needle) && untouched, what,
          "rc %d, message %s, results %s", (int)rc, message(err),
          untouched ? "untouched" : "written");
    bb_error_free(err);
}

static int bad(bb_client *client, const char *dir) {
    const char *ok[] = {"c0", "c1"};
    const char *with_null[] = {"c0", NULL};
    const char *dotdot[] = {"c0", "c1", ".."};
    const char *dup[] = {"c0", "c1", "c0"};
    bb_code results[3] = {(bb_code)99, (bb_code)99, (bb_code)99};
    bb_error *err = NULL;
    bb_code rc;

    rc = bb_client_download_sessions(client, NULL, NULL, 2, dir, 2, results, &err);
    refused("NULL array", rc, err, BB_ERR_INVALID_ARGUMENT, "session_ids is NULL", results, 3);
    err = NULL;
    rc = bb_client_download_sessions(client, NULL, ok, 0, dir, 2, results, &err);
    refused("count 0", rc, err, BB_ERR_INVALID_ARGUMENT, "count is 0", results, 3);
    err = NULL;
    rc = bb_client_download_sessions(client, NULL, ok, (size_t)-1, dir, 2, results, &err);
    refused("absurd count", rc, err, BB_ERR_INVALID_ARGUMENT, "at most 1000000", results, 3);
    err = NULL;
    rc = bb_client_download_sessions(client, NULL, with_null, 2, dir, 2, results, &err);
    refused("NULL id", rc, err, BB_ERR_INVALID_ARGUMENT, "session_ids[1] is NULL", results, 3);
    err = NULL;
    rc = bb_client_download_sessions(client, NULL, dotdot, 3, dir, 2, results, &err);
    refused("dot-dot id", rc, err, BB_ERR_INVALID_ARGUMENT, "session_ids[2]", results, 3);
    err = NULL;
    rc = bb_client_download_sessions(client, NULL, dup, 3, dir, 2, results, &err);
    refused("duplicate id", rc, err, BB_ERR_INVALID_ARGUMENT, "duplicate of session_ids[0]",
            results, 3);
    err = NULL;
    rc = bb_client_download_sessions(client, NULL, ok, 2, NULL, 2, results, &err);
    refused("NULL dir", rc, err, BB_ERR_INVALID_ARGUMENT, "dir is NULL", results, 3);
    err = NULL;
    rc = bb_client_download_sessions(client, NULL, ok, 2, "/nonexistent/dir", 2, results, &err);
    refused("missing dir", rc, err, BB_ERR_IO, "/nonexistent/dir", results, 3);
    err = NULL;
    rc = bb_client_download_sessions(NULL, NULL, ok, 2, dir, 2, results, &err);
    refused("NULL client", rc, err, BB_ERR_INVALID_ARGUMENT, "client is NULL", results, 3);
    return 0;
}

struct seen {
    pthread_t caller;
    int other_thread;
    size_t ends;
    size_t events;
    int stop_after_ends; /* 0: never */
    int bad_struct;
};

static int on_batch(void *user_data, const bb_batch_progress *p) {
    struct seen *s = user_data;
    s->events++;
    if (!pthread_equal(pthread_self(), s->caller)) s->other_thread = 1;
    if (p->struct_size < sizeof(bb_batch_progress) || p->index >= p->count || !p->session_id)
        s->bad_struct = 1;
    if (p->finished) {
        s->ends++;
        if ((p->code == BB_OK) != (p->message == NULL)) s->bad_struct = 1;
    }
    return s->stop_after_ends && s->ends >= (size_t)s->stop_after_ends;
}

static int run(bb_client *client, const char *dir) {
    const char *ids[] = {"c0", "c1", "missing", "c/3"};
    bb_code results[4];
    bb_error *err = NULL;
    struct seen s;
    bb_call_options o = BB_CALL_OPTIONS_INIT;
    bb_code rc;

    memset(&s, 0, sizeof s);
    s.caller = pthread_self();
    o.batch_progress = on_batch;
    o.batch_progress_user_data = &s;
    rc = bb_client_download_sessions_opts(client, NULL, ids, 4, dir, 3, &o, results, &err);
    check(rc == BB_ERR_NOT_FOUND, "the first failed id's code", "rc %d: %s", (int)rc,
          message(err));
    check(err && strstr(message(err), "1 of 4 sessions failed: session_ids[2] \"missing\""),
          "the error counts and names the failures", "%s", message(err));
    check(err && !strstr(message(err), getenv("BB_TEST_KEY")), "no key in the message", "%s",
          message(err));
    bb_error_free(err);
    err = NULL;
    check(results[0] == BB_OK && results[1] == BB_OK && results[2] == BB_ERR_NOT_FOUND &&
              results[3] == BB_OK,
          "one code per id", "%d %d %d %d", (int)results[0], (int)results[1], (int)results[2],
          (int)results[3]);
    check(exists(dir, "c0.zip") && exists(dir, "c1.zip") && exists(dir, "c%2F3.zip") &&
              !exists(dir, "missing.zip"),
          "each success at its name", "");
    check(s.ends == 4 && !s.other_thread && !s.bad_struct, "batch progress: 4 ends, calling thread",
          "ends %zu, other thread %d, bad %d", s.ends, s.other_thread, s.bad_struct);

    /* A caller compiled against 0.2's header: its struct ends before
     * batch_progress, which is then not read (even if memory there is set). */
    {
        bb_call_options old = o;
        const char *one[] = {"c0"};
        memset(&s, 0, sizeof s);
        s.caller = pthread_self();
        old.struct_size = offsetof(bb_call_options, batch_progress);
        rc = bb_client_download_sessions_opts(client, NULL, one, 1, dir, 0, &old, NULL, &err);
        check(rc == BB_OK && s.events == 0, "a 0.2-sized bb_call_options", "rc %d, %zu events",
              (int)rc, s.events);
        bb_error_free(err);
        err = NULL;
    }

    /* The free function form, default client from the environment: NULL
     * results is fine. */
    rc = bb_download_sessions(getenv("BB_TEST_KEY"), ids, 2, dir, 0, NULL, &err);
    check(rc == BB_OK, "bb_download_sessions", "rc %d: %s", (int)rc, message(err));
    bb_error_free(err);
    err = NULL;

    /* Cancelled by the callback after 3 ends, p0 stalled the whole time. */
    {
        const char *p[] = {"p0", "p1", "p2", "p3", "p4", "p5"};
        bb_code r[6];
        memset(&s, 0, sizeof s);
        s.caller = pthread_self();
        s.stop_after_ends = 3;
        rc = bb_client_download_sessions_opts(client, NULL, p, 6, dir, 2, &o, r, &err);
        check(rc == BB_ERR_CANCELLED, "a callback's non-zero cancels the batch", "rc %d: %s",
              (int)rc, message(err));
        bb_error_free(err);
        err = NULL;
        check(r[0] == BB_ERR_CANCELLED && r[1] == BB_OK && r[2] == BB_OK && r[3] == BB_OK &&
                  r[4] == BB_ERR_CANCELLED && r[5] == BB_ERR_CANCELLED,
              "finished ones OK, the rest cancelled", "%d %d %d %d %d %d", (int)r[0], (int)r[1],
              (int)r[2], (int)r[3], (int)r[4], (int)r[5]);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = getenv("BB_TEST_DIR");
    bb_client *client = new_client();
    if (argc != 2 || !dir || !client) {
        fprintf(stderr, "usage: test_batch bad|run (with BB_TEST_* set)\n");
        return 2;
    }
    if (strcmp(argv[1], "bad") == 0) bad(client, dir);
    else run(client, dir);
    bb_client_free(client);
    return tap_summary();
}
