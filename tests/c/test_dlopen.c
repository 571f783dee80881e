/*
 * test_dlopen: loads libbrowserbase with dlopen(), uses it (the process-wide
 * default client, kept for the life of the process, and a client of its
 * own), dlclose()s it, and does it all again, several times in one process.
 * Run by tests/process.rs (and under valgrind by tests/valgrind.rs).
 *
 *     test_dlopen /path/to/libbrowserbase.so.0
 *
 * Environment: BB_TEST_BASE_URL (a bb-stand-in-server --demo) and
 * BROWSERBASE_API_KEY; BB_TEST_LIBRARY names the library when no argument
 * does. Output: one "ok N - what" / "not ok N - what: details"
 * line per check, last "N passed, M failed"; exit status 1 if a check failed.
 *
 * The library is linked with -z nodelete: dlclose() leaves it mapped, so
 * nothing of it that may still run afterwards (a host name lookup's helper
 * thread, thread-local destructors, the default client kept for the life of
 * the process) runs code that was unmapped under it.
 */

#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "browserbase.h"
#include "tap.h"

#define DEMO_SESSION "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80"
#define CYCLES 5



/* The functions used, looked up with dlsym() after each dlopen(). */
struct api {
    const char *(*version)(void);
    const char *(*code_name)(bb_code);
    const char *(*error_message)(const bb_error *);
    void (*error_free)(bb_error *);
    bb_code (*download_to_buffer)(const char *, const char *, uint8_t **, size_t *, bb_error **);
    void (*buffer_free)(uint8_t *, size_t);
    bb_client_builder *(*builder_new)(void);
    bb_code (*builder_set_base_url)(bb_client_builder *, const char *, bb_error **);
    void (*builder_free)(bb_client_builder *);
    bb_code (*client_new)(const bb_client_builder *, bb_client **, bb_error **);
    bb_code (*client_download_to_buffer)(const bb_client *, const char *, const char *, uint8_t **,
                                         size_t *, bb_error **);
    void (*client_free)(bb_client *);
};

/* dlsym() into a function pointer without a cast between object and
 * function pointers, which ISO C does not define (POSIX does). */
static int lookup(void *lib, const char *name, void *fn_ptr_out) {
    void *sym = dlsym(lib, name);
    if (!sym) return 0;
    memcpy(fn_ptr_out, &sym, sizeof sym);
    return 1;
}

static int load_api(void *lib, struct api *a) {
    return lookup(lib, "bb_version", &a->version) && lookup(lib, "bb_code_name", &a->code_name) &&
           lookup(lib, "bb_error_message", &a->error_message) &&
           lookup(lib, "bb_error_free", &a->error_free) &&
           lookup(lib, "bb_download_session_to_buffer", &a->download_to_buffer) &&
           lookup(lib, "bb_buffer_free", &a->buffer_free) &&
           lookup(lib, "bb_client_builder_new", &a->builder_new) &&
           lookup(lib, "bb_client_builder_set_base_url", &a->builder_set_base_url) &&
           lookup(lib, "bb_client_builder_free", &a->builder_free) &&
           lookup(lib, "bb_client_new", &a->client_new) &&
           lookup(lib, "bb_client_download_to_buffer", &a->client_download_to_buffer) &&
           lookup(lib, "bb_client_free", &a->client_free);
}

/* A download through the default client and one through a new client;
 * both must return the same archive. */
static int use_library(const struct api *a, const char *base_url, char *why, size_t why_len) {
    uint8_t *one = NULL, *two = NULL;
    size_t one_len = 0, two_len = 0;
    bb_error *err = NULL;
    bb_code rc = a->download_to_buffer(NULL, DEMO_SESSION, &one, &one_len, &err);
    if (rc != BB_OK) {
        snprintf(why, why_len, "default client: %s: %s", a->code_name(rc), a->error_message(err));
        a->error_free(err);
        return 0;
    }
    bb_client_builder *b = a->builder_new();
    bb_client *client = NULL;
    rc = a->builder_set_base_url(b, base_url, &err);
    if (rc == BB_OK) rc = a->client_new(b, &client, &err);
    a->builder_free(b);
    if (rc == BB_OK) rc = a->client_download_to_buffer(client, NULL, DEMO_SESSION, &two, &two_len, &err);
    a->client_free(client);
    int ok = rc == BB_OK && one_len == two_len && memcmp(one, two, one_len) == 0 && one_len > 22;
    if (!ok)
        snprintf(why, why_len, "own client: %s: %s (%zu vs %zu bytes)", a->code_name(rc),
                 rc == BB_OK ? "" : a->error_message(err), one_len, two_len);
    if (rc != BB_OK) a->error_free(err);
    a->buffer_free(one, one_len);
    if (two) a->buffer_free(two, two_len);
    return ok;
}

int main(int argc, char **argv) {
    const char *base_url = getenv("BB_TEST_BASE_URL");
    const char *path = argc == 2 ? argv[1] : getenv("BB_TEST_LIBRARY");
    if (argc > 2 || !path || !*path || !base_url || !*base_url || !getenv("BROWSERBASE_API_KEY")) {
        fprintf(stderr, "usage: BB_TEST_BASE_URL=... BROWSERBASE_API_KEY=... test_dlopen LIB\n"
                        "   or: BB_TEST_LIBRARY=LIB ... test_dlopen\n");
        return 2;
    }
    /* The default client reads its settings when first used: set them first. */
    setenv("BROWSERBASE_BASE_URL", base_url, 1);

    int loads = 0, uses = 0, closes = 0, stays = 0;
    char why[512] = "", load_error[512] = "";
    for (int i = 0; i < CYCLES; i++) {
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        struct api a;
        if (!lib || !load_api(lib, &a)) {
            snprintf(load_error, sizeof load_error, "cycle %d: %s", i + 1, dlerror());
            break;
        }
        loads++;
        if (strcmp(a.version(), BB_VERSION_STRING) == 0 && use_library(&a, base_url, why, sizeof why))
            uses++;
        if (dlclose(lib) == 0) closes++;
        /* -z nodelete: still loaded (RTLD_NOLOAD finds it without loading). */
        void *again = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (again) {
            stays++;
            dlclose(again);
        }
        /* Give the default client's thread time to run after dlclose(). */
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    check(loads == CYCLES, "dlopen and dlsym succeed in every cycle", "%d of %d: %s", loads,
          CYCLES, load_error);
    check(uses == CYCLES,
          "every cycle downloads with the default client and its own client, same archive",
          "%d of %d: %s", uses, CYCLES, why);
    check(closes == CYCLES, "dlclose returns 0 in every cycle", "%d of %d", closes, CYCLES);
    check(stays == CYCLES, "the library stays mapped after dlclose (-z nodelete)", "%d of %d",
          stays, CYCLES);
    /* Still alive here, with the default client kept across every dlclose(). */
    check(1, "the process is alive after 5 dlopen/use/dlclose cycles", "");
    return tap_summary();
}
