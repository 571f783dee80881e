/*
 * Cancellation from C (run by tests/cancel.rs): one call, cancelled at one
 * moment, by a thread or by a signal handler, through bb_cancel_trigger.
 *
 *   test_cancel thread|signal MOMENT
 *
 * MOMENT: before, connect, headers, midbody, retries, polls, extract.
 * Environment: BB_TEST_BASE_URL, BB_TEST_SESSION, BB_TEST_DIR (an empty
 * directory; the call writes BB_TEST_DIR/out.zip or extracts
 * BB_TEST_DIR/big.zip into BB_TEST_DIR/dest).
 *
 * The harness knows when the call got to MOMENT (the server's request log,
 * a connection in SYN-SENT, the extraction's staging directory, or the line
 * "body" this program prints from its progress callback) and then either
 * writes a byte to this program's stdin (thread: a thread blocked reading
 * it triggers the handle) or sends it SIGUSR1 (signal: the handler
 * triggers the handle). "before" triggers before the call, here.
 *
 * Checks: BB_ERR_CANCELLED, within 5 s of the trigger (a bound against
 * hangs only), no out.zip, nothing else left in BB_TEST_DIR, and as many
 * open descriptors after the call (and bb_cancel_free) as before.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "browserbase.h"
#include "tap.h"

static bb_cancel *the_cancel;
static struct timespec triggered_at;

static void on_sigusr1(int sig) {
    (void)sig;
    /* Both async-signal-safe. */
    clock_gettime(CLOCK_MONOTONIC, &triggered_at);
    bb_cancel_trigger(the_cancel);
}

static void *trigger_on_stdin(void *arg) {
    char byte;
    (void)arg;
    if (read(0, &byte, 1) == 1) {
        clock_gettime(CLOCK_MONOTONIC, &triggered_at);
        bb_cancel_trigger(the_cancel);
    }
    return NULL;
}

static int body_reported;

static int progress(void *user_data, uint64_t received, int64_t total) {
    (void)user_data;
    (void)total;
    if (received > 0 && !body_reported) {
        body_reported = 1;
        printf("body\n");
        fflush(stdout);
    }
    return 0;
}

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) n++;
    closedir(d);
    return n;
}

/* Entries of `dir` other than "." , ".." and `keep`. */
static int leftovers(const char *dir, const char *keep) {
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, keep)) {
            printf("# left behind: %s\n", e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv) {
    const char *base = getenv("BB_TEST_BASE_URL");
    const char *session = getenv("BB_TEST_SESSION");
    const char *dir = getenv("BB_TEST_DIR");
    char out[4096], zip[4096], dest[4096];
    bb_client_builder *builder;
    bb_client *client = NULL;
    bb_error *err = NULL;
    bb_code rc;
    pthread_t thread;
    int by_signal, fds_before, fds_after;
    const char *moment;
    struct timespec done;
    double after_trigger;
    bb_call_options options = BB_CALL_OPTIONS_INIT;

    if (argc != 3 || !base || !session || !dir) {
        fprintf(stderr, "usage: test_cancel thread|signal MOMENT (and the BB_TEST_* variables)\n");
        return 2;
    }
    by_signal = strcmp(argv[1], "signal") == 0;
    moment = argv[2];
    snprintf(out, sizeof out, "%s/out.zip", dir);
    snprintf(zip, sizeof zip, "%s/big.zip", dir);
    snprintf(dest, sizeof dest, "%s/dest", dir);

    builder = bb_client_builder_new();
    bb_client_builder_set_base_url(builder, base, NULL);
    bb_client_builder_set_api_key(builder, "bb_test_key", NULL);
    bb_client_builder_set_timeout_ms(builder, 60000, NULL);
    bb_client_builder_set_connect_timeout_ms(builder, 60000, NULL);
    bb_client_builder_set_max_retries(builder, 5, NULL);
    fds_before = open_fds();
    rc = bb_client_new(builder, &client, &err);
    bb_client_builder_free(builder);
    if (!check(rc == BB_OK, "client", "%s", err ? bb_error_message(err) : "")) return tap_summary();

    rc = bb_cancel_new(&the_cancel, &err);
    if (!check(rc == BB_OK, "bb_cancel_new", "%s", err ? bb_error_message(err) : "")) {
        return tap_summary();
    }
    check(bb_cancel_is_triggered(the_cancel) == 0, "a new handle is not triggered", "");
    options.cancel = the_cancel;
    options.progress = progress;

    if (by_signal) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_sigusr1;
        sigemptyset(&action.sa_mask);
        sigaction(SIGUSR1, &action, NULL);
    } else {
        pthread_create(&thread, NULL, trigger_on_stdin, NULL);
    }
    if (strcmp(moment, "before") == 0) {
        clock_gettime(CLOCK_MONOTONIC, &triggered_at);
        bb_cancel_trigger(the_cancel);
        bb_cancel_trigger(the_cancel); /* idempotent */
    }
    printf("# calling\n");
    fflush(stdout);

    if (strcmp(moment, "polls") == 0) {
        rc = bb_client_wait_for_downloads_opts(client, NULL, session, 60000, BB_WAIT_DEFAULT, out,
                                               &options, &err);
    } else if (strcmp(moment, "extract") == 0) {
        bb_archive *archive = NULL;
        rc = bb_archive_open_file(zip, &archive, &err);
        if (rc == BB_OK) rc = bb_archive_extract_to_opts(archive, dest, &options, &err);
        bb_archive_free(archive);
    } else {
        rc = bb_client_download_opts(client, NULL, session, out, &options, &err);
    }
    clock_gettime(CLOCK_MONOTONIC, &done);
    after_trigger = (double)(done.tv_sec - triggered_at.tv_sec) +
                    (double)(done.tv_nsec - triggered_at.tv_nsec) / 1e9;

    check(rc == BB_ERR_CANCELLED, "the call returns BB_ERR_CANCELLED", "%s: %s",
          bb_code_name(rc), err ? bb_error_message(err) : "(no error)");
    check(err && bb_error_code(err) == BB_ERR_CANCELLED, "with a BB_ERR_CANCELLED error", "");
    check(bb_cancel_is_triggered(the_cancel) == 1, "the handle says it was triggered", "");
    check(triggered_at.tv_sec != 0 && after_trigger < 5.0, "it returns soon after the trigger",
          "%.3f s", after_trigger);
    printf("# returned %.1f ms after the trigger\n", after_trigger * 1000);
    {
        struct stat st;
        check(stat(out, &st) != 0, "no file at the destination", "");
        check(stat(dest, &st) != 0, "no extraction directory", "");
    }
    check(leftovers(dir, "big.zip") == 0, "nothing else left behind", "");
    bb_error_free(err);
    if (!by_signal) {
        pthread_join(thread, NULL);
    }
    bb_client_free(client);
    bb_cancel_free(the_cancel);
    bb_cancel_free(NULL);
    bb_cancel_trigger(NULL);
    check(bb_cancel_is_triggered(NULL) == 0, "NULL is never triggered", "");
    fds_after = open_fds();
    check(fds_after == fds_before, "no descriptor leaked", "%d before, %d after", fds_before,
          fds_after);
    return tap_summary();
}
