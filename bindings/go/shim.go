package browserbase

/*
#cgo LDFLAGS: -lbrowserbase
#include <stdint.h>
#include <stdlib.h>
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
*/
import "C"
