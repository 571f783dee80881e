/*
 * test_api: exercises the whole C API of libbrowserbase against a running
 * bb-stand-in-server. Run by tests/c_api.rs; see tests/c/README to run it
 * by hand.
 *
 * Environment:
 *   BB_TEST_BASE_URL     the stand-in server, e.g. http://127.0.0.1:41234,
 *                        started with --demo and the default key
 *   BB_TEST_DIR          an existing scratch directory (emptied by the harness)
 *   BROWSERBASE_API_KEY  bb_test_key
 *   BB_TEST_ONLY         "invalid": run only the checks that pass bad
 *                        arguments (none of them may send a request)
 *
 * Output: one TAP-style line per check ("ok N - what" or
 * "not ok N - what: details"), diagnostics on lines starting with "#", and
 * last the line "N passed, M failed". The exit status is 1 if any check
 * failed, 2 if the environment is unusable.
 */

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "browserbase.h"
#include "tap.h"

#define DEMO_SESSION "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80"
#define EMPTY_SESSION "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91"
#define UNKNOWN_SESSION "00000000-0000-4000-8000-000000000000"
#define TEST_KEY "bb_test_key"

static const uint8_t EMPTY_ZIP[22] = {0x50, 0x4b, 0x05, 0x06};

static const char *base_url;
static const char *test_dir;

/* ------------------------------------------------------------------------ */
/* Reporting                                                                  */
/* ------------------------------------------------------------------------ */



/* A name for any code, for details (bb_code_name is itself under test, so
 * the number is printed too). */
static const char *name_of(bb_code code) { return bb_code_name(code); }

/* Checks a failed call: its return value, the code and HTTP status stored in
 * `err` (want_status < 0: any), and that the message contains `want_text`
 * (NULL: any) and does not contain `forbidden` (NULL: nothing). Frees `err`. */
static int expect_failure(const char *what, bb_code got, bb_error *err, bb_code want,
                          int want_status, const char *want_text, const char *forbidden) {
    const char *msg = bb_error_message(err);
    int status = bb_error_http_status(err);
    int ok = got == want && err != NULL && bb_error_code(err) == want &&
             (want_status < 0 || status == want_status) &&
             (want_text == NULL || strstr(msg, want_text) != NULL) &&
             (forbidden == NULL || strstr(msg, forbidden) == NULL);
    check(ok, what,
          "returned %s (%d), error %s, code in error %s, HTTP status %d, message \"%s\"; "
          "wanted %s, status %d, message containing \"%s\"%s%s%s",
          name_of(got), (int)got, err ? "set" : "NULL", name_of(bb_error_code(err)), status, msg,
          name_of(want), want_status, want_text ? want_text : "(anything)",
          forbidden ? " and not \"" : "", forbidden ? forbidden : "", forbidden ? "\"" : "");
    bb_error_free(err);
    return ok;
}

/* Checks a call that should succeed; on failure prints the error. Frees `err`. */
static int expect_ok(const char *what, bb_code got, bb_error *err) {
    int ok = got == BB_OK && err == NULL;
    check(ok, what, "returned %s, HTTP status %d, message \"%s\"%s", name_of(got),
          bb_error_http_status(err), bb_error_message(err),
          (got == BB_OK && err != NULL) ? " (err written on success)" : "");
    bb_error_free(err);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Small utilities                                                            */
/* ------------------------------------------------------------------------ */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "test_api: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

/* A path inside the scratch directory (static storage, rotating). */
static const char *scratch(const char *name) {
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", test_dir, name);
    return p;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads a whole file; returns NULL if it cannot. */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *data = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            uint8_t *bigger = realloc(data, cap);
            if (!bigger) die("out of memory");
            data = bigger;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(data);
        return NULL;
    }
    *len = n;
    return data;
}

static int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* Whether the file holds exactly these bytes. */
static int file_equals(const char *path, const void *data, size_t len) {
    size_t n = 0;
    uint8_t *got = read_file(path, &n);
    int same = got != NULL && n == len && memcmp(got, data, len) == 0;
    free(got);
    return same;
}

/* The name of a leftover temporary file (".NAME.XXXX.bbpart") in the scratch
 * directory, or NULL when there is none. */
static const char *leftover_temp_file(void) {
    static char found[1024];
    DIR *dir = opendir(test_dir);
    if (!dir) die("cannot open %s: %s", test_dir, strerror(errno));
    const char *result = NULL;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' && n > 7 && strcmp(e->d_name + n - 7, ".bbpart") == 0) {
            snprintf(found, sizeof found, "%s", e->d_name);
            result = found;
            break;
        }
    }
    closedir(dir);
    return result;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------ */
/* The stand-in server's control API (plain HTTP/1.1 over a socket)           */
/* ------------------------------------------------------------------------ */

/* Sends one request to the server; returns its status (-1 if none) and
 * stores up to `cap` - 1 bytes of the response body, NUL-terminated, in
 * `body_out` (may be NULL). */
static int control(const char *method, const char *path, const void *body, size_t body_len,
                   char *body_out, size_t cap) {
    char host[256], port[16];
    const char *hp = strstr(base_url, "://");
    hp = hp ? hp + 3 : base_url;
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host) die("cannot parse %s", base_url);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    snprintf(port, sizeof port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);

    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);

    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      method, path, host, port, body_len);
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hn, body_len};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            /* MSG_NOSIGNAL: no SIGPIPE if the server hangs up. SIGPIPE is not
             * ignored in this program, so the library must not raise it either. */
            ssize_t w = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
            if (w <= 0) {
                close(fd);
                return -1;
            }
            off += (size_t)w;
        }
    }
    /* The server closes the connection after the response. */
    size_t rcap = 1 << 16, rn = 0;
    char *resp = xmalloc(rcap + 1);
    for (;;) {
        if (rn == rcap) {
            rcap *= 2;
            char *bigger = realloc(resp, rcap + 1);
            if (!bigger) die("out of memory");
            resp = bigger;
        }
        ssize_t r = read(fd, resp + rn, rcap - rn);
        if (r <= 0) break;
        rn += (size_t)r;
    }
    close(fd);
    resp[rn] = '\0';
    int status = -1;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) status = -1;
    if (body_out && cap > 0) {
        const char *b = strstr(resp, "\r\n\r\n");
        snprintf(body_out, cap, "%s", b ? b + 4 : "");
    }
    free(resp);
    return status;
}

static void control_ok(const char *method, const char *path, const void *body, size_t len) {
    char answer[512];
    int status = control(method, path, body, len, answer, sizeof answer);
    if (status < 200 || status > 299)
        die("control %s %s answered %d: %s", method, path, status, answer);
}

/* Replaces session `id`'s fault script (steps separated by '\n'). */
static void script(const char *id, const char *steps) {
    char path[256];
    snprintf(path, sizeof path, "/_control/sessions/%s/script", id);
    control_ok("POST", path, steps, strlen(steps));
}

/* Requests the server received (outside /_control/) since it started. */
static long request_count(void) {
    char answer[64];
    if (control("GET", "/_control/requests/count", "", 0, answer, sizeof answer) != 200)
        die("cannot read the server's request count");
    return strtol(answer, NULL, 10);
}

/* ------------------------------------------------------------------------ */
/* Callback sinks                                                             */
/* ------------------------------------------------------------------------ */

struct collector {
    uint8_t *data;
    size_t len, cap;
    int calls;
    int cancel_after; /* cancel on this call (1-based); 0: never */
    int bad_pointer;  /* a call got data NULL or len 0 */
};

static int collect(void *user_data, const uint8_t *data, size_t len) {
    struct collector *c = user_data;
    c->calls++;
    if (data == NULL || len == 0) c->bad_pointer = 1;
    if (c->cancel_after && c->calls >= c->cancel_after) return 1;
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + len) cap *= 2;
        uint8_t *bigger = realloc(c->data, cap);
        if (!bigger) return 1;
        c->data = bigger;
        c->cap = cap;
    }
    if (len) memcpy(c->data + c->len, data, len);
    c->len += len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The checks                                                                 */
/* ------------------------------------------------------------------------ */

static void test_version_and_names(void) {
    check(strcmp(bb_version(), BB_VERSION_STRING) == 0, "bb_version() equals BB_VERSION_STRING",
          "bb_version() is \"%s\", the header says \"%s\"", bb_version(), BB_VERSION_STRING);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", BB_VERSION_MAJOR, BB_VERSION_MINOR,
             BB_VERSION_PATCH);
    check(strcmp(expected, BB_VERSION_STRING) == 0,
          "BB_VERSION_MAJOR.MINOR.PATCH spell BB_VERSION_STRING", "\"%s\" vs \"%s\"", expected,
          BB_VERSION_STRING);
    check(strcmp(bb_code_name(BB_ERR_NOT_FOUND), "BB_ERR_NOT_FOUND") == 0,
          "bb_code_name(BB_ERR_NOT_FOUND) is \"BB_ERR_NOT_FOUND\"", "got \"%s\"",
          bb_code_name(BB_ERR_NOT_FOUND));
    check(strcmp(bb_code_name(BB_OK), "BB_OK") == 0 &&
              strcmp(bb_code_name(BB_ERR_INTERNAL), "BB_ERR_INTERNAL") == 0 &&
              strcmp(bb_code_name(BB_ERR_INVALID_ARGUMENT), "BB_ERR_INVALID_ARGUMENT") == 0,
          "bb_code_name of the first, second and last codes", "got \"%s\", \"%s\", \"%s\"",
          bb_code_name(BB_OK), bb_code_name(BB_ERR_INVALID_ARGUMENT),
          bb_code_name(BB_ERR_INTERNAL));
    check(strcmp(bb_code_name((bb_code)999), "BB_UNKNOWN_CODE") == 0 &&
              strcmp(bb_code_name((bb_code)15), "BB_UNKNOWN_CODE") == 0,
          "bb_code_name((bb_code)999) and (bb_code)15 are \"BB_UNKNOWN_CODE\"",
          "got \"%s\" and \"%s\"", bb_code_name((bb_code)999), bb_code_name((bb_code)15));
    check(bb_error_code(NULL) == BB_OK && bb_error_http_status(NULL) == 0 &&
              strcmp(bb_error_message(NULL), "") == 0,
          "bb_error_code/http_status/message accept NULL", "got %d, %d, \"%s\"",
          (int)bb_error_code(NULL), bb_error_http_status(NULL), bb_error_message(NULL));
    bb_error_free(NULL);
    bb_client_free(NULL);
    bb_client_builder_free(NULL);
    bb_buffer_free(NULL, 0);
    check(1, "bb_error_free(NULL), bb_client_free(NULL), bb_client_builder_free(NULL), "
             "bb_buffer_free(NULL, 0) are harmless", "");
}

/* Every call here passes a bad argument: each must fail with
 * BB_ERR_INVALID_ARGUMENT naming the argument, with HTTP status 0, without
 * sending a request and without creating a file. */
static void test_invalid_arguments(void) {
    long requests_before = request_count();
    bb_error *err = NULL;
    bb_code rc;
    const char *path;
    uint8_t *data = NULL;
    size_t len = 0;
    struct collector col;
    memset(&col, 0, sizeof col);

#define EXPECT_INVALID(what, call, name)                                                     \
    do {                                                                                     \
        err = NULL;                                                                          \
        rc = (call);                                                                         \
        expect_failure(what, rc, err, BB_ERR_INVALID_ARGUMENT, 0, name, NULL);               \
    } while (0)

#define EXPECT_NO_FILE(what, p)                                                              \
    do {                                                                                     \
        const char *left = leftover_temp_file();                                             \
        check(!file_exists(p) && left == NULL, what, "%s exists: %s; leftover temp file %s", \
              p, file_exists(p) ? "yes" : "no", left ? left : "none");                       \
    } while (0)

    /* The file variant. */
    path = scratch("invalid-null-id.zip");
    EXPECT_INVALID("NULL session_id -> BB_ERR_INVALID_ARGUMENT naming session_id",
                   bb_download_session(NULL, NULL, path, &err), "session_id");
    EXPECT_NO_FILE("NULL session_id creates no file", path);

    path = scratch("invalid-empty-id.zip");
    EXPECT_INVALID("empty session_id -> BB_ERR_INVALID_ARGUMENT naming session_id",
                   bb_download_session(NULL, "", path, &err), "session_id");
    EXPECT_NO_FILE("empty session_id creates no file", path);

    path = scratch("invalid-newline-id.zip");
    EXPECT_INVALID("session_id with \\n -> BB_ERR_INVALID_ARGUMENT naming session_id",
                   bb_download_session(NULL, DEMO_SESSION "\nX-Evil: 1", path, &err),
                   "session_id");
    EXPECT_NO_FILE("session_id with \\n creates no file", path);

    path = scratch("invalid-dotdot-id.zip");
    EXPECT_INVALID("session_id \"..\" -> BB_ERR_INVALID_ARGUMENT naming session_id",
                   bb_download_session(NULL, "..", path, &err), "session_id");
    EXPECT_NO_FILE("session_id \"..\" creates no file", path);

    path = scratch("invalid-utf8-id.zip");
    EXPECT_INVALID("session_id not UTF-8 -> BB_ERR_INVALID_ARGUMENT naming session_id",
                   bb_download_session(NULL, "abc\xff\xfe", path, &err), "session_id");
    EXPECT_NO_FILE("session_id not UTF-8 creates no file", path);

    {
        char long_id[2001];
        memset(long_id, 'a', sizeof long_id - 1);
        long_id[sizeof long_id - 1] = '\0';
        path = scratch("invalid-long-id.zip");
        EXPECT_INVALID("2000-byte session_id -> BB_ERR_INVALID_ARGUMENT naming session_id",
                       bb_download_session(NULL, long_id, path, &err), "session_id");
        EXPECT_NO_FILE("2000-byte session_id creates no file", path);
    }

    path = scratch("invalid-crlf-key.zip");
    err = NULL;
    rc = bb_download_session(TEST_KEY "\r\nX-Evil: 1", DEMO_SESSION, path, &err);
    expect_failure("api_key with \\r\\nX-Evil: 1 -> BB_ERR_INVALID_ARGUMENT naming api_key, "
                   "not echoing the key",
                   rc, err, BB_ERR_INVALID_ARGUMENT, 0, "api_key", "X-Evil");
    EXPECT_NO_FILE("api_key with CR LF creates no file", path);

    path = scratch("invalid-empty-key.zip");
    EXPECT_INVALID("empty api_key -> BB_ERR_INVALID_ARGUMENT naming api_key",
                   bb_download_session("", DEMO_SESSION, path, &err), "api_key");
    EXPECT_NO_FILE("empty api_key creates no file", path);

    path = scratch("invalid-space-key.zip");
    err = NULL;
    rc = bb_download_session("bb test key", DEMO_SESSION, path, &err);
    expect_failure("api_key with a space -> BB_ERR_INVALID_ARGUMENT naming api_key, "
                   "not echoing the key",
                   rc, err, BB_ERR_INVALID_ARGUMENT, 0, "api_key", "bb test key");
    EXPECT_NO_FILE("api_key with a space creates no file", path);

    path = scratch("invalid-nonascii-key.zip");
    EXPECT_INVALID("api_key with non-ASCII -> BB_ERR_INVALID_ARGUMENT naming api_key",
                   bb_download_session("cl\xc3\xa9", DEMO_SESSION, path, &err), "api_key");
    EXPECT_NO_FILE("api_key with non-ASCII creates no file", path);

    /* api_key NULL and BROWSERBASE_API_KEY unset: the variable is named.
     * (No other thread calls into the library while the variable is unset.) */
    {
        const char *saved = getenv("BROWSERBASE_API_KEY");
        char *copy = saved ? strdup(saved) : NULL;
        unsetenv("BROWSERBASE_API_KEY");
        path = scratch("invalid-no-key.zip");
        EXPECT_INVALID("api_key NULL without BROWSERBASE_API_KEY -> BB_ERR_INVALID_ARGUMENT "
                       "naming BROWSERBASE_API_KEY",
                       bb_download_session(NULL, DEMO_SESSION, path, &err),
                       "BROWSERBASE_API_KEY");
        EXPECT_NO_FILE("api_key NULL without BROWSERBASE_API_KEY creates no file", path);
        if (copy) {
            setenv("BROWSERBASE_API_KEY", copy, 1);
            free(copy);
        }
    }

    EXPECT_INVALID("NULL path -> BB_ERR_INVALID_ARGUMENT naming path",
                   bb_download_session(NULL, DEMO_SESSION, NULL, &err), "path");
    EXPECT_INVALID("empty path -> BB_ERR_INVALID_ARGUMENT naming path",
                   bb_download_session(NULL, DEMO_SESSION, "", &err), "path");
    {
        const char *left = leftover_temp_file();
        check(left == NULL, "NULL and empty paths leave no temporary file", "found %s",
              left ? left : "");
    }

    /* err NULL: the code is still returned, nothing is written anywhere. */
    rc = bb_download_session(NULL, NULL, scratch("invalid-err-null.zip"), NULL);
    check(rc == BB_ERR_INVALID_ARGUMENT, "err NULL on a failing call: the code is returned",
          "returned %s", name_of(rc));

    /* The buffer variant. */
    len = 7;
    EXPECT_INVALID("NULL out_data -> BB_ERR_INVALID_ARGUMENT naming out_data",
                   bb_download_session_to_buffer(NULL, DEMO_SESSION, NULL, &len, &err),
                   "out_data");
    check(len == 7, "NULL out_data leaves out_len alone", "out_len is %zu", len);
    data = NULL;
    EXPECT_INVALID("NULL out_len -> BB_ERR_INVALID_ARGUMENT naming out_len",
                   bb_download_session_to_buffer(NULL, DEMO_SESSION, &data, NULL, &err),
                   "out_len");
    check(data == NULL, "NULL out_len leaves out_data alone", "out_data is %p", (void *)data);
    EXPECT_INVALID("buffer variant, NULL session_id -> naming session_id",
                   bb_download_session_to_buffer(NULL, NULL, &data, &len, &err), "session_id");
    EXPECT_INVALID("buffer variant, empty api_key -> naming api_key",
                   bb_download_session_to_buffer("", DEMO_SESSION, &data, &len, &err),
                   "api_key");

    /* The callback variant. */
    EXPECT_INVALID("NULL callback -> BB_ERR_INVALID_ARGUMENT naming write",
                   bb_download_session_to_callback(NULL, DEMO_SESSION, NULL, &col, &err),
                   "write");
    EXPECT_INVALID("callback variant, session_id with \\r -> naming session_id",
                   bb_download_session_to_callback(NULL, "a\rb", collect, &col, &err),
                   "session_id");
    check(col.calls == 0, "a refused callback download never calls the callback",
          "called %d times", col.calls);

    /* The client variants. */
    path = scratch("invalid-null-client.zip");
    EXPECT_INVALID("bb_client_download(NULL client) -> naming client",
                   bb_client_download(NULL, NULL, DEMO_SESSION, path, &err), "client");
    EXPECT_NO_FILE("NULL client creates no file", path);
    EXPECT_INVALID("bb_client_download_to_buffer(NULL client) -> naming client",
                   bb_client_download_to_buffer(NULL, NULL, DEMO_SESSION, &data, &len, &err),
                   "client");
    EXPECT_INVALID("bb_client_download_to_callback(NULL client) -> naming client",
                   bb_client_download_to_callback(NULL, NULL, DEMO_SESSION, collect, &col, &err),
                   "client");

    /* Builders and clients. */
    EXPECT_INVALID("bb_client_builder_set_base_url(NULL builder) -> naming builder",
                   bb_client_builder_set_base_url(NULL, base_url, &err), "builder");
    EXPECT_INVALID("bb_client_builder_set_resume(NULL builder) -> naming builder",
                   bb_client_builder_set_resume(NULL, 0, &err), "builder");
    EXPECT_INVALID("bb_client_builder_load_env(NULL builder) -> naming builder",
                   bb_client_builder_load_env(NULL, &err), "builder");
    {
        bb_client_builder *b = bb_client_builder_new();
        check(b != NULL, "bb_client_builder_new() returns a builder", "NULL");
        EXPECT_INVALID("set_base_url http://example.com (plain http, not loopback) -> naming "
                       "base_url",
                       bb_client_builder_set_base_url(b, "http://example.com", &err), "base_url");
        EXPECT_INVALID("set_base_url \"not a url\" -> naming base_url",
                       bb_client_builder_set_base_url(b, "not a url", &err), "base_url");
        EXPECT_INVALID("set_base_url with credentials -> naming base_url",
                       bb_client_builder_set_base_url(b, "https://u:p@example.com", &err),
                       "base_url");
        EXPECT_INVALID("set_base_url NULL -> naming url",
                       bb_client_builder_set_base_url(b, NULL, &err), "url");
        EXPECT_INVALID("set_api_key with \\n -> naming api_key",
                       bb_client_builder_set_api_key(b, "k\ney", &err), "api_key");
        EXPECT_INVALID("set_connect_timeout_ms 0 -> naming connect_timeout",
                       bb_client_builder_set_connect_timeout_ms(b, 0, &err), "connect_timeout");
        EXPECT_INVALID("set_timeout_ms 0 -> naming timeout",
                       bb_client_builder_set_timeout_ms(b, 0, &err), "timeout");
        EXPECT_INVALID("set_max_retries 101 -> naming max_retries",
                       bb_client_builder_set_max_retries(b, 101, &err), "max_retries");
        EXPECT_INVALID("set_user_agent_suffix with CR LF -> naming user_agent_suffix",
                       bb_client_builder_set_user_agent_suffix(b, "x\r\nX-Evil: 1", &err),
                       "user_agent_suffix");
        EXPECT_INVALID("set_proxy ftp:// -> naming proxy",
                       bb_client_builder_set_proxy(b, "ftp://127.0.0.1:21", &err), "proxy");
        err = NULL;
        rc = bb_client_builder_add_ca_file(b, scratch("no-such-ca.pem"), &err);
        expect_failure("add_ca_file of a missing file -> BB_ERR_IO", rc, err, BB_ERR_IO, 0,
                       "No such file or directory", NULL);
        {
            const char *not_pem = scratch("not-a-ca.pem");
            write_file(not_pem, "hello\n", 6);
            EXPECT_INVALID("add_ca_file of a file without certificates -> BB_ERR_INVALID_ARGUMENT",
                           bb_client_builder_add_ca_file(b, not_pem, &err), "CA file");
            remove(not_pem);
        }
        /* An unparsable BROWSERBASE_* variable: load_env fails naming it. */
        setenv("BROWSERBASE_TIMEOUT_MS", "soon", 1);
        EXPECT_INVALID("load_env with BROWSERBASE_TIMEOUT_MS=soon -> naming the variable",
                       bb_client_builder_load_env(b, &err), "BROWSERBASE_TIMEOUT_MS");
        unsetenv("BROWSERBASE_TIMEOUT_MS");
        EXPECT_INVALID("bb_client_new with out NULL -> naming out",
                       bb_client_new(b, NULL, &err), "out");
        bb_client_builder_free(b);
    }

    long requests_after = request_count();
    check(requests_after == requests_before, "no bad-argument call sent a request",
          "the server received %ld requests", requests_after - requests_before);
#undef EXPECT_INVALID
#undef EXPECT_NO_FILE
}

/* The demo archive, downloaded to a buffer by test_demo_session; compared
 * against by later checks. */
static uint8_t *demo_zip;
static size_t demo_len;

static void test_demo_session(void) {
    const char *path = scratch("demo.zip");
    bb_error *err = NULL;
    bb_code rc = bb_download_session(NULL, DEMO_SESSION, path, &err);
    expect_ok("demo session to a file: BB_OK", rc, err);
    size_t file_len = 0;
    uint8_t *file = read_file(path, &file_len);
    check(file != NULL && file_len > 4 && memcmp(file, "PK\x03\x04", 4) == 0,
          "the file starts with PK\\x03\\x04", "read %s: %s, %zu bytes", path,
          file ? "ok" : strerror(errno), file_len);
    const char *left = leftover_temp_file();
    check(left == NULL, "no temporary file remains after a successful download", "found %s",
          left ? left : "");

    uint8_t *data = NULL;
    size_t len = 0;
    err = NULL;
    rc = bb_download_session_to_buffer(NULL, DEMO_SESSION, &data, &len, &err);
    expect_ok("demo session to a buffer: BB_OK", rc, err);
    check(rc == BB_OK && file != NULL && len == file_len && memcmp(data, file, len) == 0,
          "the buffer's bytes are identical to the file's", "buffer %zu bytes, file %zu bytes",
          len, file_len);
    if (rc == BB_OK) {
        demo_zip = xmalloc(len);
        memcpy(demo_zip, data, len);
        demo_len = len;
    } else if (file) {
        demo_zip = xmalloc(file_len);
        memcpy(demo_zip, file, file_len);
        demo_len = file_len;
    }
    bb_buffer_free(data, len);
    free(file);

    /* With the key passed explicitly instead of read from the environment. */
    data = NULL;
    err = NULL;
    rc = bb_download_session_to_buffer(TEST_KEY, DEMO_SESSION, &data, &len, &err);
    expect_ok("demo session with an explicit api_key: BB_OK", rc, err);
    check(rc == BB_OK && len == demo_len && memcmp(data, demo_zip, len) == 0,
          "explicit api_key: same bytes", "%zu bytes", len);
    bb_buffer_free(data, len);

    /* An existing file is replaced. */
    write_file(path, "old", 3);
    err = NULL;
    rc = bb_download_session(NULL, DEMO_SESSION, path, &err);
    expect_ok("download over an existing file: BB_OK", rc, err);
    check(file_equals(path, demo_zip, demo_len), "the existing file was replaced by the archive",
          "%s does not hold the %zu archive bytes", path, demo_len);

    /* Callbacks. */
    struct collector col;
    memset(&col, 0, sizeof col);
    err = NULL;
    rc = bb_download_session_to_callback(NULL, DEMO_SESSION, collect, &col, &err);
    expect_ok("demo session to a callback: BB_OK", rc, err);
    check(col.len == demo_len && demo_zip && memcmp(col.data, demo_zip, demo_len) == 0,
          "the concatenated chunks are identical to the buffer",
          "%zu bytes in %d chunks, buffer %zu bytes", col.len, col.calls, demo_len);
    check(!col.bad_pointer, "every chunk has data and a non-zero length",
          "a chunk was NULL or empty");
    free(col.data);

    memset(&col, 0, sizeof col);
    col.cancel_after = 1;
    long before = request_count();
    err = NULL;
    rc = bb_download_session_to_callback(NULL, DEMO_SESSION, collect, &col, &err);
    expect_failure("a callback returning non-zero -> BB_ERR_CANCELLED", rc, err, BB_ERR_CANCELLED,
                   0, NULL, NULL);
    check(col.calls == 1, "after cancelling, the callback is not called again",
          "called %d times", col.calls);
    check(request_count() - before == 1, "a cancelled download is not retried",
          "%ld requests", request_count() - before);
    free(col.data);
}

static void test_empty_session(void) {
    uint8_t *data = NULL;
    size_t len = 0;
    bb_error *err = NULL;
    bb_code rc = bb_download_session_to_buffer(NULL, EMPTY_SESSION, &data, &len, &err);
    expect_ok("empty session to a buffer: BB_OK", rc, err);
    check(len == 22 && memcmp(data, EMPTY_ZIP, 22) == 0,
          "the buffer is exactly the 22-byte empty archive", "%zu bytes", len);
    bb_buffer_free(data, len);

    const char *path = scratch("empty.zip");
    err = NULL;
    rc = bb_download_session(NULL, EMPTY_SESSION, path, &err);
    expect_ok("empty session to a file: BB_OK", rc, err);
    check(file_equals(path, EMPTY_ZIP, 22), "the file is exactly the 22-byte empty archive",
          "content differs");

    struct collector col;
    memset(&col, 0, sizeof col);
    err = NULL;
    rc = bb_download_session_to_callback(NULL, EMPTY_SESSION, collect, &col, &err);
    expect_ok("empty session to a callback: BB_OK", rc, err);
    check(col.len == 22 && memcmp(col.data, EMPTY_ZIP, 22) == 0,
          "the callback got exactly the 22-byte empty archive", "%zu bytes", col.len);
    free(col.data);
}

static void test_http_errors(void) {
    bb_error *err = NULL;
    bb_code rc = bb_download_session(NULL, UNKNOWN_SESSION, scratch("unknown.zip"), &err);
    expect_failure("unknown session -> BB_ERR_NOT_FOUND, HTTP 404, \"Session not found\"", rc,
                   err, BB_ERR_NOT_FOUND, 404, "Session not found", NULL);
    check(!file_exists(scratch("unknown.zip")), "a 404 creates no file", "the file exists");

    uint8_t *data = NULL;
    size_t len = 0;
    err = NULL;
    rc = bb_download_session_to_buffer("wrong", DEMO_SESSION, &data, &len, &err);
    expect_failure("wrong key -> BB_ERR_AUTHENTICATION, HTTP 401, message without the key", rc,
                   err, BB_ERR_AUTHENTICATION, 401, "401", "wrong");

    long before = request_count();
    err = NULL;
    rc = bb_download_session_to_buffer(NULL, UNKNOWN_SESSION, &data, &len, &err);
    bb_error_free(err);
    check(rc == BB_ERR_NOT_FOUND && request_count() - before == 1, "a 404 is not retried",
          "%s after %ld requests", name_of(rc), request_count() - before);

    /* A session id with characters that mean something in a URL stays one
     * path segment: the server sees an unknown session, not another path.
     * (The harness checks the request target in the server's log.) */
    err = NULL;
    rc = bb_download_session_to_buffer(NULL, "a/b?c#d %", &data, &len, &err);
    expect_failure("session id \"a/b?c#d %\" -> BB_ERR_NOT_FOUND (stays one path segment)", rc,
                   err, BB_ERR_NOT_FOUND, 404, "Session not found", NULL);
}

static void test_outputs_only_on_success(void) {
    static uint8_t sentinel_byte = 0xAA;
    uint8_t *data = &sentinel_byte;
    size_t len = 12345;
    bb_error *err = NULL;
    bb_code rc = bb_download_session_to_buffer(NULL, UNKNOWN_SESSION, &data, &len, &err);
    bb_error_free(err);
    check(rc == BB_ERR_NOT_FOUND && data == &sentinel_byte && len == 12345,
          "a failed buffer download leaves out_data and out_len unchanged",
          "%s, out_data %s, out_len %zu", name_of(rc),
          data == &sentinel_byte ? "unchanged" : "changed", len);

    rc = bb_download_session_to_buffer(NULL, DEMO_SESSION, &data, &len, NULL);
    check(rc == BB_OK && data != &sentinel_byte && len == demo_len,
          "err NULL on a successful call works", "%s, %zu bytes", name_of(rc), len);
    if (rc == BB_OK) bb_buffer_free(data, len);

    bb_error *untouched = (bb_error *)&sentinel_byte;
    err = untouched;
    data = NULL;
    rc = bb_download_session_to_buffer(NULL, DEMO_SESSION, &data, &len, &err);
    check(rc == BB_OK && err == untouched, "*err is not written on success", "%s, err %s",
          name_of(rc), err == untouched ? "unchanged" : "changed");
    if (rc == BB_OK) bb_buffer_free(data, len);

    /* bb_client_new: *out stays as it was when the call fails (here: an
     * unparsable BROWSERBASE_* variable for a client from the environment). */
    bb_client *client = (bb_client *)&sentinel_byte;
    setenv("BROWSERBASE_TIMEOUT_MS", "soon", 1);
    err = NULL;
    rc = bb_client_new(NULL, &client, &err);
    unsetenv("BROWSERBASE_TIMEOUT_MS");
    expect_failure("bb_client_new from a bad environment -> BB_ERR_INVALID_ARGUMENT", rc, err,
                   BB_ERR_INVALID_ARGUMENT, 0, "BROWSERBASE_TIMEOUT_MS", NULL);
    check(client == (bb_client *)&sentinel_byte, "a failed bb_client_new leaves *out unchanged",
          "*out changed");

    /* *err already set on entry (the header's rule, as GLib's): a failure
     * leaves the earlier error as it was (not overwritten, not leaked: the
     * valgrind run checks that) and is reported by the code alone. */
    bb_error *first = NULL;
    rc = bb_download_session(NULL, UNKNOWN_SESSION, scratch("unused.zip"), &first);
    check(rc == BB_ERR_NOT_FOUND && first != NULL, "a failure sets *err", "%s", name_of(rc));
    err = first;
    rc = bb_download_session_to_buffer(NULL, NULL, &data, &len, &err);
    check(rc == BB_ERR_INVALID_ARGUMENT && err == first && bb_error_code(err) == BB_ERR_NOT_FOUND,
          "a failure with *err already set returns its code and leaves *err alone",
          "%s, err %s, its code %s", name_of(rc), err == first ? "unchanged" : "replaced",
          name_of(bb_error_code(err)));
    rc = bb_client_new(NULL, NULL, &err);
    check(rc == BB_ERR_INVALID_ARGUMENT && err == first && bb_error_code(err) == BB_ERR_NOT_FOUND,
          "the rule holds for every function (bb_client_new)", "%s, err %s", name_of(rc),
          err == first ? "unchanged" : "replaced");
    bb_error_free(err);
}

static void test_failure_keeps_existing_file(void) {
    const char *path = scratch("keep.zip");
    write_file(path, "old", 3);
    bb_error *err = NULL;
    bb_code rc = bb_download_session(NULL, UNKNOWN_SESSION, path, &err);
    expect_failure("unknown session over an existing file -> BB_ERR_NOT_FOUND", rc, err,
                   BB_ERR_NOT_FOUND, 404, NULL, NULL);
    check(file_equals(path, "old", 3), "the existing file still holds \"old\"", "it changed");
    const char *left = leftover_temp_file();
    check(left == NULL, "no .*.bbpart temporary file remains", "found %s", left ? left : "");

    err = NULL;
    rc = bb_download_session("wrong", DEMO_SESSION, path, &err);
    expect_failure("wrong key over an existing file -> BB_ERR_AUTHENTICATION", rc, err,
                   BB_ERR_AUTHENTICATION, 401, NULL, NULL);
    check(file_equals(path, "old", 3), "after a 401 the existing file still holds \"old\"",
          "it changed");
}

static void test_io_errors(void) {
    bb_error *err = NULL;
    bb_code rc = bb_download_session(NULL, DEMO_SESSION, scratch("no-such-dir/out.zip"), &err);
    expect_failure("path in a missing directory -> BB_ERR_IO with the OS reason", rc, err,
                   BB_ERR_IO, 0, "No such file or directory", NULL);

    const char *dir = scratch("a-directory");
    mkdir(dir, 0777);
    err = NULL;
    rc = bb_download_session(NULL, DEMO_SESSION, dir, &err);
    expect_failure("path that is a directory -> BB_ERR_IO", rc, err, BB_ERR_IO, 0, NULL, NULL);
    struct stat st;
    check(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "the directory is still a directory",
          "it is gone or changed");
    const char *left = leftover_temp_file();
    check(left == NULL, "no temporary file remains after an I/O error", "found %s",
          left ? left : "");

    /* A read-only directory (skipped when running as root, who may write anyway). */
    if (geteuid() != 0) {
        const char *ro = scratch("read-only");
        mkdir(ro, 0555);
        char p[4096];
        snprintf(p, sizeof p, "%s/out.zip", ro);
        err = NULL;
        rc = bb_download_session(NULL, DEMO_SESSION, p, &err);
        expect_failure("path in a read-only directory -> BB_ERR_IO (Permission denied)", rc, err,
                       BB_ERR_IO, 0, "Permission denied", NULL);
        chmod(ro, 0755);
    } else {
        printf("# skipped the read-only directory check: running as root\n");
    }

    /* Non-UTF-8 file names are fine. */
    const char *odd = scratch("caf\xe9-\xff.zip");
    err = NULL;
    rc = bb_download_session(NULL, DEMO_SESSION, odd, &err);
    expect_ok("a non-UTF-8 file name: BB_OK", rc, err);
    check(file_equals(odd, demo_zip, demo_len), "the non-UTF-8 file holds the archive",
          "it does not");

    /* A relative path is relative to the current directory. */
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && chdir(test_dir) == 0) {
        err = NULL;
        rc = bb_download_session(NULL, DEMO_SESSION, "relative.zip", &err);
        expect_ok("a bare relative file name: BB_OK", rc, err);
        if (chdir(cwd) != 0) die("cannot go back to %s", cwd);
        check(file_equals(scratch("relative.zip"), demo_zip, demo_len),
              "the relative path landed in the current directory", "it did not");
    }
}

static void test_client_handle(void) {
    bb_error *err = NULL;
    bb_client_builder *b = bb_client_builder_new();
    check(b != NULL, "bb_client_builder_new() is not NULL", "NULL");
    int ok = 1;
    bb_code rc;
#define SET(call)                                                                            \
    do {                                                                                     \
        err = NULL;                                                                          \
        rc = (call);                                                                         \
        if (rc != BB_OK) {                                                                   \
            printf("# %s: %s %s\n", #call, name_of(rc), bb_error_message(err));              \
            ok = 0;                                                                          \
        }                                                                                    \
        bb_error_free(err);                                                                  \
    } while (0)
    SET(bb_client_builder_set_base_url(b, base_url, &err));
    SET(bb_client_builder_set_api_key(b, TEST_KEY, &err));
    SET(bb_client_builder_set_user_agent_suffix(b, "c-test/1", &err));
    SET(bb_client_builder_set_connect_timeout_ms(b, 2000, &err));
    SET(bb_client_builder_set_timeout_ms(b, 10000, &err));
    SET(bb_client_builder_set_deadline_ms(b, 60000, &err));
    SET(bb_client_builder_set_max_retries(b, 1, &err));
    SET(bb_client_builder_set_fsync(b, 1, &err));
    SET(bb_client_builder_set_resume(b, 1, &err));
    SET(bb_client_builder_set_proxy(b, NULL, &err));
    check(ok, "the builder setters accept good values", "see the lines above");

    bb_client *client = NULL;
    err = NULL;
    rc = bb_client_new(b, &client, &err);
    expect_ok("bb_client_new from the builder: BB_OK", rc, err);
    check(client != NULL, "bb_client_new wrote the client", "NULL");

    /* The builder may go away; the client keeps its settings. And a second
     * client from a changed builder does not affect the first. */
    err = NULL;
    rc = bb_client_builder_set_base_url(b, "http://example.com", &err);
    expect_failure("set_base_url \"http://example.com\" -> BB_ERR_INVALID_ARGUMENT", rc, err,
                   BB_ERR_INVALID_ARGUMENT, 0, "base_url", NULL);
    bb_client_builder_free(b);

    unsetenv("BROWSERBASE_API_KEY"); /* the client's own key must be used */
    const char *path = scratch("client.zip");
    err = NULL;
    rc = bb_client_download(client, NULL, DEMO_SESSION, path, &err);
    expect_ok("bb_client_download with api_key NULL (the client's key): BB_OK", rc, err);
    check(file_equals(path, demo_zip, demo_len), "the client's file is the demo archive",
          "it is not");

    uint8_t *data = NULL;
    size_t len = 0;
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &data, &len, &err);
    expect_ok("bb_client_download_to_buffer: BB_OK", rc, err);
    check(rc == BB_OK && len == demo_len && memcmp(data, demo_zip, len) == 0,
          "bb_client_download_to_buffer: the demo archive", "%zu bytes", len);
    if (rc == BB_OK) bb_buffer_free(data, len);

    struct collector col;
    memset(&col, 0, sizeof col);
    err = NULL;
    rc = bb_client_download_to_callback(client, NULL, DEMO_SESSION, collect, &col, &err);
    expect_ok("bb_client_download_to_callback: BB_OK", rc, err);
    check(col.len == demo_len && memcmp(col.data, demo_zip, demo_len) == 0,
          "bb_client_download_to_callback: the demo archive", "%zu bytes", col.len);
    free(col.data);

    err = NULL;
    rc = bb_client_download_to_buffer(client, "wrong", DEMO_SESSION, &data, &len, &err);
    expect_failure("bb_client_download_to_buffer with api_key \"wrong\" overrides the client's "
                   "key -> BB_ERR_AUTHENTICATION",
                   rc, err, BB_ERR_AUTHENTICATION, 401, NULL, "wrong");
    setenv("BROWSERBASE_API_KEY", TEST_KEY, 1);
    bb_client_free(client);

    /* The archive size limit: the demo archive is more than 100 bytes. */
    b = bb_client_builder_new();
    SET(bb_client_builder_set_base_url(b, base_url, &err));
    SET(bb_client_builder_set_max_archive_bytes(b, 100, &err));
    check(ok, "bb_client_builder_set_max_archive_bytes accepts 100", "see above");
    client = NULL;
    err = NULL;
    rc = bb_client_new(b, &client, &err);
    expect_ok("a client with a 100-byte archive limit: BB_OK", rc, err);
    path = scratch("limited.zip");
    err = NULL;
    rc = bb_client_download(client, NULL, DEMO_SESSION, path, &err);
    expect_failure("an archive over the limit -> BB_ERR_HTTP", rc, err, BB_ERR_HTTP, 0,
                   "larger than the limit of 100 bytes", NULL);
    check(access(path, F_OK) != 0, "nothing written over the limit", "%s exists", path);
    data = NULL;
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &data, &len, &err);
    expect_failure("a buffer over the limit -> BB_ERR_HTTP", rc, err, BB_ERR_HTTP, 0,
                   "larger than the limit", NULL);
    bb_client_free(client);
    SET(bb_client_builder_set_max_archive_bytes(b, 0, &err));
    client = NULL;
    err = NULL;
    rc = bb_client_new(b, &client, &err);
    expect_ok("a client whose limit was set back to 0 (none): BB_OK", rc, err);
    err = NULL;
    rc = bb_client_download(client, NULL, DEMO_SESSION, path, &err);
    expect_ok("no limit: the demo archive downloads", rc, err);
    bb_client_builder_free(b);
    bb_client_free(client);

    /* A client from the environment (the free functions' settings). */
    client = NULL;
    err = NULL;
    rc = bb_client_new(NULL, &client, &err);
    expect_ok("bb_client_new(NULL, ...) from the environment: BB_OK", rc, err);
    data = NULL;
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, EMPTY_SESSION, &data, &len, &err);
    expect_ok("the environment's client downloads (base URL and key from the environment)", rc,
              err);
    check(rc == BB_OK && len == 22, "the environment's client: the empty archive", "%zu bytes",
          len);
    if (rc == BB_OK) bb_buffer_free(data, len);
    bb_client_free(client);

    /* load_env: the builder takes BROWSERBASE_BASE_URL from the environment. */
    b = bb_client_builder_new();
    err = NULL;
    rc = bb_client_builder_load_env(b, &err);
    expect_ok("bb_client_builder_load_env: BB_OK", rc, err);
    client = NULL;
    err = NULL;
    rc = bb_client_new(b, &client, &err);
    expect_ok("bb_client_new after load_env: BB_OK", rc, err);
    data = NULL;
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &data, &len, &err);
    expect_ok("a load_env client reaches the stand-in server", rc, err);
    if (rc == BB_OK) bb_buffer_free(data, len);
    bb_client_free(client);
    bb_client_builder_free(b);

    /* A client whose server is not there: connection refused, HTTP 0. */
    b = bb_client_builder_new();
    SET(bb_client_builder_set_base_url(b, "http://127.0.0.1:1", &err));
    SET(bb_client_builder_set_max_retries(b, 0, &err));
    client = NULL;
    err = NULL;
    rc = bb_client_new(b, &client, &err);
    bb_error_free(err);
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &data, &len, &err);
    expect_failure("nothing listening -> BB_ERR_CONNECTION, HTTP status 0", rc, err,
                   BB_ERR_CONNECTION, 0, "127.0.0.1:1", NULL);
    bb_client_free(client);
    bb_client_builder_free(b);
#undef SET
}

/* Makes a client for the fault checks: the stand-in server, `retries`
 * retries, a `timeout_ms` silence limit. */
static bb_client *fault_client(uint32_t retries, uint32_t timeout_ms) {
    bb_client_builder *b = bb_client_builder_new();
    bb_client *client = NULL;
    bb_error *err = NULL;
    if (bb_client_builder_set_base_url(b, base_url, &err) != BB_OK ||
        bb_client_builder_set_max_retries(b, retries, &err) != BB_OK ||
        bb_client_builder_set_timeout_ms(b, timeout_ms, &err) != BB_OK ||
        bb_client_new(b, &client, &err) != BB_OK)
        die("cannot make a client: %s", bb_error_message(err));
    bb_client_builder_free(b);
    return client;
}

static void test_faults(void) {
    /* A session with a 512 KiB file of incompressible bytes: several reads. */
    const char *session = "c-fault-session";
    size_t big_len = 512 * 1024;
    uint8_t *big = xmalloc(big_len);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < big_len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = (uint8_t)x;
    }
    char cpath[256];
    snprintf(cpath, sizeof cpath, "/_control/sessions/%s/files/noise.bin", session);
    control_ok("PUT", cpath, big, big_len);
    free(big);

    bb_client *client = fault_client(1, 10000);
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    bb_error *err = NULL;
    bb_code rc = bb_client_download_to_buffer(client, NULL, session, &ref, &ref_len, &err);
    expect_ok("a 512 KiB session to a buffer: BB_OK", rc, err);
    if (rc != BB_OK) {
        bb_client_free(client);
        return;
    }

    struct collector col;
    memset(&col, 0, sizeof col);
    err = NULL;
    rc = bb_client_download_to_callback(client, NULL, session, collect, &col, &err);
    expect_ok("a 512 KiB session to a callback: BB_OK", rc, err);
    check(col.len == ref_len && memcmp(col.data, ref, ref_len) == 0,
          "the callback's chunks, in order, are the buffer's bytes", "%zu bytes in %d chunks",
          col.len, col.calls);
    free(col.data);

    /* The body is cut on every attempt: the old file stays, no temp file. */
    const char *path = scratch("fault.zip");
    write_file(path, "old", 3);
    script(session, "cut 1000\ncut 1000");
    err = NULL;
    rc = bb_client_download(client, NULL, session, path, &err);
    expect_failure("body cut short on both attempts -> BB_ERR_CONNECTION", rc, err,
                   BB_ERR_CONNECTION, -1, "2 attempts", NULL);
    check(file_equals(path, "old", 3), "a cut body leaves the existing file untouched",
          "it changed");
    const char *left = leftover_temp_file();
    check(left == NULL, "a cut body leaves no temporary file", "found %s", left ? left : "");

    /* Cut once, then whole: the retry rewrites the file from the start. */
    script(session, "cut 100000");
    err = NULL;
    rc = bb_client_download(client, NULL, session, path, &err);
    expect_ok("body cut once, then retried: BB_OK", rc, err);
    check(file_equals(path, ref, ref_len), "after a retry the file is exactly the archive",
          "it is not");

    script(session, "chunked-cut 5000");
    err = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    expect_ok("chunked body cut once, then retried, to a buffer: BB_OK", rc, err);
    check(rc == BB_OK && len == ref_len && memcmp(data, ref, len) == 0,
          "after a retry the buffer is exactly the archive", "%zu bytes", len);
    if (rc == BB_OK) bb_buffer_free(data, len);

    /* A callback that already got bytes resumes where they stopped (the
     * stand-in offers ranges and an ETag): every byte is seen once. */
    memset(&col, 0, sizeof col);
    script(session, "cut 1000");
    long resumed_before = request_count();
    err = NULL;
    rc = bb_client_download_to_callback(client, NULL, session, collect, &col, &err);
    expect_ok("callback, body cut after delivery, resumed: BB_OK", rc, err);
    check(rc == BB_OK && col.len == ref_len && memcmp(col.data, ref, ref_len) == 0 &&
              request_count() - resumed_before == 2,
          "the resumed callback saw each byte once, in 2 requests", "%ld requests, %zu bytes",
          request_count() - resumed_before, col.len);
    free(col.data);

    /* Without ranges, a callback that already got bytes is not retried. */
    char ranges_path[256];
    snprintf(ranges_path, sizeof ranges_path, "/_control/sessions/%s/ranges", session);
    control_ok("POST", ranges_path, "off", 3);
    memset(&col, 0, sizeof col);
    script(session, "cut 1000");
    long before = request_count();
    err = NULL;
    rc = bb_client_download_to_callback(client, NULL, session, collect, &col, &err);
    expect_failure("callback, body cut after delivery -> BB_ERR_CONNECTION, not retried", rc,
                   err, BB_ERR_CONNECTION, -1, "not retried", NULL);
    check(request_count() - before == 1 && col.len <= 1000,
          "the callback saw one attempt, at most 1000 bytes", "%ld requests, %zu bytes",
          request_count() - before, col.len);
    free(col.data);
    control_ok("POST", ranges_path, "on", 2);

    /* Not a ZIP archive: refused before anything reaches the destination. */
    script(session, "html");
    err = NULL;
    rc = bb_client_download(client, NULL, session, path, &err);
    expect_failure("an HTML page instead of the archive -> BB_ERR_INVALID_ARCHIVE", rc, err,
                   BB_ERR_INVALID_ARCHIVE, -1, "not a ZIP archive", NULL);
    check(file_equals(path, ref, ref_len), "an HTML answer leaves the existing file untouched",
          "it changed");
    memset(&col, 0, sizeof col);
    script(session, "html");
    err = NULL;
    rc = bb_client_download_to_callback(client, NULL, session, collect, &col, &err);
    expect_failure("an HTML page to a callback -> BB_ERR_INVALID_ARCHIVE", rc, err,
                   BB_ERR_INVALID_ARCHIVE, -1, NULL, NULL);
    check(col.calls == 0, "the callback never sees an HTML page", "%d calls", col.calls);
    free(col.data);

    /* Starts like a ZIP archive but is truncated: caught at the end. */
    {
        const char *raw_session = "c-truncated-zip";
        char apath[256];
        snprintf(apath, sizeof apath, "/_control/sessions/%s/archive", raw_session);
        size_t cut = ref_len / 2;
        control_ok("PUT", apath, ref, cut);
        const char *tpath = scratch("truncated.zip");
        write_file(tpath, "old", 3);
        err = NULL;
        rc = bb_client_download(client, NULL, raw_session, tpath, &err);
        expect_failure("a truncated ZIP archive to a file -> BB_ERR_INVALID_ARCHIVE", rc, err,
                       BB_ERR_INVALID_ARCHIVE, -1, NULL, NULL);
        check(file_equals(tpath, "old", 3), "a truncated archive leaves the existing file alone",
              "it changed");
        left = leftover_temp_file();
        check(left == NULL, "a truncated archive leaves no temporary file", "found %s",
              left ? left : "");
        data = NULL;
        err = NULL;
        rc = bb_client_download_to_buffer(client, NULL, raw_session, &data, &len, &err);
        expect_failure("a truncated ZIP archive to a buffer -> BB_ERR_INVALID_ARCHIVE", rc, err,
                       BB_ERR_INVALID_ARCHIVE, -1, NULL, NULL);
    }

    /* Server errors: retried, then reported with the last status. */
    script(session, "status 503 | retry-after-ms: 1\nstatus 503 | retry-after-ms: 1");
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    expect_failure("503 on both attempts -> BB_ERR_SERVER, HTTP 503", rc, err, BB_ERR_SERVER, 503,
                   "2 attempts", NULL);
    script(session, "status 503 | retry-after-ms: 1");
    err = NULL;
    data = NULL;
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    expect_ok("503 once, then the archive: BB_OK", rc, err);
    if (rc == BB_OK) bb_buffer_free(data, len);
    script(session, "status 429 | retry-after-ms: 1\nstatus 429 | retry-after-ms: 1");
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    expect_failure("429 on both attempts -> BB_ERR_RATE_LIMITED, HTTP 429", rc, err,
                   BB_ERR_RATE_LIMITED, 429, NULL, NULL);
    script(session, "status 403");
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    expect_failure("403 -> BB_ERR_PERMISSION_DENIED, HTTP 403", rc, err,
                   BB_ERR_PERMISSION_DENIED, 403, NULL, NULL);
    script(session, "status 418");
    err = NULL;
    rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
    expect_failure("418 -> BB_ERR_HTTP, HTTP 418", rc, err, BB_ERR_HTTP, 418, NULL, NULL);

    /* Redirects: followed on the same origin, refused to plain http elsewhere. */
    {
        char steps[512];
        snprintf(steps, sizeof steps, "redirect %s/v1/sessions/%s/downloads", base_url,
                 DEMO_SESSION);
        script(session, steps);
        err = NULL;
        data = NULL;
        rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
        expect_ok("a redirect to the same origin is followed: BB_OK", rc, err);
        check(rc == BB_OK && len == demo_len && memcmp(data, demo_zip, len) == 0,
              "the redirect's target was downloaded", "%zu bytes", len);
        if (rc == BB_OK) bb_buffer_free(data, len);
        script(session, "redirect http://example.com/v1/sessions/x/downloads");
        err = NULL;
        rc = bb_client_download_to_buffer(client, NULL, session, &data, &len, &err);
        expect_failure("a redirect to plain http://example.com is refused -> BB_ERR_HTTP 302", rc,
                       err, BB_ERR_HTTP, 302, NULL, NULL);
    }

    /* Silence: the timeout fires, long before the server answers. */
    bb_client *impatient = fault_client(0, 300);
    script(session, "stall-headers 3000");
    double t0 = now_s();
    err = NULL;
    rc = bb_client_download_to_buffer(impatient, NULL, session, &data, &len, &err);
    double took = now_s() - t0;
    expect_failure("no response within the 300 ms timeout -> BB_ERR_TIMEOUT", rc, err,
                   BB_ERR_TIMEOUT, 0, NULL, NULL);
    check(took < 2.5, "the timeout fired in time", "took %.2f s", took);
    script(session, "stall-body 1000 3000");
    t0 = now_s();
    err = NULL;
    rc = bb_client_download_to_buffer(impatient, NULL, session, &data, &len, &err);
    took = now_s() - t0;
    expect_failure("the body stalls past the 300 ms timeout -> BB_ERR_TIMEOUT", rc, err,
                   BB_ERR_TIMEOUT, -1, NULL, NULL);
    check(took < 2.5, "the body timeout fired in time", "took %.2f s", took);
    bb_client_free(impatient);

    /* A deadline bounds the whole call, retries included. */
    {
        bb_client_builder *b = bb_client_builder_new();
        bb_client *bounded = NULL;
        err = NULL;
        if (bb_client_builder_set_base_url(b, base_url, &err) != BB_OK ||
            bb_client_builder_set_max_retries(b, 5, &err) != BB_OK ||
            bb_client_builder_set_deadline_ms(b, 700, &err) != BB_OK ||
            bb_client_new(b, &bounded, &err) != BB_OK)
            die("cannot make a client: %s", bb_error_message(err));
        bb_client_builder_free(b);
        script(session, "status 503 | Retry-After: 2\nstatus 503 | Retry-After: 2\n"
                        "status 503 | Retry-After: 2");
        t0 = now_s();
        err = NULL;
        rc = bb_client_download_to_buffer(bounded, NULL, session, &data, &len, &err);
        took = now_s() - t0;
        bb_code got_code = bb_error_code(err);
        check(rc != BB_OK && took < 1.5,
              "a 700 ms deadline stops retries that would wait 2 s each",
              "%s after %.2f s: %s", name_of(got_code), took, bb_error_message(err));
        bb_error_free(err);
        script(session, "");
        bb_client_free(bounded);
    }

    bb_buffer_free(ref, ref_len);
    bb_client_free(client);
}

/* 8 threads x 10 downloads through the default client. */
#define THREADS 8
#define PER_THREAD 10

struct worker {
    pthread_t thread;
    int failures;
    char first_failure[512];
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        bb_error *err = NULL;
        bb_code rc = bb_download_session_to_buffer(NULL, DEMO_SESSION, &data, &len, &err);
        if (rc != BB_OK || len != demo_len || memcmp(data, demo_zip, len) != 0) {
            if (w->failures++ == 0)
                snprintf(w->first_failure, sizeof w->first_failure, "%s (%zu bytes): %s",
                         name_of(rc), len, bb_error_message(err));
        }
        if (rc == BB_OK) bb_buffer_free(data, len);
        bb_error_free(err);
    }
    return NULL;
}

static void test_threads(void) {
    struct worker workers[THREADS];
    memset(workers, 0, sizeof workers);
    int started = 0;
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) == 0) started++;
    int failures = 0;
    const char *first = "";
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        if (workers[i].failures && !failures) first = workers[i].first_failure;
        failures += workers[i].failures;
    }
    check(started == THREADS && failures == 0,
          "8 threads x 10 downloads with the default client: all BB_OK and identical",
          "%d threads started, %d failures, first: %s", started, failures, first);
}

/* The default client is rebuilt in a forked child. */
static void test_fork(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        check(0, "fork", "%s", strerror(errno));
        return;
    }
    if (pid == 0) {
        alarm(30); /* a hang in the child fails the check instead of the run */
        uint8_t *data = NULL;
        size_t len = 0;
        bb_error *err = NULL;
        bb_code rc = bb_download_session_to_buffer(NULL, DEMO_SESSION, &data, &len, &err);
        int ok = rc == BB_OK && len == demo_len && memcmp(data, demo_zip, len) == 0;
        if (!ok) fprintf(stderr, "child: %s: %s\n", name_of(rc), bb_error_message(err));
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the default client works in a forked child", "child %s %d",
          WIFEXITED(status) ? "exited with" : "killed by signal",
          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int main(void) {
    base_url = getenv("BB_TEST_BASE_URL");
    test_dir = getenv("BB_TEST_DIR");
    const char *only = getenv("BB_TEST_ONLY");
    if (!base_url || !*base_url || !test_dir || !*test_dir)
        die("set BB_TEST_BASE_URL (a running bb-stand-in-server --demo) and BB_TEST_DIR");
    if (!getenv("BROWSERBASE_API_KEY")) die("set BROWSERBASE_API_KEY (bb_test_key)");
    /* The default client reads its settings when first used: set them first. */
    if (setenv("BROWSERBASE_BASE_URL", base_url, 1) != 0) die("setenv: %s", strerror(errno));

    if (only && strcmp(only, "invalid") == 0) {
        test_invalid_arguments();
    } else if (only && *only) {
        die("unknown BB_TEST_ONLY \"%s\" (known: invalid)", only);
    } else {
        test_version_and_names();
        test_invalid_arguments();
        test_demo_session();
        test_empty_session();
        test_http_errors();
        test_outputs_only_on_success();
        test_failure_keeps_existing_file();
        test_io_errors();
        test_client_handle();
        test_faults();
        test_threads();
        test_fork();
    }
    free(demo_zip);
    return tap_summary();
}
