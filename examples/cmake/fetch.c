/* fetch SESSION_ID OUT.zip: download a Browserbase session's files.
 * The key comes from BROWSERBASE_API_KEY. */
#include <stdio.h>

#include <browserbase.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SESSION_ID OUT.zip\n", argv[0]);
        return 2;
    }
    bb_error *err = NULL;
    bb_code rc = bb_download_session(NULL, argv[1], argv[2], &err);
    if (rc != BB_OK) {
        fprintf(stderr, "%s (HTTP %d): %s\n", bb_code_name(rc), bb_error_http_status(err),
                bb_error_message(err));
        bb_error_free(err);
        return 1;
    }
    printf("saved %s with libbrowserbase %s\n", argv[2], bb_version());
    return 0;
}
