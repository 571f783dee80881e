/* bb_first: process start to first archive saved, with the library loaded at
 * run time (benches/bench.py times the whole process, as it times curl's).
 *
 *   bb_first LIBRARY SESSION OUT
 *
 * Not linked against libbrowserbase: dlopen(LIBRARY), dlsym, one
 * bb_download_session through the process-wide default client (settings from
 * BROWSERBASE_BASE_URL and BROWSERBASE_API_KEY), exit.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "browserbase.h"

typedef bb_code (*download_fn)(const char *, const char *, const char *, bb_error **);
typedef const char *(*message_fn)(const bb_error *);

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bb_first LIBRARY SESSION OUT\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "bb_first: dlopen: %s\n", dlerror());
        return 1;
    }
    download_fn download;
    message_fn message;
    *(void **)(&download) = dlsym(lib, "bb_download_session");
    *(void **)(&message) = dlsym(lib, "bb_error_message");
    if (!download || !message) {
        fprintf(stderr, "bb_first: dlsym: %s\n", dlerror());
        return 1;
    }
    bb_error *err = NULL;
    bb_code rc = download(NULL, argv[2], argv[3], &err);
    if (rc != BB_OK) {
        fprintf(stderr, "bb_first: bb_download_session: %d: %s\n", (int)rc, message(err));
        return 1;
    }
    return 0;
}
