package browserbase

/*
#include <stdint.h>
#include <stdlib.h>
#include <browserbase.h>

bb_code bb_go_client_download_sessions(const bb_client *c, const char *key, char **ids, size_t count, const char *dir, unsigned int concurrency, bb_cancel *cancel, bb_code *results, char **reasons, bb_error **err);
*/
import "C"

import (
	"context"
	"math"
	"unsafe"
)

// WithResume sets whether a retry after a cut body continues it (a Range
// request with If-Range, when the server offers ranges and a validator: the
// default) or starts over from byte 0 (false). Environment:
// BROWSERBASE_RESUME.
func WithResume(on bool) Option {
	return func(s *settings) error {
		v := C.int(0)
		if on {
			v = 1
		}
		s.steps = append(s.steps, func(b *C.bb_client_builder, _ *cstrings) error {
			var cerr *C.bb_error
			return takeError(C.bb_client_builder_set_resume(b, v, &cerr), cerr)
		})
		return nil
	}
}

// DownloadSessions downloads every session of sessionIDs into the existing
// directory dir, each to <dir>/<name>.zip (the id itself when it is made of
// A-Z a-z 0-9 . _ - and does not start with '.', otherwise those bytes
// written %XX), each atomically and with the client's retries on its own, at
// most concurrency at once (0: 8; more than 64: 64).
//
// The map has one entry per id: nil when the session was downloaded, else
// the error it failed with (an *APIError; errors.Is with the sentinels
// works). One session's failure never stops the others. The error is non-nil
// only when the call was refused as a whole, before anything was sent (no
// ids, an empty, bad or duplicate id, dir not a directory, ctx already done),
// or when the client's progress function stopped the batch (its error) —
// the map is then still filled.
//
// When ctx ends mid-batch, the batch stops within about 100 ms: the files of
// finished sessions stay, the others leave nothing and map to an error
// matching both ctx.Err() and ErrCancelled.
func (c *Client) DownloadSessions(ctx context.Context, sessionIDs []string, dir string, concurrency int) (map[string]error, error) {
	if concurrency < 0 || int64(concurrency) > math.MaxUint32 {
		return nil, invalid("concurrency must be between 0 and %d, not %d", uint32(math.MaxUint32), concurrency)
	}
	var cs cstrings
	defer cs.free()
	d, err := cs.add("dir", dir)
	if err != nil {
		return nil, err
	}
	n := len(sessionIDs)
	ids := make([]*C.char, n+1) // C pointers only: fine to hand to C
	for i, id := range sessionIDs {
		if ids[i], err = cs.add("session id", id); err != nil {
			return nil, invalid("session id %d contains a NUL byte", i)
		}
	}
	codes := make([]C.bb_code, n+1)
	reasons := make([]*C.char, n+1) // written by the C callback (strdup)
	defer func() {
		for _, r := range reasons {
			if r != nil {
				C.free(unsafe.Pointer(r))
			}
		}
	}()
	ran := false // false: refused as a whole (or never started), no map
	err = c.do(ctx, func(cl *C.bb_client, st *call) error {
		var cerr *C.bb_error
		rc := C.bb_go_client_download_sessions(cl, nil, &ids[0], C.size_t(n), d, C.uint(concurrency), st.cancel, &codes[0], &reasons[0], &cerr)
		ran = rc == C.BB_OK || ranAny(codes[:n])
		if !ran {
			return finish(st, rc, cerr) // refused: every code still BB_OK
		}
		if cerr != nil {
			C.bb_error_free(cerr)
		}
		if st.panicked {
			panic(st.panicValue)
		}
		if st.err != nil && st.ctx.Err() == nil {
			return st.err // the progress function's error
		}
		return nil
	})
	if !ran {
		return nil, err
	}
	results := make(map[string]error, n)
	for i, id := range sessionIDs {
		code := Code(codes[i])
		if code == CodeOK {
			results[id] = nil
			continue
		}
		msg := code.String()
		if reasons[i] != nil {
			msg = C.GoString(reasons[i])
		} else if code == CodeCancelled {
			msg = "not downloaded: the batch was cancelled"
		}
		api := &APIError{Code: code, Message: msg}
		if ctxErr := ctx.Err(); ctxErr != nil && code == CodeCancelled {
			results[id] = contextEnded(ctxErr, api)
		} else {
			results[id] = api
		}
	}
	return results, err
}

func ranAny(codes []C.bb_code) bool {
	for _, c := range codes {
		if c != C.BB_OK {
			return true
		}
	}
	return false
}

// DownloadSessions is Default().DownloadSessions.
func DownloadSessions(ctx context.Context, sessionIDs []string, dir string, concurrency int) (map[string]error, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	return c.DownloadSessions(ctx, sessionIDs, dir, concurrency)
}
