package browserbase

/*
#cgo LDFLAGS: -lbrowserbase
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <browserbase.h>

// Go callbacks (callbacks.go). User data is a runtime/cgo.Handle, passed
// through C as an integer: never a Go pointer.
extern int bbGoWrite(uintptr_t handle, uint8_t *data, size_t len);
extern int bbGoProgress(uintptr_t handle, uint64_t received, int64_t total);

static int bb_go_write(void *user, const uint8_t *data, size_t len) {
	return bbGoWrite((uintptr_t)user, (uint8_t *)data, len);
}

static int bb_go_progress(void *user, uint64_t received, int64_t total) {
	return bbGoProgress((uintptr_t)user, received, total);
}

bb_code bb_go_client_download_to_callback(const bb_client *c, const char *key, const char *id, uintptr_t h, const bb_call_options *options, bb_error **err) {
	return bb_client_download_to_callback_opts(c, key, id, bb_go_write, (void *)h, options, err);
}

enum bb_code bb_go_builder_set_progress(bb_client_builder *b, uintptr_t h, bb_error **err) {
	return bb_client_builder_set_progress(b, bb_go_progress, (void *)h, err);
}

// A batch: each failed session's reason, from its end report, strdup'ed
// into reasons[index] (the caller frees them); no Go code per chunk.
static int bb_go_batch_progress(void *user, const bb_batch_progress *p) {
	char **reasons = (char **)user;
	if (p->finished && p->code != BB_OK && p->message && !reasons[p->index]) {
		reasons[p->index] = strdup(p->message);
	}
	return 0;
}

bb_code bb_go_client_download_sessions(const bb_client *c, const char *key, char **ids, size_t count, const char *dir, unsigned int concurrency, bb_cancel *cancel, bb_code *results, char **reasons, bb_error **err) {
	bb_call_options o = BB_CALL_OPTIONS_INIT;
	o.cancel = cancel;
	o.batch_progress = bb_go_batch_progress;
	o.batch_progress_user_data = reasons;
	return bb_client_download_sessions_opts(c, key, (const char *const *)ids, count, dir, concurrency, &o, results, err);
}
*/
import "C"
