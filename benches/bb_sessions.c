/*
 * bb_sessions: the library call that `bb-download -j N -d DIR ID...` is
 * measured against in `make bench` (case "cli"): the same sessions, N at
 * once, each to DIR/<id>.zip, through one client, with no command-line tool
 * around it. Ids must be plain file names (the benchmark's are s0000...).
 *
 *     bb_sessions DIR N ID...
 *
 * Prints "ok seconds=S" (the time inside the library) on success.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "browserbase.h"

static bb_client *client;
static const char *dir;
static char **ids;
static int count;
static int next_id;
static int failed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *unused) {
    (void)unused;
    char path[4096];
    for (;;) {
        pthread_mutex_lock(&lock);
        int i = next_id < count ? next_id++ : count;
        pthread_mutex_unlock(&lock);
        if (i == count) {
            return NULL;
        }
        snprintf(path, sizeof path, "%s/%s.zip", dir, ids[i]);
        bb_error *err = NULL;
        bb_code rc = bb_client_download(client, NULL, ids[i], path, &err);
        if (rc != BB_OK) {
            fprintf(stderr, "%s: %s\n", ids[i], bb_error_message(err));
            bb_error_free(err);
            pthread_mutex_lock(&lock);
            failed = 1;
            pthread_mutex_unlock(&lock);
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bb_sessions DIR N ID...\n");
        return 2;
    }
    dir = argv[1];
    int threads = atoi(argv[2]);
    ids = argv + 3;
    count = argc - 3;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "bb_sessions: N must be 1 to 64\n");
        return 2;
    }
    bb_error *err = NULL;
    if (bb_client_new(NULL, &client, &err) != BB_OK) {
        fprintf(stderr, "bb_sessions: %s\n", bb_error_message(err));
        bb_error_free(err);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t pool[64];
    for (int i = 1; i < threads; i++) {
        pthread_create(&pool[i], NULL, worker, NULL);
    }
    worker(NULL);
    for (int i = 1; i < threads; i++) {
        pthread_join(pool[i], NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    bb_client_free(client);
    if (failed) {
        return 1;
    }
    printf("ok seconds=%.6f\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
