/*
 * test_fork: libbrowserbase across fork(), and the process-wide default
 * client's environment. Run by tests/process.rs (and under valgrind by
 * tests/valgrind.rs); see tests/c/README.
 *
 *     test_fork                      the fork checks (TAP-style output)
 *     test_fork default ID PATH      one download of session ID to PATH with
 *                                    the process-wide default client
 *     test_fork env-client ID PATH   the same through bb_client_new(NULL, ...),
 *                                    a client with the environment's settings
 *     test_fork log-callback         a fork while another thread is inside the
 *                                    log callback (TAP-style output; needs
 *                                    BB_TEST_BASE_URL and BROWSERBASE_API_KEY)
 *     test_fork log-stderr           a fork while another thread is blocked
 *                                    writing a log line to stderr (the same,
 *                                    and BROWSERBASE_LOG=info)
 *
 * The fork checks need BB_TEST_BASE_URL (a bb-stand-in-server --demo),
 * BB_TEST_DIR (a scratch directory) and BROWSERBASE_API_KEY; BB_TEST_FORKS
 * (default 8) is how many children fork while threads download (fewer under
 * valgrind, where each child's new HTTP stack takes a second to build). They print one
 * "ok N - what" / "not ok N - what: details" line per check and last
 * "N passed, M failed"; the exit status is 1 if a check failed.
 *
 * The download modes take every setting from the environment (that is what
 * they test) and print one line: "BB_OK <bytes>" or "<code name> <HTTP
 * status> <message>"; exit status 0 on success, 1 on failure.
 *
 * What must hold: a process that used the library and then forks can
 * download in the child, with the default client (rebuilt there, not
 * inherited half-dead), with a client it created before the fork, and with
 * a new one; freeing an inherited client in the child returns; the parent
 * keeps working, also while the children download, also when it forks while
 * other threads are in the middle of downloads; and a grandchild works too.
 * Every child runs under alarm(): a hang fails the check instead of the run.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "browserbase.h"
#include "tap.h"

#define DEMO_SESSION "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80"

static const char *base_url;
static const char *test_dir;


static void die(const char *what) {
    fprintf(stderr, "test_fork: %s\n", what);
    exit(2);
}

/* The archive the parent downloaded first: every later download must equal it. */
static uint8_t *reference;
static size_t reference_len;

/* One download to a buffer, compared with the reference. Returns 1 if equal;
 * otherwise 0, with the reason in `why` (may be NULL). */
static int download_matches(const bb_client *client, char *why, size_t why_len) {
    uint8_t *data = NULL;
    size_t len = 0;
    bb_error *err = NULL;
    bb_code rc = client ? bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &data, &len, &err)
                        : bb_download_session_to_buffer(NULL, DEMO_SESSION, &data, &len, &err);
    int ok = rc == BB_OK && len == reference_len && memcmp(data, reference, len) == 0;
    if (!ok && why)
        snprintf(why, why_len, "%s (%zu bytes): %s", bb_code_name(rc), len, bb_error_message(err));
    if (rc == BB_OK) bb_buffer_free(data, len);
    bb_error_free(err);
    return ok;
}

/* A download to a file in the scratch directory, compared with the reference. */
static int file_download_matches(const bb_client *client, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_dir, name);
    bb_error *err = NULL;
    bb_code rc = client ? bb_client_download(client, NULL, DEMO_SESSION, path, &err)
                        : bb_download_session(NULL, DEMO_SESSION, path, &err);
    bb_error_free(err);
    if (rc != BB_OK) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    uint8_t *got = malloc(reference_len + 1);
    size_t n = got ? fread(got, 1, reference_len + 1, f) : 0;
    fclose(f);
    int ok = got && n == reference_len && memcmp(got, reference, n) == 0;
    free(got);
    return ok;
}

static bb_client *new_client(void) {
    bb_client_builder *b = bb_client_builder_new();
    bb_client *client = NULL;
    bb_error *err = NULL;
    if (bb_client_builder_set_base_url(b, base_url, &err) != BB_OK ||
        bb_client_builder_set_timeout_ms(b, 10000, &err) != BB_OK ||
        bb_client_new(b, &client, &err) != BB_OK) {
        fprintf(stderr, "test_fork: cannot make a client: %s\n", bb_error_message(err));
        exit(2);
    }
    bb_client_builder_free(b);
    return client;
}

/* Bits a child sets in its exit status, one per failed step. */
enum {
    CHILD_DEFAULT = 1,   /* the default client, to a buffer */
    CHILD_FILE = 2,      /* the default client, to a file */
    CHILD_INHERITED = 4, /* a client made before the fork */
    CHILD_NEW = 8,       /* a client made in the child */
    CHILD_FREE = 16      /* (a hang in bb_client_free shows as SIGALRM) */
};

/* The usual child: every kind of client, then frees the inherited one. */
static int child_work(bb_client *inherited, const char *file_name) {
    int failed = 0;
    char why[512];
    if (!download_matches(NULL, why, sizeof why)) {
        fprintf(stderr, "child %d: default client: %s\n", (int)getpid(), why);
        failed |= CHILD_DEFAULT;
    }
    if (file_name && !file_download_matches(NULL, file_name)) failed |= CHILD_FILE;
    if (inherited && !download_matches(inherited, why, sizeof why)) {
        fprintf(stderr, "child %d: inherited client: %s\n", (int)getpid(), why);
        failed |= CHILD_INHERITED;
    }
    bb_client *mine = new_client();
    if (!download_matches(mine, why, sizeof why)) failed |= CHILD_NEW;
    bb_client_free(mine);
    /* Freeing a client inherited from the parent must return, without
     * touching the connections it shares with the parent. */
    if (inherited) bb_client_free(inherited);
    return failed;
}

/* Describes a child's wait status. */
static const char *describe(int status, char *buf, size_t len) {
    if (WIFEXITED(status))
        snprintf(buf, len, "exit status %d (failed steps mask)", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (hung)" : "");
    else
        snprintf(buf, len, "status %d", status);
    return buf;
}

static pid_t fork_child(bb_client *inherited, const char *file_name) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        alarm(30);
        _exit(child_work(inherited, file_name));
    }
    return pid;
}

/* ------------------------------------------------------------------------ */

/* Threads that download with the default client until told to stop. */
struct looper {
    pthread_t thread;
    volatile int stop;
    int done, failures;
    char first_failure[512];
};

static void *loop_main(void *arg) {
    struct looper *l = arg;
    while (!l->stop) {
        char why[512];
        if (download_matches(NULL, why, sizeof why)) {
            l->done++;
        } else if (l->failures++ == 0) {
            snprintf(l->first_failure, sizeof l->first_failure, "%s", why);
        }
    }
    return NULL;
}

static void fork_checks(void) {
    bb_error *err = NULL;
    bb_code rc = bb_download_session_to_buffer(NULL, DEMO_SESSION, &reference, &reference_len, &err);
    if (!check(rc == BB_OK, "the parent downloads with the default client before any fork",
               "%s: %s", bb_code_name(rc), bb_error_message(err)))
        return;
    bb_error_free(err);
    bb_client *client = new_client();
    char why[512] = "";
    check(download_matches(client, why, sizeof why),
          "the parent downloads with its own client before any fork", "%s", why);

    /* 1. One child, while the parent downloads too. */
    pid_t pid = fork_child(client, "child.zip");
    int parent_ok = 1;
    for (int i = 0; i < 5; i++) {
        parent_ok &= download_matches(NULL, why, sizeof why);
        parent_ok &= download_matches(client, why, sizeof why);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char buf[128];
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a forked child downloads with the default, an inherited and a new client, to a "
          "buffer and a file, and frees the inherited client",
          "%s", describe(status, buf, sizeof buf));
    check(parent_ok, "the parent keeps downloading (both clients) while the child does", "%s",
          why);

    /* 2. Forks while other threads are in the middle of downloads. */
    enum { LOOPERS = 3 };
    const char *forks_env = getenv("BB_TEST_FORKS");
    int forks = forks_env && atoi(forks_env) > 0 ? atoi(forks_env) : 8;
    struct looper loopers[LOOPERS];
    memset(loopers, 0, sizeof loopers);
    for (int i = 0; i < LOOPERS; i++)
        if (pthread_create(&loopers[i].thread, NULL, loop_main, &loopers[i]) != 0)
            die("pthread_create failed");
    int children_ok = 0;
    char first_bad[128] = "";
    for (int i = 0; i < forks; i++) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL); /* let the threads be mid-download */
        pid = fork_child(client, NULL);
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            children_ok++;
        else if (!first_bad[0])
            describe(status, first_bad, sizeof first_bad);
    }
    int done = 0, failures = 0;
    const char *first_failure = "";
    for (int i = 0; i < LOOPERS; i++) {
        loopers[i].stop = 1;
        pthread_join(loopers[i].thread, NULL);
        done += loopers[i].done;
        if (loopers[i].failures && !failures) first_failure = loopers[i].first_failure;
        failures += loopers[i].failures;
    }
    check(children_ok == forks,
          "children forked while 3 threads were downloading all download (default, inherited "
          "and new clients)",
          "%d of %d succeeded; first failure: %s", children_ok, forks, first_bad);
    check(failures == 0 && done > 0, "the parent's downloading threads never failed",
          "%d downloads, %d failures, first: %s", done, failures, first_failure);

    /* 3. A grandchild: the child's own rebuilt client is inherited once more. */
    fflush(stdout);
    pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        alarm(60);
        int failed = download_matches(NULL, NULL, 0) ? 0 : CHILD_DEFAULT;
        failed |= download_matches(client, NULL, 0) ? 0 : CHILD_INHERITED;
        fflush(stdout);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            alarm(30);
            _exit(child_work(client, NULL));
        }
        int gstatus = 0;
        waitpid(grandchild, &gstatus, 0);
        _exit(failed | (WIFEXITED(gstatus) ? WEXITSTATUS(gstatus) : 64));
    }
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a child downloads, forks, and its child downloads with every kind of client", "%s",
          describe(status, buf, sizeof buf));

    /* 4. The parent, after all of it. */
    check(download_matches(NULL, why, sizeof why) && download_matches(client, why, sizeof why),
          "the parent still downloads with both clients after the forks", "%s", why);
    bb_client_free(client);
    bb_buffer_free(reference, reference_len);
}

/* ------------------------------------------------------------------------ */
/* A fork while another thread is inside the log callback: the child inherits
 * a call of the callback that never ends there, and must not wait for it when
 * it replaces the callback. */

static int inside_pipe[2], release_pipe[2];
static volatile int parked;

/* The first line parks its thread inside the callback until released. */
static void parking_log(void *user_data, bb_log_level level, const char *message) {
    (void)user_data; (void)level; (void)message;
    if (__sync_bool_compare_and_swap(&parked, 0, 1)) {
        char c = 'x';
        if (write(inside_pipe[1], &c, 1) != 1) _exit(3);
        if (read(release_pipe[0], &c, 1) != 1) _exit(3);
    }
}

static int child_lines;
static void counting_log(void *user_data, bb_log_level level, const char *message) {
    (void)user_data; (void)level; (void)message;
    child_lines++;
}

static void *parked_download(void *arg) {
    bb_client *client = arg;
    uint8_t *data = NULL;
    size_t len = 0;
    bb_error *err = NULL;
    bb_code rc = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &data, &len, &err);
    if (rc == BB_OK) bb_buffer_free(data, len);
    bb_error_free(err);
    return (void *)(intptr_t)rc;
}

static void log_fork_checks(void) {
    if (pipe(inside_pipe) != 0 || pipe(release_pipe) != 0) die("pipe failed");
    bb_error *err = NULL;
    bb_client *client = new_client();
    bb_code got = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &reference,
                                               &reference_len, &err);
    if (!check(got == BB_OK, "the reference download", "%s", bb_error_message(err))) return;
    check(bb_set_log_callback(parking_log, NULL, BB_LOG_INFO, &err) == BB_OK,
          "the parking log callback is installed", "%s", bb_error_message(err));
    pthread_t thread;
    if (pthread_create(&thread, NULL, parked_download, client) != 0) die("pthread_create failed");
    char c;
    /* The other thread is now inside the callback, and stays there. */
    if (read(inside_pipe[0], &c, 1) != 1) die("read failed");

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        alarm(10); /* the watchdog: a hang ends as SIGALRM */
        int failed = 0;
        bb_error *e = NULL;
        if (bb_set_log_callback(counting_log, NULL, BB_LOG_INFO, &e) != BB_OK) failed |= 1;
        bb_client *mine = new_client();
        if (!download_matches(mine, NULL, 0) || child_lines == 0) failed |= 2;
        bb_client_free(mine);
        if (bb_set_log_callback(NULL, NULL, BB_LOG_OFF, &e) != BB_OK) failed |= 4;
        _exit(failed);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char buf[128];
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a child forked while another thread is inside the log callback replaces the "
          "callback without waiting for that call, and its lines reach the new one",
          "%s", describe(status, buf, sizeof buf));

    /* The parent's call was never disturbed: released, it completes. */
    c = 'x';
    if (write(release_pipe[1], &c, 1) != 1) die("write failed");
    void *rc = NULL;
    pthread_join(thread, &rc);
    check((bb_code)(intptr_t)rc == BB_OK, "the parent's parked download completes", "%s",
          bb_code_name((bb_code)(intptr_t)rc));
    check(bb_set_log_callback(NULL, NULL, BB_LOG_OFF, &err) == BB_OK,
          "the parent replaces the callback once its call has returned", "%s",
          bb_error_message(err));
    bb_client_free(client);
    bb_buffer_free(reference, reference_len);
}

/* ------------------------------------------------------------------------ */
/* A fork while another thread is blocked writing a log line to stderr (a
 * full pipe): whatever that thread holds while it writes, the child must
 * still log to its own stderr. */

/* Whether some thread of this process is inside write(2) on fd 2. */
static int a_thread_writes_stderr(void) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%d 0x2 ", (int)SYS_write);
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(line, sizeof line, f) && strncmp(line, prefix, strlen(prefix)) == 0) found = 1;
        fclose(f);
    }
    closedir(d);
    return found;
}

static void log_stderr_checks(void) {
    bb_error *err = NULL;
    bb_client *client = new_client();
    bb_code got = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &reference,
                                               &reference_len, &err);
    if (!check(got == BB_OK, "the reference download", "%s", bb_error_message(err))) return;

    /* stderr becomes a pipe nobody reads, filled to the brim. */
    fflush(stderr);
    int saved = dup(2), p[2];
    if (saved < 0 || pipe(p) != 0 || dup2(p[1], 2) < 0) die("pipe/dup2 failed");
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    char byte = '.';
    while (write(p[1], &byte, 1) == 1) {}
    fcntl(p[1], F_SETFL, 0);

    /* The download's log line blocks its thread inside the write. */
    pthread_t thread;
    if (pthread_create(&thread, NULL, parked_download, client) != 0) die("pthread_create failed");
    int blocked = 0;
    for (int i = 0; i < 10000 && !blocked; i++) {
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
        blocked = a_thread_writes_stderr();
    }
    check(blocked, "a thread is blocked writing a log line to stderr", "not seen in 10 s");

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        alarm(10); /* the watchdog: a hang ends as SIGALRM */
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 2) < 0) _exit(3);
        bb_client *mine = new_client();
        int ok = download_matches(mine, NULL, 0); /* logs its line to stderr */
        bb_client_free(mine);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char buf[128];
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a child forked meanwhile logs to its own stderr and downloads",
          "%s", describe(status, buf, sizeof buf));

    /* Drain the pipe: the parent's thread finishes its line and its call. */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    char sink[4096];
    void *rc = NULL;
    for (;;) {
        while (read(p[0], sink, sizeof sink) > 0) {}
        if (!a_thread_writes_stderr()) break;
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    pthread_join(thread, &rc);
    dup2(saved, 2);
    close(saved);
    close(p[0]);
    close(p[1]);
    check((bb_code)(intptr_t)rc == BB_OK, "the parent's blocked download completes", "%s",
          bb_code_name((bb_code)(intptr_t)rc));
    bb_client_free(client);
    bb_buffer_free(reference, reference_len);
}

/* One download with the environment's settings; prints its outcome. */
static int download_mode(int with_env_client, const char *id, const char *path) {
    bb_error *err = NULL;
    bb_code rc;
    if (with_env_client) {
        bb_client *client = NULL;
        rc = bb_client_new(NULL, &client, &err);
        if (rc == BB_OK) rc = bb_client_download(client, NULL, id, path, &err);
        bb_client_free(client);
    } else {
        rc = bb_download_session(NULL, id, path, &err);
    }
    if (rc == BB_OK) {
        FILE *f = fopen(path, "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
        if (f) fclose(f);
        printf("BB_OK %ld\n", size);
        return 0;
    }
    printf("%s %d %s\n", bb_code_name(rc), bb_error_http_status(err), bb_error_message(err));
    bb_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "default") == 0) return download_mode(0, argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "env-client") == 0) return download_mode(1, argv[2], argv[3]);
    if (argc == 2 && strcmp(argv[1], "log-callback") == 0) {
        base_url = getenv("BB_TEST_BASE_URL");
        if (!base_url || !*base_url || !getenv("BROWSERBASE_API_KEY"))
            die("set BB_TEST_BASE_URL and BROWSERBASE_API_KEY");
        log_fork_checks();
        return tap_summary();
    }
    if (argc == 2 && strcmp(argv[1], "log-stderr") == 0) {
        base_url = getenv("BB_TEST_BASE_URL");
        if (!base_url || !*base_url || !getenv("BROWSERBASE_API_KEY"))
            die("set BB_TEST_BASE_URL and BROWSERBASE_API_KEY");
        log_stderr_checks();
        return tap_summary();
    }
    if (argc != 1) {
        fprintf(stderr, "usage: test_fork [default|env-client SESSION_ID PATH | log-callback | log-stderr]\n");
        return 2;
    }
    base_url = getenv("BB_TEST_BASE_URL");
    test_dir = getenv("BB_TEST_DIR");
    if (!base_url || !*base_url || !test_dir || !*test_dir || !getenv("BROWSERBASE_API_KEY"))
        die("set BB_TEST_BASE_URL, BB_TEST_DIR and BROWSERBASE_API_KEY");
    if (setenv("BROWSERBASE_BASE_URL", base_url, 1) != 0) die("setenv failed");
    fork_checks();
    return tap_summary();
}
