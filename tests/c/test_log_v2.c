/*
 * bb_set_log_callback_v2, the log setter that never waits: the old
 * callback's user_data is released through destroy exactly once, after its
 * last running call, on whichever thread ends it. Reads BB_TEST_BASE_URL
 * and BB_TEST_SESSION; prints TAP-style lines and "N passed, M failed".
 *
 * Every wait is on an event (a pipe, a join, a waitpid); alarm() turns a
 * hang (a setter that waits for the parked call) into a failure (SIGALRM)
 * within seconds.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browserbase.h"
#include "tap.h"

static const char *base, *session;

/* One installation's user_data: how often its callback and destroy ran,
 * and where. A callback that parks writes 'E' to `entered` on its first
 * call and then waits for a byte on `go`. */
struct data {
    int calls;
    int inside;            /* calls of the callback running now */
    int park;              /* park on the first call */
    int entered[2], go[2]; /* pipes */
    int replace_inside;    /* remove itself (v2) from inside its first call */
    bb_code replace_rc;
    int destroyed;
    int inside_at_destroy;
    pthread_t destroy_thread;
};

static void init(struct data *d, int park) {
    memset(d, 0, sizeof *d);
    d->park = park;
    d->replace_rc = BB_ERR_INTERNAL;
    if (park && (pipe(d->entered) != 0 || pipe(d->go) != 0)) {
        perror("pipe");
        exit(2);
    }
}

static void on_log(void *user_data, bb_log_level level, const char *message) {
    struct data *d = user_data;
    (void)level;
    (void)message;
    __atomic_add_fetch(&d->inside, 1, __ATOMIC_SEQ_CST);
    int first = __atomic_add_fetch(&d->calls, 1, __ATOMIC_SEQ_CST) == 1;
    if (first && d->park) {
        char c = 'E';
        if (write(d->entered[1], &c, 1) != 1) abort();
        if (read(d->go[0], &c, 1) != 1) abort();
    }
    if (first && d->replace_inside) {
        bb_error *err = NULL;
        d->replace_rc = bb_set_log_callback_v2(NULL, NULL, NULL, BB_LOG_OFF, &err);
        bb_error_free(err);
    }
    __atomic_sub_fetch(&d->inside, 1, __ATOMIC_SEQ_CST);
}

static void on_destroy(void *user_data) {
    struct data *d = user_data;
    d->inside_at_destroy = __atomic_load_n(&d->inside, __ATOMIC_SEQ_CST);
    d->destroy_thread = pthread_self();
    __atomic_add_fetch(&d->destroyed, 1, __ATOMIC_SEQ_CST);
}

static int destroyed(struct data *d) { return __atomic_load_n(&d->destroyed, __ATOMIC_SEQ_CST); }

static bb_client *make_client(void) {
    bb_error *err = NULL;
    bb_client *client = NULL;
    bb_client_builder *b = bb_client_builder_new();
    bb_code rc = bb_client_builder_set_base_url(b, base, &err);
    if (rc == BB_OK) rc = bb_client_builder_set_api_key(b, "bb_test_key", &err);
    if (rc == BB_OK) rc = bb_client_new(b, &client, &err);
    bb_client_builder_free(b);
    if (rc != BB_OK) {
        printf("# %s: %s\n", bb_code_name(rc), bb_error_message(err));
        bb_error_free(err);
        exit(2);
    }
    return client;
}

/* One download: its request line is logged at BB_LOG_INFO. */
static bb_code download(void) {
    bb_client *client = make_client();
    bb_error *err = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    bb_code rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    if (rc == BB_OK) bb_buffer_free(data, len);
    else { printf("# download: %s\n", bb_error_message(err)); bb_error_free(err); }
    bb_client_free(client);
    return rc;
}

static void *download_thread(void *arg) {
    *(bb_code *)arg = download();
    return NULL;
}

static bb_code set_v2(bb_log_callback cb, struct data *d, bb_log_level level) {
    bb_error *err = NULL;
    bb_code rc = bb_set_log_callback_v2(cb, d, d ? on_destroy : NULL, level, &err);
    bb_error_free(err);
    return rc;
}

static void wait_entered(struct data *d) {
    char c;
    if (read(d->entered[0], &c, 1) != 1) abort();
}

static void let_go(struct data *d) {
    char c = 'G';
    if (write(d->go[1], &c, 1) != 1) abort();
}

/* A thread parks inside the callback; another thread replaces it: the
 * setter returns at once, and destroy runs when the parked call returns,
 * on the parked thread. */
static void replace_while_a_call_is_parked(void) {
    struct data parked, next;
    init(&parked, 1);
    init(&next, 0);
    check(set_v2(on_log, &parked, BB_LOG_INFO) == BB_OK, "v2 installs a callback", "");
    pthread_t thread;
    bb_code thread_rc = BB_ERR_INTERNAL;
    pthread_create(&thread, NULL, download_thread, &thread_rc);
    wait_entered(&parked);

    /* Would wait forever for the parked call with the waiting setter. */
    check(set_v2(on_log, &next, BB_LOG_INFO) == BB_OK, "replacing returns while the old callback is parked", "");
    check(destroyed(&parked) == 0, "the parked callback's data is not destroyed while its call runs",
          "destroyed %d times", destroyed(&parked));
    check(download() == BB_OK && next.calls >= 1 && parked.calls == 1,
          "new lines go to the replacement at once", "next %d, parked %d calls", next.calls, parked.calls);

    let_go(&parked);
    pthread_join(thread, NULL);
    check(thread_rc == BB_OK, "the parked download finishes", "%s", bb_code_name(thread_rc));
    check(destroyed(&parked) == 1, "destroy runs exactly once when the parked call returns",
          "%d times", destroyed(&parked));
    check(parked.inside_at_destroy == 0, "destroy runs after the call returned", "");
    check(pthread_equal(parked.destroy_thread, thread), "destroy runs on the thread that ended the last call", "");

    /* Removing it with no call running: destroy inside the setter. */
    check(set_v2(NULL, NULL, BB_LOG_OFF) == BB_OK && destroyed(&next) == 1 &&
              pthread_equal(next.destroy_thread, pthread_self()),
          "with no call running, destroy runs inside the replacing call", "destroyed %d times",
          destroyed(&next));
    check(download() == BB_OK && destroyed(&parked) == 1 && destroyed(&next) == 1,
          "nothing is destroyed twice", "");
    close(parked.entered[0]); close(parked.entered[1]);
    close(parked.go[0]); close(parked.go[1]);
}

/* The callback removes itself from inside its own call: destroy runs once,
 * after that call returned, on its thread. */
static void replace_from_inside_the_callback(void) {
    struct data self;
    init(&self, 0);
    self.replace_inside = 1;
    check(set_v2(on_log, &self, BB_LOG_INFO) == BB_OK, "a self-removing callback is installed", "");
    check(download() == BB_OK && self.replace_rc == BB_OK && self.calls == 1,
          "the callback removes itself from inside a call", "rc %s, %d calls", bb_code_name(self.replace_rc),
          self.calls);
    check(destroyed(&self) == 1 && self.inside_at_destroy == 0 &&
              pthread_equal(self.destroy_thread, pthread_self()),
          "destroy runs once, after the callback's call returned", "%d times, %d inside", destroyed(&self),
          self.inside_at_destroy);
}

/* The edges of ownership. */
static void ownership_edges(void) {
    struct data unused, kept, by_v1;
    init(&unused, 0);
    check(set_v2(NULL, &unused, BB_LOG_INFO) == BB_OK && destroyed(&unused) == 1,
          "with callback NULL, destroy runs at once", "%d times", destroyed(&unused));

    init(&kept, 0);
    check(set_v2(on_log, &kept, BB_LOG_INFO) == BB_OK, "installed", "");
    struct data refused;
    init(&refused, 0);
    bb_error *err = NULL;
    check(bb_set_log_callback_v2(on_log, &refused, on_destroy, (bb_log_level)42, &err) ==
                  BB_ERR_INVALID_ARGUMENT &&
              err != NULL && strstr(bb_error_message(err), "max_level 42") != NULL,
          "an unknown level is refused with a clear error", "");
    bb_error_free(err);
    check(destroyed(&refused) == 0 && destroyed(&kept) == 0, "a refused call destroys nothing", "");
    check(download() == BB_OK && kept.calls >= 1 && refused.calls == 0,
          "a refused call leaves the callback in place", "");

    /* The waiting setter replacing a v2 callback releases it too. */
    init(&by_v1, 0);
    err = NULL;
    check(bb_set_log_callback(on_log, &by_v1, BB_LOG_INFO, &err) == BB_OK && destroyed(&kept) == 1,
          "bb_set_log_callback replacing a v2 callback destroys its data", "%d times", destroyed(&kept));
    check(set_v2(NULL, NULL, BB_LOG_OFF) == BB_OK, "removed", "");
}

/* fork() while a thread is parked inside the callback: in the child that
 * call does not exist, so removing the callback destroys its data at once
 * there; the parent's copy is destroyed once, when its parked call
 * returns. */
static void fork_while_a_call_is_parked(void) {
    struct data parked;
    init(&parked, 1);
    check(set_v2(on_log, &parked, BB_LOG_INFO) == BB_OK, "installed before the fork", "");
    pthread_t thread;
    bb_code thread_rc = BB_ERR_INTERNAL;
    pthread_create(&thread, NULL, download_thread, &thread_rc);
    wait_entered(&parked);

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        alarm(10);
        int ok = set_v2(NULL, NULL, BB_LOG_OFF) == BB_OK && destroyed(&parked) == 1 &&
                 parked.inside_at_destroy == 1 /* the parent's parked call, copied */;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "in the child, removing the callback destroys its data once, at once", "status %d", status);
    check(destroyed(&parked) == 0, "the parent's data is untouched by the child", "");

    check(set_v2(NULL, NULL, BB_LOG_OFF) == BB_OK && destroyed(&parked) == 0,
          "in the parent, removing it waits for nothing and destroys nothing yet", "");
    let_go(&parked);
    pthread_join(thread, NULL);
    check(thread_rc == BB_OK && destroyed(&parked) == 1 && parked.inside_at_destroy == 0,
          "in the parent, destroy runs once when the parked call returns", "%d times", destroyed(&parked));
}

int main(void) {
    base = getenv("BB_TEST_BASE_URL");
    session = getenv("BB_TEST_SESSION");
    if (!base || !session) {
        fprintf(stderr, "BB_TEST_BASE_URL and BB_TEST_SESSION are required\n");
        return 2;
    }
    alarm(30);
    replace_while_a_call_is_parked();
    replace_from_inside_the_callback();
    ownership_edges();
    fork_while_a_call_is_parked();
    return tap_summary();
}
