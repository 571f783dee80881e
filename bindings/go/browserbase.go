// Package browserbase downloads the files a Browserbase browser session
// downloaded (a ZIP archive), lists and extracts them safely, through
// libbrowserbase, the C library of this repository (cgo).
//
// Build with the library's header and shared library where cgo finds them:
//
//	CGO_CFLAGS=-I/path/to/libbrowserbase/include \
//	CGO_LDFLAGS="-L/path/to/libbrowserbase/target/debug -Wl,-rpath,/path/to/libbrowserbase/target/debug" \
//	go build
//
// (or install the library: then nothing needs setting).
//
// Every blocking function takes a context.Context: when it ends, the call
// returns within about 100 ms wherever it is (connecting, waiting for a
// silent server, mid-body, between retries or wait polls, extracting),
// leaving nothing behind, with an error for which both
// errors.Is(err, ctx.Err()) (context.Canceled, context.DeadlineExceeded) and
// errors.Is(err, ErrCancelled) hold. It works through the library's cancel
// handle: a goroutine waiting on ctx.Done() triggers it, and stops when the
// call returns.
//
// Every function is safe to use from many goroutines at once.
package browserbase

/*
#include <stdint.h>
#include <stdlib.h>
#include <browserbase.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unsafe"
)

// Code is one of the library's bb_code values. A Code is an error too, so
// that the package's sentinels (ErrNotFound...) are Codes; compare with
// errors.Is.
type Code int

// The library's codes (part of its ABI: they never change).
const (
	CodeOK               Code = 0
	CodeInvalidArgument  Code = 1
	CodeAuthentication   Code = 2
	CodePermissionDenied Code = 3
	CodeNotFound         Code = 4
	CodeRateLimited      Code = 5
	CodeServer           Code = 6
	CodeHTTP             Code = 7
	CodeConnection       Code = 8
	CodeTimeout          Code = 9
	CodeIO               Code = 10
	CodeInvalidArchive   Code = 11
	CodeCancelled        Code = 12
	CodeNotReady         Code = 13
	CodeInternal         Code = 14
)

var codeNames = [...]string{
	"BB_OK", "BB_ERR_INVALID_ARGUMENT", "BB_ERR_AUTHENTICATION", "BB_ERR_PERMISSION_DENIED",
	"BB_ERR_NOT_FOUND", "BB_ERR_RATE_LIMITED", "BB_ERR_SERVER", "BB_ERR_HTTP",
	"BB_ERR_CONNECTION", "BB_ERR_TIMEOUT", "BB_ERR_IO", "BB_ERR_INVALID_ARCHIVE",
	"BB_ERR_CANCELLED", "BB_ERR_NOT_READY", "BB_ERR_INTERNAL",
}

// String is the code's name, such as "BB_ERR_NOT_FOUND".
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "BB_UNKNOWN_CODE"
}

// Error makes a Code usable as a sentinel error.
func (c Code) Error() string { return "browserbase: " + c.String() }

// Sentinels: errors.Is(err, browserbase.ErrNotFound) is true for every
// *APIError of that code.
var (
	ErrInvalidArgument  error = CodeInvalidArgument
	ErrAuthentication   error = CodeAuthentication
	ErrPermissionDenied error = CodePermissionDenied
	ErrNotFound         error = CodeNotFound
	ErrRateLimited      error = CodeRateLimited
	ErrServer           error = CodeServer
	ErrHTTP             error = CodeHTTP
	ErrConnection       error = CodeConnection
	ErrTimeout          error = CodeTimeout
	ErrIO               error = CodeIO
	ErrInvalidArchive   error = CodeInvalidArchive
	ErrCancelled        error = CodeCancelled
	ErrNotReady         error = CodeNotReady
	ErrInternal         error = CodeInternal
)

// APIError is every failure the library reports, HTTP or not: use
// errors.As to read it, errors.Is with a sentinel to test its code.
type APIError struct {
	// Code says what failed (CodeNotFound, CodeIO...).
	Code Code
	// StatusCode is the HTTP status of the response that caused the error;
	// 0 when no HTTP response came (connection, local file, bad argument).
	StatusCode int
	// Message is the library's message, for people. It never holds the API key.
	Message string
}

func (e *APIError) Error() string { return "browserbase: " + e.Message }

// Is matches the sentinel of the error's code.
func (e *APIError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

func invalid(format string, args ...any) error {
	return &APIError{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// bbCode is a call's result as cgo types it: C.enum_bb_code for prototypes
// spelled `enum bb_code`, C.bb_code for the typedef spelling; both work.
type bbCode interface {
	~uint32
}

// takeError turns a failed call's result into an *APIError and frees the
// library's error.
func takeError[T bbCode](rc T, cerr *C.bb_error) error {
	if rc == C.BB_OK {
		if cerr != nil {
			C.bb_error_free(cerr)
		}
		return nil
	}
	if cerr == nil {
		return &APIError{Code: Code(rc), Message: C.GoString(C.bb_code_name(C.bb_code(rc)))}
	}
	defer C.bb_error_free(cerr)
	code := Code(C.bb_error_code(cerr))
	if code == CodeOK {
		code = Code(rc)
	}
	return &APIError{
		Code:       code,
		StatusCode: int(C.bb_error_http_status(cerr)),
		Message:    C.GoString(C.bb_error_message(cerr)),
	}
}

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

// cstrings converts the strings of one call, refusing any with a NUL byte
// (C would see only the part before it). Free with free().
type cstrings []*C.char

func (cs *cstrings) add(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalid("%s contains a NUL byte", what)
	}
	p := C.CString(s)
	*cs = append(*cs, p)
	return p, nil
}

// optional is add, with "" passed as NULL (the client's or environment's key).
func (cs *cstrings) optional(what, s string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	return cs.add(what, s)
}

func (cs *cstrings) free() {
	for _, p := range *cs {
		C.free(unsafe.Pointer(p))
	}
	*cs = nil
}

func millis(what string, d time.Duration, allowZero bool) (C.uint32_t, error) {
	if d < 0 || (d == 0 && !allowZero) {
		return 0, invalid("%s must be %s, not %v", what, map[bool]string{true: ">= 0", false: "> 0"}[allowZero], d)
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond // a positive duration under 1 ms is 1 ms
	if ms > math.MaxUint32 {
		return 0, invalid("%s is too long: at most %v", what, time.Duration(math.MaxUint32)*time.Millisecond)
	}
	return C.uint32_t(ms), nil
}

// ---------------------------------------------------------------------------
// One call
// ---------------------------------------------------------------------------

// call is the state of one blocking call, shared with its callbacks.
type call struct {
	ctx        context.Context
	err        error // what a callback returned (or the context's error)
	panicked   bool
	panicValue any
	// The call's cancel handle, triggered by a goroutine when ctx ends (nil
	// for a context that never ends); stop ends that goroutine, done says
	// it has ended.
	cancel     *C.bb_cancel
	stop, done chan struct{}
}

// begin starts a call: a context already done is refused before anything
// is sent. Every begin that succeeds is paired with end, once the C call
// has returned.
func begin(ctx context.Context) (*call, error) {
	if ctx == nil {
		return nil, invalid("ctx is nil")
	}
	if err := ctx.Err(); err != nil {
		return nil, contextEnded(err, nil)
	}
	c := &call{ctx: ctx}
	if ctx.Done() == nil {
		return c, nil // context.Background(): nothing can end it
	}
	var h *C.bb_cancel
	var cerr *C.bb_error
	if err := takeError(C.bb_cancel_new(&h, &cerr), cerr); err != nil {
		return nil, err
	}
	c.cancel, c.stop, c.done = h, make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		select {
		case <-ctx.Done():
			C.bb_cancel_trigger(h) // safe from any thread
		case <-c.stop:
		}
	}()
	return c, nil
}

// end stops the goroutine watching the context and frees the handle (the
// goroutine has ended first, so nothing triggers a freed handle).
func (c *call) end() {
	if c.cancel == nil {
		return
	}
	close(c.stop)
	<-c.done
	C.bb_cancel_free(c.cancel)
	c.cancel = nil
}

// options is the call's bb_call_options: its cancel handle, the client's
// progress callback. Go memory holding only a C pointer: fine to pass.
func (c *call) options() *C.bb_call_options {
	return &C.bb_call_options{
		struct_size: C.size_t(unsafe.Sizeof(C.bb_call_options{})),
		cancel:      c.cancel,
	}
}

// stopped is looked at whenever the library hands control back (chunks,
// progress): the context's end, as the call's error.
func (c *call) stopped() error {
	if err := c.ctx.Err(); err != nil {
		return contextEnded(err, nil)
	}
	return nil
}

// cancelledError is a call's error when its context ended: it unwraps to
// the context's error (context.Canceled, context.DeadlineExceeded), matches
// ErrCancelled, and errors.As finds the library's *APIError in it.
type cancelledError struct {
	ctxErr error
	api    *APIError
}

func contextEnded(ctxErr error, api *APIError) error {
	if api == nil {
		api = &APIError{Code: CodeCancelled, Message: "the call was cancelled: " + ctxErr.Error()}
	}
	return &cancelledError{ctxErr: ctxErr, api: api}
}

func (e *cancelledError) Error() string { return "browserbase: " + e.ctxErr.Error() }

// Unwrap gives the context's error.
func (e *cancelledError) Unwrap() error { return e.ctxErr }

// Is matches ErrCancelled (the library's code).
func (e *cancelledError) Is(target error) bool { return e.api.Is(target) }

// As gives the library's *APIError (Code CodeCancelled).
func (e *cancelledError) As(target any) bool {
	if p, ok := target.(**APIError); ok {
		*p = e.api
		return true
	}
	return false
}

// finish turns the C call's result into the method's: a callback's panic is
// re-raised here, on the caller's goroutine, once the library has returned
// and cleaned up; a callback's error is returned as is.
func finish[T bbCode](c *call, rc T, cerr *C.bb_error) error {
	err := takeError(rc, cerr)
	if c.panicked {
		panic(c.panicValue)
	}
	if c.err != nil {
		return c.err
	}
	var api *APIError
	if ctxErr := c.ctx.Err(); ctxErr != nil && errors.As(err, &api) && api.Code == CodeCancelled {
		return contextEnded(ctxErr, api)
	}
	return err
}

// buffer copies and frees a buffer returned by the library.
func buffer(data *C.uint8_t, n C.size_t) []byte {
	if data == nil {
		return []byte{}
	}
	defer C.bb_buffer_free(data, n)
	out := make([]byte, int(n))
	copy(out, unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n)))
	return out
}

// stream is the user data of a streamed download.
type stream struct {
	call *call
	w    io.Writer
	n    int64
}

var errNilWriter = errors.New("browserbase: the io.Writer is nil")
