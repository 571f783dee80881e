/* bb_cancel: how long a cancelled call takes to return (benches/bench.py,
 * case "cancel").
 *
 *   bb_cancel SESSION TRIES
 *
 * The server (BROWSERBASE_BASE_URL, BROWSERBASE_API_KEY) is scripted to send
 * the first bytes of SESSION's archive and then go silent for a minute, TRIES
 * times. Each try: a thread downloads SESSION (to a callback that keeps
 * nothing) with a cancel handle; its progress callback tells the main thread
 * (through a pipe) when the first bytes are in; the main thread then
 * triggers the handle and times how long the download takes to return
 * BB_ERR_CANCELLED. Prints one line per try: the milliseconds from
 * bb_cancel_trigger to the call's return.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "browserbase.h"

static int pipefd[2];
static bb_client *client;
static const char *session;
static bb_code result;
static struct timespec returned;

static int discard(void *user_data, const uint8_t *data, size_t len) {
    (void)user_data;
    (void)data;
    (void)len;
    return 0;
}

static int progress(void *user_data, uint64_t received, int64_t total) {
    int *told = user_data;
    (void)total;
    if (received > 0 && !*told) {
        *told = 1;
        if (write(pipefd[1], "x", 1) != 1) return 1;
    }
    return 0;
}

static void *download(void *cancel) {
    int told = 0;
    bb_call_options options = BB_CALL_OPTIONS_INIT;
    bb_error *err = NULL;
    options.cancel = cancel;
    options.progress = progress;
    options.progress_user_data = &told;
    result = bb_client_download_to_callback_opts(client, NULL, session, discard, NULL, &options,
                                                 &err);
    clock_gettime(CLOCK_MONOTONIC, &returned);
    if (!told && write(pipefd[1], "x", 1) != 1) result = BB_ERR_INTERNAL;
    bb_error_free(err);
    return NULL;
}

int main(int argc, char **argv) {
    bb_client_builder *builder;
    bb_error *err = NULL;
    int tries, i;
    if (argc != 3) {
        fprintf(stderr, "usage: bb_cancel SESSION TRIES\n");
        return 2;
    }
    session = argv[1];
    tries = atoi(argv[2]);
    builder = bb_client_builder_new();
    if (bb_client_builder_load_env(builder, &err) != BB_OK ||
        bb_client_builder_set_timeout_ms(builder, 60000, &err) != BB_OK ||
        bb_client_builder_set_max_retries(builder, 0, &err) != BB_OK ||
        bb_client_new(builder, &client, &err) != BB_OK) {
        fprintf(stderr, "bb_cancel: %s\n", bb_error_message(err));
        return 1;
    }
    bb_client_builder_free(builder);
    for (i = 0; i < tries; i++) {
        bb_cancel *cancel = NULL;
        pthread_t thread;
        struct timespec triggered;
        char byte;
        if (pipe(pipefd) != 0 || bb_cancel_new(&cancel, NULL) != BB_OK) return 1;
        pthread_create(&thread, NULL, download, cancel);
        if (read(pipefd[0], &byte, 1) != 1) return 1;
        clock_gettime(CLOCK_MONOTONIC, &triggered);
        bb_cancel_trigger(cancel);
        pthread_join(thread, NULL);
        if (result != BB_ERR_CANCELLED) {
            fprintf(stderr, "bb_cancel: try %d: %s, not BB_ERR_CANCELLED\n", i, bb_code_name(result));
            return 1;
        }
        printf("%.3f\n", (double)(returned.tv_sec - triggered.tv_sec) * 1e3 +
                             (double)(returned.tv_nsec - triggered.tv_nsec) / 1e6);
        close(pipefd[0]);
        close(pipefd[1]);
        bb_cancel_free(cancel);
    }
    bb_client_free(client);
    return 0;
}
