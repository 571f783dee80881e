/*
 * download: save the files a Browserbase session downloaded, as one ZIP archive.
 *
 *     usage: download SESSION_ID OUT.zip
 *
 * The API key comes from the BROWSERBASE_API_KEY environment variable. The
 * library reads it (and every other BROWSERBASE_* setting, such as
 * BROWSERBASE_BASE_URL) by itself when we pass NULL as the key, so this
 * program never handles the secret.
 *
 * Build (from the crate's root, after `cargo build --release`):
 *
 *     cc -std=c99 -Wall -Wextra -Wpedantic -I include examples/download.c \
 *        -o download -L target/release -lbrowserbase \
 *        -Wl,-rpath,"$PWD/target/release"
 *
 * Run:
 *
 *     BROWSERBASE_API_KEY=bb_live_... ./download 78596eea-2f71-4632-b591-e76f88a3cde9 files.zip
 *
 * Exit status: 0 when the archive was saved, 1 when the download failed,
 * 2 when the command line is wrong.
 */

/* For stat(): a POSIX function, not part of C99 itself. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "browserbase.h"

/*
 * Progress bar, drawn only when stdout is a terminal: called by the library
 * before the first byte and after every chunk. Returning non-zero would
 * cancel the download.
 */
static int draw_progress(void *user_data, uint64_t received, int64_t total) {
    int *last_percent = user_data; /* redraw only when the figure changes */
    if (total > 0) {
        int width = 40;
        int percent = (int)(100.0 * (double)received / (double)total);
        int filled = (int)((double)received / (double)total * width);
        if (percent == *last_percent && received != 0) {
            return 0;
        }
        *last_percent = percent;
        printf("\r[%.*s%*s] %3d%%  %llu / %lld bytes", filled,
               "########################################", width - filled, "",
               percent, (unsigned long long)received,
               (long long)total);
    } else {
        printf("\r%llu bytes", (unsigned long long)received);
    }
    fflush(stdout);
    return 0;
}

/* Prints a failed call's error to stderr and frees it. */
static void report(bb_code code, bb_error *err) {
    /*
     * The code is for the program (what to do next); the message is for
     * people (what happened, including the server's explanation). The
     * message never contains the API key, so it is safe to log.
     */
    int http_status = bb_error_http_status(err); /* 0: no HTTP response */
    if (http_status != 0) {
        fprintf(stderr, "download: %s (HTTP %d): %s\n", bb_code_name(code), http_status,
                bb_error_message(err));
    } else {
        fprintf(stderr, "download: %s: %s\n", bb_code_name(code), bb_error_message(err));
    }
    bb_error_free(err); /* the message is gone after this */
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr,
                "usage: download SESSION_ID OUT.zip\n"
                "\n"
                "Saves the files that Browserbase session SESSION_ID downloaded\n"
                "to OUT.zip (a ZIP archive; empty if the session downloaded nothing).\n"
                "\n"
                "Environment:\n"
                "  BROWSERBASE_API_KEY   your API key (required)\n"
                "  BROWSERBASE_BASE_URL  the service (default https://api.browserbase.com)\n");
        return 2;
    }
    const char *session_id = argv[1];
    const char *out_path = argv[2];

    /*
     * A client carries settings: here the environment's (BROWSERBASE_BASE_URL,
     * timeouts, retries...) plus a progress bar when a person is watching.
     * Simpler programs call bb_download_session(NULL, id, path, &err), which
     * uses a process-wide client with the environment's settings.
     */
    bb_error *err = NULL;
    int last_percent = -1;
    bb_client_builder *builder = bb_client_builder_new();
    bb_code code = bb_client_builder_load_env(builder, &err);
    if (code == BB_OK && isatty(STDOUT_FILENO)) {
        code = bb_client_builder_set_progress(builder, draw_progress, &last_percent, &err);
    }
    bb_client *client = NULL;
    if (code == BB_OK) {
        code = bb_client_new(builder, &client, &err);
    }
    bb_client_builder_free(builder); /* the client keeps its own copy */
    if (code != BB_OK) {
        report(code, err);
        return 1;
    }

    /*
     * One call does everything: the request, retries of transient failures,
     * and an atomic write of the file. The archive is written to a temporary
     * file next to OUT.zip, checked to be a ZIP archive, and only then
     * renamed to OUT.zip. If anything fails, no partial file is left behind
     * and an OUT.zip that was already there is untouched.
     *
     * api_key NULL: the library reads BROWSERBASE_API_KEY.
     * err: on failure the library stores an error object here, which we own.
     */
    code = bb_client_download(client, NULL, session_id, out_path, &err);
    bb_client_free(client);
    if (isatty(STDOUT_FILENO)) {
        printf("\n");
    }
    if (code != BB_OK) {
        report(code, err);
        return 1;
    }

    /* Success: err was not touched, there is nothing to free. */
    struct stat st;
    if (stat(out_path, &st) == 0) {
        printf("saved %lld bytes to %s\n", (long long)st.st_size, out_path);
    } else {
        /* Saved, but someone moved the file already; still a success. */
        printf("saved %s\n", out_path);
    }
    return 0;
}
