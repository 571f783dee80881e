/*
 * bb_sessions: the library call that `bb-download -j N -d DIR ID...` is
 * measured against in `make bench` (case "cli"): the same sessions, N at
 * once, each to DIR/<id>.zip, in one bb_client_download_sessions call, with
 * no command-line tool around it.
 *
 *     bb_sessions DIR N ID...
 *
 * Prints "ok seconds=S" (the time inside the library) on success.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "browserbase.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bb_sessions DIR N ID...\n");
        return 2;
    }
    bb_client *client = NULL;
    bb_error *err = NULL;
    if (bb_client_new(NULL, &client, &err) != BB_OK) {
        fprintf(stderr, "bb_sessions: %s\n", bb_error_message(err));
        bb_error_free(err);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bb_code rc = bb_client_download_sessions(client, NULL, (const char *const *)(argv + 3),
                                             (size_t)(argc - 3), argv[1],
                                             (unsigned)atoi(argv[2]), NULL, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != BB_OK) {
        fprintf(stderr, "bb_sessions: %s\n", bb_error_message(err));
        bb_error_free(err);
        bb_client_free(client);
        return 1;
    }
    bb_client_free(client);
    printf("ok seconds=%.6f\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
