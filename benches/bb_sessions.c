/* bb_sessions: the libbrowserbase side of the many-sessions benchmark
 * (benches/bench.py, case "sessions"; issue 14 section 3).
 *
 *   bb_sessions batch   PREFIX COUNT OUTDIR CONCURRENCY
 *       one bb_download_sessions call for the COUNT sessions PREFIX0 ..
 *       PREFIX<COUNT-1>, CONCURRENCY at once, into OUTDIR/<id>.zip
 *   bb_sessions threads PREFIX COUNT OUTDIR THREADS
 *       what a program does without it: THREADS threads sharing one
 *       bb_client, each taking the next id and calling bb_client_download
 *       into OUTDIR/<id>.zip (a thread pool over the one-session call)
 *
 * Settings and the key come from BROWSERBASE_BASE_URL and BROWSERBASE_API_KEY
 * (never the command line). Prints one line: "ok seconds=S maxrss_kib=K
 * vmhwm_kib=H bytes=0", S measured around the download calls only, K and H
 * this process's peak resident set (getrusage, /proc/self/status VmHWM). On
 * Linux K also keeps the peak from before exec (started by a fork of a large
 * parent, Python for one, it shows the parent's size); H is this program's
 * own. bench.py takes the peak from wait4 under bb_time, a small parent.
 *
 * The batch mode needs a library whose header declares bb_download_sessions:
 * bench.py compiles this file with -DBB_HAVE_DOWNLOAD_SESSIONS only then, and
 * without it the batch mode refuses to run (exit 3) rather than measure
 * something else.
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

static long vmhwm_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

static void report(double seconds) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("ok seconds=%.6f maxrss_kib=%ld vmhwm_kib=%ld bytes=0\n", seconds, ru.ru_maxrss,
           vmhwm_kib());
}

/* The COUNT ids PREFIX0 .. PREFIX<COUNT-1>, as the stand-in server's
 * /_control/copies call names them. */
static char **make_ids(const char *prefix, size_t count) {
    char **ids = malloc(count * sizeof *ids);
    if (!ids)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(prefix) + 24;
        ids[i] = malloc(len);
        if (!ids[i])
            return NULL;
        snprintf(ids[i], len, "%s%zu", prefix, i);
    }
    return ids;
}

struct pool {
    bb_client *client;
    char **ids;
    size_t count;
    const char *outdir;
    pthread_mutex_t lock;
    size_t next;
    int failed;
};

static void *worker(void *arg) {
    struct pool *p = arg;
    char path[4096];
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next++;
        int stop = p->failed;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->count || stop)
            return NULL;
        snprintf(path, sizeof path, "%s/%s.zip", p->outdir, p->ids[i]);
        bb_error *err = NULL;
        bb_code rc = bb_client_download(p->client, NULL, p->ids[i], path, &err);
        if (rc != BB_OK) {
            fprintf(stderr, "bb_sessions: %s: %s: %s\n", p->ids[i], bb_code_name(rc),
                    bb_error_message(err));
            bb_error_free(err);
            pthread_mutex_lock(&p->lock);
            p->failed = 1;
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
    }
}

static int run_threads(char **ids, size_t count, const char *outdir, int threads) {
    bb_error *err = NULL;
    bb_client *client = NULL;
    bb_code rc = bb_client_new(NULL, &client, &err);
    if (rc != BB_OK) {
        fprintf(stderr, "bb_sessions: bb_client_new: %s: %s\n", bb_code_name(rc), bb_error_message(err));
        bb_error_free(err);
        return 1;
    }
    struct pool p = {client, ids, count, outdir, PTHREAD_MUTEX_INITIALIZER, 0, 0};
    pthread_t tids[256];
    double t0 = now();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, worker, &p) != 0)
            return 1;
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    double t = now() - t0;
    if (p.failed)
        return 1;
    report(t);
    bb_client_free(client);
    return 0;
}

static int run_batch(char **ids, size_t count, const char *outdir, unsigned concurrency) {
#ifdef BB_HAVE_DOWNLOAD_SESSIONS
    bb_code *results = calloc(count, sizeof *results);
    bb_error *err = NULL;
    if (!results)
        return 1;
    double t0 = now();
    bb_code rc = bb_download_sessions(NULL, (const char *const *)ids, count, outdir, concurrency,
                                      results, &err);
    double t = now() - t0;
    if (rc != BB_OK) {
        fprintf(stderr, "bb_sessions: bb_download_sessions: %s: %s\n", bb_code_name(rc),
                bb_error_message(err));
        bb_error_free(err);
        return 1;
    }
    for (size_t i = 0; i < count; i++)
        if (results[i] != BB_OK) {
            fprintf(stderr, "bb_sessions: BB_OK returned but results[%zu] is %s\n", i,
                    bb_code_name(results[i]));
            return 1;
        }
    report(t);
    free(results);
    return 0;
#else
    (void)ids, (void)count, (void)outdir, (void)concurrency;
    fprintf(stderr, "bb_sessions: built without bb_download_sessions (this library's header "
                    "does not declare it): the batch mode cannot run\n");
    return 3;
#endif
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: see the comment at the top of benches/bb_sessions.c\n");
        return 2;
    }
    const char *mode = argv[1], *prefix = argv[2], *outdir = argv[4];
    long count = atol(argv[3]);
    int n = atoi(argv[5]);
    if (count < 1 || n < 1 || n > 256) {
        fprintf(stderr, "bb_sessions: bad COUNT or CONCURRENCY\n");
        return 2;
    }
    char **ids = make_ids(prefix, (size_t)count);
    if (!ids)
        return 1;
    int rc;
    if (strcmp(mode, "batch") == 0)
        rc = run_batch(ids, (size_t)count, outdir, (unsigned)n);
    else if (strcmp(mode, "threads") == 0)
        rc = run_threads(ids, (size_t)count, outdir, n);
    else {
        fprintf(stderr, "bb_sessions: unknown mode %s\n", mode);
        rc = 2;
    }
    for (long i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
    return rc;
}
