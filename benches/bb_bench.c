/* bb_bench: the libbrowserbase side of the benchmarks (benches/bench.py runs it).
 *
 *   bb_bench file   SESSION OUT            one download to a file
 *   bb_bench buffer SESSION                one download into memory
 *   bb_bench seq    SESSION N OUTDIR       N downloads one after another, one client
 *   bb_bench par    SESSION THREADS PER OUTDIR
 *                                          THREADS threads x PER downloads, one shared client
 *   bb_bench wait   SESSION TIMEOUT_MS OUT bb_wait_for_downloads
 *   bb_bench null   SESSION                one download to a callback that drops the bytes
 *                                          (the network path alone, for profiling)
 *
 * Settings come from BROWSERBASE_BASE_URL and BROWSERBASE_API_KEY. Prints one
 * line: "ok seconds=S maxrss_kib=K bytes=B" (seconds measured around the
 * library calls only; the caller also times the whole process).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "browserbase.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int fail(const char *what, bb_code rc, bb_error *err) {
    fprintf(stderr, "bb_bench: %s: %s: %s\n", what, bb_code_name(rc), bb_error_message(err));
    bb_error_free(err);
    return 1;
}

static void report(double seconds, unsigned long long bytes) {
    printf("ok seconds=%.6f maxrss_kib=%ld bytes=%llu\n", seconds, maxrss_kib(), bytes);
}

static int discard(void *user_data, const uint8_t *data, size_t len) {
    (void)data;
    *(unsigned long long *)user_data += len;
    return 0;
}

static bb_client *new_client(void) {
    bb_client *client = NULL;
    bb_error *err = NULL;
    bb_code rc = bb_client_new(NULL, &client, &err);
    if (rc != BB_OK) {
        fail("bb_client_new", rc, err);
        exit(1);
    }
    return client;
}

struct job {
    bb_client *client;
    const char *session;
    const char *outdir;
    int thread;
    int count;
    int failed;
};

static void *run_job(void *arg) {
    struct job *j = arg;
    char path[4096];
    for (int i = 0; i < j->count; i++) {
        bb_error *err = NULL;
        snprintf(path, sizeof path, "%s/t%d-%d.zip", j->outdir, j->thread, i);
        bb_code rc = bb_client_download(j->client, NULL, j->session, path, &err);
        if (rc != BB_OK) {
            fail("bb_client_download", rc, err);
            j->failed = 1;
            return NULL;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of benches/bb_bench.c\n");
        return 2;
    }
    const char *mode = argv[1];
    bb_error *err = NULL;

    if (strcmp(mode, "file") == 0 && argc == 4) {
        bb_client *client = new_client();
        double t0 = now();
        bb_code rc = bb_client_download(client, NULL, argv[2], argv[3], &err);
        double t = now() - t0;
        if (rc != BB_OK)
            return fail("bb_client_download", rc, err);
        report(t, 0);
        bb_client_free(client);
        return 0;
    }
    if (strcmp(mode, "buffer") == 0 && argc == 3) {
        bb_client *client = new_client();
        uint8_t *data = NULL;
        size_t len = 0;
        double t0 = now();
        bb_code rc = bb_client_download_to_buffer(client, NULL, argv[2], &data, &len, &err);
        double t = now() - t0;
        if (rc != BB_OK)
            return fail("bb_client_download_to_buffer", rc, err);
        report(t, (unsigned long long)len);
        bb_buffer_free(data, len);
        bb_client_free(client);
        return 0;
    }
    if (strcmp(mode, "null") == 0 && argc == 3) {
        bb_client *client = new_client();
        unsigned long long n = 0;
        double t0 = now();
        bb_code rc = bb_client_download_to_callback(client, NULL, argv[2], discard, &n, &err);
        double t = now() - t0;
        if (rc != BB_OK)
            return fail("bb_client_download_to_callback", rc, err);
        report(t, n);
        bb_client_free(client);
        return 0;
    }
    if (strcmp(mode, "seq") == 0 && argc == 5) {
        bb_client *client = new_client();
        struct job j = {client, argv[2], argv[4], 0, atoi(argv[3]), 0};
        double t0 = now();
        run_job(&j);
        double t = now() - t0;
        if (j.failed)
            return 1;
        report(t, 0);
        bb_client_free(client);
        return 0;
    }
    if (strcmp(mode, "par") == 0 && argc == 6) {
        bb_client *client = new_client();
        int threads = atoi(argv[3]);
        int per = atoi(argv[4]);
        if (threads < 1 || threads > 256)
            return 2;
        pthread_t tids[256];
        struct job jobs[256];
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (struct job){client, argv[2], argv[5], i, per, 0};
            if (pthread_create(&tids[i], NULL, run_job, &jobs[i]) != 0)
                return 1;
        }
        int failed = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(tids[i], NULL);
            failed |= jobs[i].failed;
        }
        double t = now() - t0;
        if (failed)
            return 1;
        report(t, 0);
        bb_client_free(client);
        return 0;
    }
    if (strcmp(mode, "wait") == 0 && argc == 5) {
        double t0 = now();
        bb_code rc = bb_wait_for_downloads(NULL, argv[2], (uint32_t)atol(argv[3]), argv[4], &err);
        double t = now() - t0;
        if (rc != BB_OK)
            return fail("bb_wait_for_downloads", rc, err);
        report(t, 0);
        return 0;
    }
    fprintf(stderr, "bb_bench: bad arguments for %s\n", mode);
    return 2;
}
