/*
 * wait_and_extract: waits until a Browserbase session's downloads are
 * available, lists them (original names, sizes, download times), and
 * extracts them into a folder.
 *
 *   wait_and_extract SESSION_ID OUT_DIR [TIMEOUT_MS]
 *
 * The service syncs a session's files after the session ends; until then it
 * answers an empty archive. bb_client_wait_for_downloads_to_buffer polls
 * (quickly at first, then every 2 s at most) until the archive holds files,
 * and with BB_WAIT_STABLE until two polls in a row agree. Extraction is
 * all-or-nothing and never writes outside OUT_DIR.
 *
 * Settings come from the environment: BROWSERBASE_API_KEY, and
 * BROWSERBASE_BASE_URL for another server (such as the stand-in server).
 * TIMEOUT_MS defaults to 60000. Exit status: 0 done, 1 failed, 2 bad usage.
 *
 * This example keeps the archive in memory. For large archives, wait into a
 * file with bb_client_wait_for_downloads and open it with
 * bb_archive_open_file, or call bb_client_extract_downloads.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "browserbase.h"

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Prints the error, frees it, and returns the exit status for a failure. */
static int report(const char *what, bb_error *err)
{
    fprintf(stderr, "wait_and_extract: %s: %s [%s]\n", what, bb_error_message(err),
            bb_code_name(bb_error_code(err)));
    bb_error_free(err);
    return 1;
}

/* "2024-06-24 21:49:57 UTC" for a time in milliseconds, or "-" if none. */
static void format_time(int64_t ms, char *out, size_t size)
{
    time_t secs;
    struct tm *tm;
    if (ms < 0) {
        snprintf(out, size, "-");
        return;
    }
    secs = (time_t)(ms / 1000);
    tm = gmtime(&secs);
    if (tm == NULL || strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", tm) == 0) {
        snprintf(out, size, "-");
    }
}

int main(int argc, char **argv)
{
    const char *session_id;
    const char *out_dir;
    unsigned long timeout_ms = 60000;
    bb_client *client = NULL;
    bb_archive *archive = NULL;
    bb_error *err = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    size_t count;
    size_t i;
    double started;
    int status = 0;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s SESSION_ID OUT_DIR [TIMEOUT_MS]\n", argv[0]);
        return 2;
    }
    session_id = argv[1];
    out_dir = argv[2];
    if (argc == 4) {
        char *end = NULL;
        errno = 0;
        timeout_ms = strtoul(argv[3], &end, 10);
        if (errno != 0 || end == argv[3] || *end != '\0' || timeout_ms > UINT32_MAX) {
            fprintf(stderr, "wait_and_extract: TIMEOUT_MS must be a number of milliseconds\n");
            return 2;
        }
    }

    /* NULL builder: defaults plus the BROWSERBASE_* environment variables. */
    if (bb_client_new(NULL, &client, &err) != BB_OK) {
        return report("cannot create a client", err);
    }

    printf("waiting up to %.1f s for the files of session %s\n", (double)timeout_ms / 1000.0,
           session_id);
    fflush(stdout);
    started = seconds_now();
    if (bb_client_wait_for_downloads_to_buffer(client, NULL, session_id, (uint32_t)timeout_ms,
                                               BB_WAIT_STABLE, &data, &len, &err) != BB_OK) {
        status = report("waiting failed", err);
        goto done;
    }
    printf("ready after %.1f s: an archive of %zu bytes\n", seconds_now() - started, len);

    /* The bytes are copied: the buffer can go at once. */
    if (bb_archive_open_buffer(data, len, &archive, &err) != BB_OK) {
        status = report("cannot read the archive", err);
        goto done;
    }
    bb_buffer_free(data, len);
    data = NULL;

    count = bb_archive_entry_count(archive);
    printf("%zu file%s:\n", count, count == 1 ? "" : "s");
    for (i = 0; i < count; i++) {
        bb_archive_entry entry = BB_ARCHIVE_ENTRY_INIT; /* sets entry.struct_size */
        char when[64];
        if (bb_archive_entry_at(archive, i, &entry, &err) != BB_OK) {
            status = report("cannot read an entry", err);
            goto done;
        }
        format_time(entry.download_time_ms, when, sizeof when);
        printf("  %-24s %10" PRIu64 " bytes  downloaded %s  (stored as %s)\n",
               entry.original_name, entry.size, when, entry.name);
    }

    if (bb_archive_extract_to(archive, out_dir, &err) != BB_OK) {
        status = report("extraction failed", err);
        goto done;
    }
    printf("extracted into %s\n", out_dir);

done:
    bb_buffer_free(data, len); /* NULL is fine */
    bb_archive_free(archive);
    bb_client_free(client);
    return status;
}
