/*
 * test_abi: the binary interface as a compiled program depends on it, so a
 * change that would break programs built against an older header fails here
 * even without libabigail (tests/abi.rs runs abidiff as well):
 *
 * - the value of every code, level and flag, and the size and offset of
 *   every field of every public struct (hard-coded for x86-64 LP64);
 * - the extensible-struct rule: bb_archive_entry_at writes nothing past the
 *   caller's struct_size, into a struct as an older header declared it
 *   (refused), as this header declares it, and as a newer header would
 *   (extra fields left alone), each followed by a guard canary and, for
 *   valgrind, also allocated to its exact size on the heap;
 * - bb_buffer_free with a wrong and a zero len frees the buffer (valgrind
 *   finds no leak or bad free; tests/valgrind.rs runs this program);
 * - the version macros agree with bb_version() and bb_version_number(),
 *   and the run-time check "loaded library >= compiled-against" works.
 *
 * Run by tests/abi.rs and tests/valgrind.rs. Environment as test_api.c:
 *   BB_TEST_BASE_URL     a bb-stand-in-server --demo
 *   BROWSERBASE_API_KEY  its key
 * Output: TAP-style lines, then "N passed, M failed"; exit 1 on a failure.
 */

#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browserbase.h"
#include "tap.h"

#define DEMO_SESSION "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80"
#define CANARY UINT64_C(0x5ca1ab1ec0ffee00)

static void test_values(void) {
    static const struct {
        const char *name;
        long got, want;
    } values[] = {
        {"BB_OK", BB_OK, 0},
        {"BB_ERR_INVALID_ARGUMENT", BB_ERR_INVALID_ARGUMENT, 1},
        {"BB_ERR_AUTHENTICATION", BB_ERR_AUTHENTICATION, 2},
        {"BB_ERR_PERMISSION_DENIED", BB_ERR_PERMISSION_DENIED, 3},
        {"BB_ERR_NOT_FOUND", BB_ERR_NOT_FOUND, 4},
        {"BB_ERR_RATE_LIMITED", BB_ERR_RATE_LIMITED, 5},
        {"BB_ERR_SERVER", BB_ERR_SERVER, 6},
        {"BB_ERR_HTTP", BB_ERR_HTTP, 7},
        {"BB_ERR_CONNECTION", BB_ERR_CONNECTION, 8},
        {"BB_ERR_TIMEOUT", BB_ERR_TIMEOUT, 9},
        {"BB_ERR_IO", BB_ERR_IO, 10},
        {"BB_ERR_INVALID_ARCHIVE", BB_ERR_INVALID_ARCHIVE, 11},
        {"BB_ERR_CANCELLED", BB_ERR_CANCELLED, 12},
        {"BB_ERR_NOT_READY", BB_ERR_NOT_READY, 13},
        {"BB_ERR_INTERNAL", BB_ERR_INTERNAL, 14},
        {"BB_LOG_OFF", BB_LOG_OFF, 0},
        {"BB_LOG_ERROR", BB_LOG_ERROR, 1},
        {"BB_LOG_WARN", BB_LOG_WARN, 2},
        {"BB_LOG_INFO", BB_LOG_INFO, 3},
        {"BB_LOG_DEBUG", BB_LOG_DEBUG, 4},
        {"BB_WAIT_DEFAULT", BB_WAIT_DEFAULT, 0},
        {"BB_WAIT_STABLE", BB_WAIT_STABLE, 1},
        {"sizeof(bb_code)", (long)sizeof(bb_code), 4},
        {"sizeof(bb_log_level)", (long)sizeof(bb_log_level), 4},
    };
    size_t i;
    for (i = 0; i < sizeof values / sizeof values[0]; i++)
        check(values[i].got == values[i].want, values[i].name, "is %ld, the ABI says %ld",
              values[i].got, values[i].want);
    /* And the library agrees on every code's name. */
    for (i = 0; i < 15; i++)
        check(strcmp(bb_code_name((bb_code)i), values[i].name) == 0, "bb_code_name agrees",
              "bb_code_name(%zu) is %s, the header says %s", i, bb_code_name((bb_code)i),
              values[i].name);
}

static void test_layout(void) {
#if defined(__x86_64__) && defined(__LP64__)
    static const struct {
        const char *name;
        size_t got, want;
    } layout[] = {
        {"sizeof(bb_archive_entry)", sizeof(bb_archive_entry), 48},
        {"offsetof(bb_archive_entry, struct_size)", offsetof(bb_archive_entry, struct_size), 0},
        {"offsetof(bb_archive_entry, name)", offsetof(bb_archive_entry, name), 8},
        {"offsetof(bb_archive_entry, original_name)", offsetof(bb_archive_entry, original_name),
         16},
        {"offsetof(bb_archive_entry, size)", offsetof(bb_archive_entry, size), 24},
        {"offsetof(bb_archive_entry, mtime_unix)", offsetof(bb_archive_entry, mtime_unix), 32},
        {"offsetof(bb_archive_entry, download_time_ms)",
         offsetof(bb_archive_entry, download_time_ms), 40},
        {"sizeof(bb_call_options)", sizeof(bb_call_options), 48},
        {"offsetof(bb_call_options, cancel)", offsetof(bb_call_options, cancel), 8},
        {"offsetof(bb_call_options, progress)", offsetof(bb_call_options, progress), 16},
        {"offsetof(bb_call_options, progress_user_data)",
         offsetof(bb_call_options, progress_user_data), 24},
        {"offsetof(bb_call_options, batch_progress)", offsetof(bb_call_options, batch_progress),
         32},
        {"offsetof(bb_call_options, batch_progress_user_data)",
         offsetof(bb_call_options, batch_progress_user_data), 40},
        {"sizeof(bb_batch_progress)", sizeof(bb_batch_progress), 88},
        {"offsetof(bb_batch_progress, code)", offsetof(bb_batch_progress, code), 44},
        {"offsetof(bb_batch_progress, batch_received)",
         offsetof(bb_batch_progress, batch_received), 80},
    };
    size_t i;
    for (i = 0; i < sizeof layout / sizeof layout[0]; i++)
        check(layout[i].got == layout[i].want, layout[i].name, "is %zu, the ABI says %zu",
              layout[i].got, layout[i].want);
    {
        bb_archive_entry init = BB_ARCHIVE_ENTRY_INIT;
        check(init.struct_size == 48 && init.name == NULL && init.size == 0,
              "BB_ARCHIVE_ENTRY_INIT sets struct_size to sizeof(bb_archive_entry)",
              "struct_size %zu", init.struct_size);
    }
    {
        bb_call_options init = BB_CALL_OPTIONS_INIT;
        check(init.struct_size == 48 && init.cancel == NULL && init.progress == NULL &&
                  init.progress_user_data == NULL && init.batch_progress == NULL &&
                  init.batch_progress_user_data == NULL,
              "BB_CALL_OPTIONS_INIT sets struct_size to sizeof(bb_call_options), the rest off",
              "struct_size %zu", init.struct_size);
    }
#else
    printf("# layout: the expected numbers are for x86-64 LP64; skipped here\n");
#endif
}

/* bb_archive_entry as a header before download_time_ms would declare it. */
struct entry_older {
    size_t struct_size;
    const char *name;
    const char *original_name;
    uint64_t size;
    int64_t mtime_unix;
};

/* bb_archive_entry as a later header might declare it: a field added. */
struct entry_newer {
    size_t struct_size;
    const char *name;
    const char *original_name;
    uint64_t size;
    int64_t mtime_unix;
    int64_t download_time_ms;
    uint64_t crc32_and_more;
};

static int all_canary(const uint64_t *guard, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (guard[i] != CANARY) return 0;
    return 1;
}

static void test_extensible_entry(const bb_archive *archive) {
    bb_error *err = NULL;
    bb_code rc;

    /* As this header declares it, a canary right behind. */
    {
        struct {
            bb_archive_entry e;
            uint64_t guard[4];
        } s;
        memset(&s, 0xAB, sizeof s);
        s.e.struct_size = sizeof s.e;
        s.guard[0] = s.guard[1] = s.guard[2] = s.guard[3] = CANARY;
        rc = bb_archive_entry_at(archive, 0, &s.e, &err);
        check(rc == BB_OK, "entry_at with struct_size = sizeof(bb_archive_entry): BB_OK", "%s: %s",
              bb_code_name(rc), bb_error_message(err));
        check(rc == BB_OK && s.e.struct_size == sizeof s.e && s.e.name != NULL &&
                  s.e.original_name != NULL && s.e.size > 0 && s.e.download_time_ms > 0,
              "every field is filled, struct_size kept", "struct_size %zu, size %llu",
              s.e.struct_size, (unsigned long long)s.e.size);
        check(all_canary(s.guard, 4), "nothing written past the struct", "");
        bb_error_free(err);
        err = NULL;
    }

    /* As an older, shorter declaration: refused, nothing written at all. */
    {
        struct {
            struct entry_older e;
            uint64_t guard[4];
        } s;
        unsigned char before[sizeof s.e];
        memset(&s, 0xAB, sizeof s);
        s.e.struct_size = sizeof s.e;
        s.guard[0] = s.guard[1] = s.guard[2] = s.guard[3] = CANARY;
        memcpy(before, &s.e, sizeof s.e);
        rc = bb_archive_entry_at(archive, 0, (bb_archive_entry *)(void *)&s.e, &err);
        check(rc == BB_ERR_INVALID_ARGUMENT,
              "a struct_size below the first version: BB_ERR_INVALID_ARGUMENT", "%s",
              bb_code_name(rc));
        check(err != NULL && strstr(bb_error_message(err), "struct_size") != NULL,
              "the message names struct_size", "%s", bb_error_message(err));
        check(memcmp(before, &s.e, sizeof s.e) == 0 && all_canary(s.guard, 4),
              "the shorter struct and the canary behind it are untouched", "");
        bb_error_free(err);
        err = NULL;
    }

    /* struct_size 0 (never set): refused. */
    {
        bb_archive_entry e;
        memset(&e, 0, sizeof e);
        rc = bb_archive_entry_at(archive, 0, &e, NULL);
        check(rc == BB_ERR_INVALID_ARGUMENT && e.name == NULL,
              "struct_size 0: BB_ERR_INVALID_ARGUMENT, nothing written", "%s", bb_code_name(rc));
    }

    /* As a newer, longer declaration: the known fields filled, the new one
     * and the canary behind left alone. */
    {
        struct {
            struct entry_newer e;
            uint64_t guard[4];
        } s;
        memset(&s, 0xAB, sizeof s);
        s.e.struct_size = sizeof s.e;
        s.e.crc32_and_more = CANARY;
        s.guard[0] = s.guard[1] = s.guard[2] = s.guard[3] = CANARY;
        rc = bb_archive_entry_at(archive, 0, (bb_archive_entry *)(void *)&s.e, &err);
        check(rc == BB_OK && s.e.struct_size == sizeof s.e && s.e.name != NULL && s.e.size > 0,
              "a newer, longer struct: BB_OK, the known fields filled", "%s",
              bb_code_name(rc));
        check(s.e.crc32_and_more == CANARY && all_canary(s.guard, 4),
              "a field the library does not know and the canary are untouched", "");
        bb_error_free(err);
        err = NULL;
    }

    /* The same on the heap, allocated to the exact size: valgrind reports any
     * write past the end. */
    {
        struct entry_older *older = malloc(sizeof *older);
        bb_archive_entry *exact = malloc(sizeof *exact);
        if (older == NULL || exact == NULL) {
            check(0, "malloc", "out of memory");
            free(older);
            free(exact);
            return;
        }
        older->struct_size = sizeof *older;
        rc = bb_archive_entry_at(archive, 1, (bb_archive_entry *)(void *)older, NULL);
        check(rc == BB_ERR_INVALID_ARGUMENT, "heap: an older struct is refused", "%s",
              bb_code_name(rc));
        exact->struct_size = sizeof *exact;
        rc = bb_archive_entry_at(archive, 1, exact, NULL);
        check(rc == BB_OK && exact->name != NULL, "heap: an exact struct is filled", "%s",
              bb_code_name(rc));
        free(older);
        free(exact);
    }
}

static void test_buffers_and_entries(void) {
    const char *base_url = getenv("BB_TEST_BASE_URL");
    bb_client_builder *builder;
    bb_client *client = NULL;
    bb_error *err = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    bb_code rc;
    int i;

    if (base_url == NULL) {
        check(0, "BB_TEST_BASE_URL is set", "unset");
        return;
    }
    builder = bb_client_builder_new();
    rc = bb_client_builder_set_base_url(builder, base_url, &err);
    if (rc == BB_OK) rc = bb_client_new(builder, &client, &err);
    bb_client_builder_free(builder);
    if (!check(rc == BB_OK, "a client for the stand-in server", "%s", bb_error_message(err))) {
        bb_error_free(err);
        return;
    }

    /* Three buffers, each freed with a len that is not its own: each is
     * freed all the same (valgrind: no leak, no invalid free). */
    for (i = 0; i < 3; i++) {
        static const size_t wrong[3] = {0, 1, (size_t)-1};
        data = NULL;
        rc = bb_client_download_to_buffer(client, NULL, DEMO_SESSION, &data, &len, &err);
        if (!check(rc == BB_OK && data != NULL && len > 22, "a buffer to free", "%s: %s",
                   bb_code_name(rc), bb_error_message(err))) {
            bb_error_free(err);
            err = NULL;
            continue;
        }
        if (i == 0) {
            bb_archive *archive = NULL;
            rc = bb_archive_open_buffer(data, len, &archive, &err);
            if (check(rc == BB_OK && bb_archive_entry_count(archive) == 2,
                      "the demo archive opens, two entries", "%s", bb_error_message(err)))
                test_extensible_entry(archive);
            bb_archive_free(archive);
            bb_error_free(err);
            err = NULL;
        }
        bb_buffer_free(data, wrong[i]);
        check(1, "bb_buffer_free with a wrong len returns", "len %zu", wrong[i]);
    }
    bb_buffer_free(NULL, 0);
    bb_buffer_free(NULL, 12);
    check(1, "bb_buffer_free(NULL, any len) is harmless", "");
    bb_client_free(client);
}

static void test_version(void) {
    char expected[64];
    unsigned long number = ((unsigned long)BB_VERSION_MAJOR << 16) |
                           ((unsigned long)BB_VERSION_MINOR << 8) | BB_VERSION_PATCH;
    snprintf(expected, sizeof expected, "%d.%d.%d", BB_VERSION_MAJOR, BB_VERSION_MINOR,
             BB_VERSION_PATCH);
    check(strcmp(expected, BB_VERSION_STRING) == 0,
          "BB_VERSION_STRING is MAJOR.MINOR.PATCH", "%s vs %s", BB_VERSION_STRING, expected);
    check(strcmp(bb_version(), BB_VERSION_STRING) == 0,
          "bb_version() is this header's BB_VERSION_STRING", "%s vs %s", bb_version(),
          BB_VERSION_STRING);
    check((unsigned long)BB_VERSION_NUMBER == number,
          "BB_VERSION_NUMBER is (major << 16) | (minor << 8) | patch", "0x%06lx vs 0x%06lx",
          (unsigned long)BB_VERSION_NUMBER, number);
    check(bb_version_number() == BB_VERSION_NUMBER,
          "bb_version_number() is this header's BB_VERSION_NUMBER", "0x%06lx vs 0x%06lx",
          (unsigned long)bb_version_number(), (unsigned long)BB_VERSION_NUMBER);
    /* What a program does at start-up to refuse an older library. */
    check(bb_version_number() >= BB_VERSION_NUMBER,
          "the loaded library is at least the compiled-against version", "");
}

/* bb_call_options is read by its struct_size: one smaller than the first
 * version is BB_ERR_INVALID_ARGUMENT before anything is done (no file);
 * NULL options and BB_CALL_OPTIONS_INIT are the defaults. */
static void test_call_options(void) {
    bb_call_options small = BB_CALL_OPTIONS_INIT;
    bb_error *err = NULL;
    bb_code rc;
    FILE *f;
    small.struct_size = sizeof(size_t);
    rc = bb_client_download_opts(NULL, "k", "s", "/nonexistent-dir/never.zip", &small, &err);
    check(rc == BB_ERR_INVALID_ARGUMENT && err &&
              strstr(bb_error_message(err), "struct_size") != NULL,
          "bb_call_options with a struct_size below its first version: BB_ERR_INVALID_ARGUMENT",
          "%s: %s", bb_code_name(rc), err ? bb_error_message(err) : "");
    bb_error_free(err);
    err = NULL;
    f = fopen("/nonexistent-dir/never.zip", "r");
    check(f == NULL, "nothing written", "");
    if (f) fclose(f);
    rc = bb_archive_extract_to_opts(NULL, "x", &small, &err);
    check(rc == BB_ERR_INVALID_ARGUMENT, "bb_archive_extract_to_opts(NULL archive)", "%s",
          bb_code_name(rc));
    bb_error_free(err);
}

int main(void) {
    test_values();
    test_call_options();
    test_layout();
    test_version();
    test_buffers_and_entries();
    return tap_summary();
}
