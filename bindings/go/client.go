package browserbase

/*
#include <stdint.h>
#include <stdlib.h>
#include <browserbase.h>

bb_code bb_go_client_download_to_callback(const bb_client *c, const char *key, const char *id, uintptr_t h, const bb_call_options *options, bb_error **err);
enum bb_code bb_go_builder_set_progress(bb_client_builder *b, uintptr_t h, bb_error **err);
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"runtime/cgo"
	"sync"
	"syscall"
	"time"
)

// Option is a setting of NewClient.
type Option func(*settings) error

type settings struct {
	noEnv    bool
	steps    []func(b *C.bb_client_builder, cs *cstrings) error
	progress func(received uint64, total int64) error
}

func stringStep(what string, value string, set func(*C.bb_client_builder, *C.char, **C.bb_error) error) Option {
	return func(s *settings) error {
		if idx := indexNUL(value); idx >= 0 {
			return invalid("%s contains a NUL byte", what)
		}
		s.steps = append(s.steps, func(b *C.bb_client_builder, cs *cstrings) error {
			p, err := cs.add(what, value)
			if err != nil {
				return err
			}
			var cerr *C.bb_error
			return set(b, p, &cerr)
		})
		return nil
	}
}

func indexNUL(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return i
		}
	}
	return -1
}

func durationStep(what string, d time.Duration, allowZero bool, set func(*C.bb_client_builder, C.uint32_t, **C.bb_error) error) Option {
	return func(s *settings) error {
		ms, err := millis(what, d, allowZero)
		if err != nil {
			return err
		}
		s.steps = append(s.steps, func(b *C.bb_client_builder, _ *cstrings) error {
			var cerr *C.bb_error
			return set(b, ms, &cerr)
		})
		return nil
	}
}

// WithBaseURL sets the service, default https://api.browserbase.com (plain
// http only for loopback hosts).
func WithBaseURL(url string) Option {
	return stringStep("base URL", url, func(b *C.bb_client_builder, p *C.char, e **C.bb_error) error {
		return takeError(C.bb_client_builder_set_base_url(b, p, e), *e)
	})
}

// WithAPIKey sets the key used by calls (default: BROWSERBASE_API_KEY).
func WithAPIKey(key string) Option {
	return stringStep("API key", key, func(b *C.bb_client_builder, p *C.char, e **C.bb_error) error {
		return takeError(C.bb_client_builder_set_api_key(b, p, e), *e)
	})
}

// WithConnectTimeout bounds connecting (default 5 s).
func WithConnectTimeout(d time.Duration) Option {
	return durationStep("connect timeout", d, false, func(b *C.bb_client_builder, v C.uint32_t, e **C.bb_error) error {
		return takeError(C.bb_client_builder_set_connect_timeout_ms(b, v, e), *e)
	})
}

// WithTimeout bounds the longest silence while waiting for or reading a
// response (default 60 s).
func WithTimeout(d time.Duration) Option {
	return durationStep("timeout", d, false, func(b *C.bb_client_builder, v C.uint32_t, e **C.bb_error) error {
		return takeError(C.bb_client_builder_set_timeout_ms(b, v, e), *e)
	})
}

// WithDeadline bounds a whole call, retries and waits included (0: none, the default).
func WithDeadline(d time.Duration) Option {
	return durationStep("deadline", d, true, func(b *C.bb_client_builder, v C.uint32_t, e **C.bb_error) error {
		return takeError(C.bb_client_builder_set_deadline_ms(b, v, e), *e)
	})
}

// WithMaxRetries sets how often a failed request is retried (default 2).
func WithMaxRetries(n int) Option {
	return func(s *settings) error {
		if n < 0 || int64(n) > 0xFFFFFFFF {
			return invalid("max retries must be between 0 and %d, not %d", uint32(0xFFFFFFFF), n)
		}
		s.steps = append(s.steps, func(b *C.bb_client_builder, _ *cstrings) error {
			var cerr *C.bb_error
			return takeError(C.bb_client_builder_set_max_retries(b, C.uint32_t(n), &cerr), cerr)
		})
		return nil
	}
}

// WithUserAgentSuffix appends to the User-Agent "browserbase-c/<version>".
func WithUserAgentSuffix(suffix string) Option {
	return stringStep("user agent suffix", suffix, func(b *C.bb_client_builder, p *C.char, e **C.bb_error) error {
		return takeError(C.bb_client_builder_set_user_agent_suffix(b, p, e), *e)
	})
}

// WithCAFile trusts the CA certificates of a PEM file too (read by NewClient).
func WithCAFile(path string) Option {
	return stringStep("CA file", path, func(b *C.bb_client_builder, p *C.char, e **C.bb_error) error {
		return takeError(C.bb_client_builder_add_ca_file(b, p, e), *e)
	})
}

// WithProxy sends every request through the proxy at url.
func WithProxy(url string) Option {
	return stringStep("proxy", url, func(b *C.bb_client_builder, p *C.char, e **C.bb_error) error {
		return takeError(C.bb_client_builder_set_proxy(b, p, e), *e)
	})
}

// WithFsync flushes downloaded files to disk before a call returns.
func WithFsync(on bool) Option {
	return func(s *settings) error {
		v := C.int(0)
		if on {
			v = 1
		}
		s.steps = append(s.steps, func(b *C.bb_client_builder, _ *cstrings) error {
			var cerr *C.bb_error
			return takeError(C.bb_client_builder_set_fsync(b, v, &cerr), cerr)
		})
		return nil
	}
}

// WithoutEnv starts from the built-in defaults instead of the BROWSERBASE_*
// environment variables.
func WithoutEnv() Option {
	return func(s *settings) error { s.noEnv = true; return nil }
}

// WithProgress calls fn as every download through the client goes: before
// the first byte with received 0, then after each chunk; total is the size
// the server announced, -1 when unknown. A retried download (and each poll
// of a wait) starts again from 0. fn runs on the goroutine that called the
// method. A non-nil error stops the download, and the method returns that
// error; a panic stops it too and is re-raised by the method.
func WithProgress(fn func(received uint64, total int64) error) Option {
	return func(s *settings) error {
		if fn == nil {
			return invalid("the progress function is nil")
		}
		s.progress = fn
		return nil
	}
}

// progressHook finds the running call of a progress report by the thread
// the library calls back on (the caller's, locked for the call).
type progressHook struct {
	fn    func(received uint64, total int64) error
	mu    sync.Mutex
	calls map[int]*call
}

func (p *progressHook) lookup(tid int) *call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[tid]
}

func (p *progressHook) enter(tid int, c *call) (outer *call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	outer = p.calls[tid]
	p.calls[tid] = c
	return outer
}

func (p *progressHook) leave(tid int, outer *call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if outer == nil {
		delete(p.calls, tid)
	} else {
		p.calls[tid] = outer
	}
}

// Client is a configured client: settings plus kept-alive connections. Safe
// for concurrent use; Close it when done.
type Client struct {
	mu     sync.RWMutex // read-held by every call; Close takes it whole
	ptr    *C.bb_client
	hook   *progressHook
	handle cgo.Handle
}

// NewClient makes a client: the BROWSERBASE_* environment variables (unless
// WithoutEnv), then the options. A bad setting is an *APIError with
// CodeInvalidArgument.
func NewClient(opts ...Option) (*Client, error) {
	var s settings
	for _, o := range opts {
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	var cs cstrings
	defer cs.free()
	b := C.bb_client_builder_new()
	defer C.bb_client_builder_free(b)
	var cerr *C.bb_error
	if !s.noEnv {
		if err := takeError(C.bb_client_builder_load_env(b, &cerr), cerr); err != nil {
			return nil, err
		}
	}
	for _, step := range s.steps {
		if err := step(b, &cs); err != nil {
			return nil, err
		}
	}
	c := &Client{}
	if s.progress != nil {
		c.hook = &progressHook{fn: s.progress, calls: map[int]*call{}}
		c.handle = cgo.NewHandle(c.hook)
		if err := takeError(C.bb_go_builder_set_progress(b, C.uintptr_t(c.handle), &cerr), cerr); err != nil {
			c.handle.Delete()
			return nil, err
		}
	}
	if err := takeError(C.bb_client_new(b, &c.ptr, &cerr), cerr); err != nil {
		if c.hook != nil {
			c.handle.Delete()
		}
		return nil, err
	}
	return c, nil
}

// Close frees the client, after the calls still using it return. Closing
// twice is fine; a call after Close fails with CodeInvalidArgument.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		C.bb_client_free(c.ptr)
		c.ptr = nil
		if c.hook != nil {
			c.handle.Delete()
		}
	}
	return nil
}

// do runs one C call through the client with its call state: the client is
// kept alive for the call, and a progress report finds the call by thread.
func (c *Client) do(ctx context.Context, fn func(cl *C.bb_client, st *call) error) error {
	st, err := begin(ctx)
	if err != nil {
		return err
	}
	defer st.end()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return invalid("the client is closed")
	}
	if c.hook != nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := syscall.Gettid()
		outer := c.hook.enter(tid, st)
		defer c.hook.leave(tid, outer)
	}
	return fn(c.ptr, st)
}

// WaitOption changes a wait.
type WaitOption func(*C.uint32_t)

// Stable also waits until two polls in a row see the same files.
func Stable() WaitOption { return func(f *C.uint32_t) { *f |= C.BB_WAIT_STABLE } }

func waitFlags(opts []WaitOption) C.uint32_t {
	var f C.uint32_t
	for _, o := range opts {
		o(&f)
	}
	return f
}

// Download writes session sessionID's archive to the file path, atomically
// (a failure leaves a file at path untouched and no temporary file).
func (c *Client) Download(ctx context.Context, sessionID, path string) error {
	var cs cstrings
	defer cs.free()
	id, err := cs.add("session id", sessionID)
	if err != nil {
		return err
	}
	p, err := cs.add("path", path)
	if err != nil {
		return err
	}
	return c.do(ctx, func(cl *C.bb_client, st *call) error {
		var cerr *C.bb_error
		return finish(st, C.bb_client_download_opts(cl, nil, id, p, st.options(), &cerr), cerr)
	})
}

// DownloadBytes returns session sessionID's archive.
func (c *Client) DownloadBytes(ctx context.Context, sessionID string) ([]byte, error) {
	var cs cstrings
	defer cs.free()
	id, err := cs.add("session id", sessionID)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = c.do(ctx, func(cl *C.bb_client, st *call) error {
		var data *C.uint8_t
		var n C.size_t
		var cerr *C.bb_error
		if err := finish(st, C.bb_client_download_to_buffer_opts(cl, nil, id, &data, &n, st.options(), &cerr), cerr); err != nil {
			return err
		}
		out = buffer(data, n)
		return nil
	})
	return out, err
}

// DownloadTo streams session sessionID's archive to w, chunk by chunk, and
// returns the number of bytes written. An error from w stops the download
// and is returned as is; a panic in w stops it and is re-raised here, after
// the library has cleaned up. Only the start of the data is checked to be a
// ZIP archive: treat it as unverified until DownloadTo returns nil.
func (c *Client) DownloadTo(ctx context.Context, sessionID string, w io.Writer) (int64, error) {
	if w == nil {
		return 0, errNilWriter
	}
	var cs cstrings
	defer cs.free()
	id, err := cs.add("session id", sessionID)
	if err != nil {
		return 0, err
	}
	var n int64
	err = c.do(ctx, func(cl *C.bb_client, st *call) error {
		s := &stream{call: st, w: w}
		h := cgo.NewHandle(s)
		defer h.Delete()
		var cerr *C.bb_error
		rc := C.bb_go_client_download_to_callback(cl, nil, id, C.uintptr_t(h), st.options(), &cerr)
		n = s.n
		return finish(st, rc, cerr)
	})
	return n, err
}

// WaitForDownloads polls until session sessionID's archive holds a file
// (with Stable, until two polls agree), for at most timeout (0 polls once),
// then writes it to path atomically. Running out is ErrNotReady.
func (c *Client) WaitForDownloads(ctx context.Context, sessionID, path string, timeout time.Duration, opts ...WaitOption) error {
	var cs cstrings
	defer cs.free()
	id, err := cs.add("session id", sessionID)
	if err != nil {
		return err
	}
	p, err := cs.add("path", path)
	if err != nil {
		return err
	}
	ms, err := millis("timeout", timeout, true)
	if err != nil {
		return err
	}
	return c.do(ctx, func(cl *C.bb_client, st *call) error {
		var cerr *C.bb_error
		return finish(st, C.bb_client_wait_for_downloads_opts(cl, nil, id, ms, waitFlags(opts), p, st.options(), &cerr), cerr)
	})
}

// WaitForDownloadsBytes is WaitForDownloads returning the archive.
func (c *Client) WaitForDownloadsBytes(ctx context.Context, sessionID string, timeout time.Duration, opts ...WaitOption) ([]byte, error) {
	var cs cstrings
	defer cs.free()
	id, err := cs.add("session id", sessionID)
	if err != nil {
		return nil, err
	}
	ms, err := millis("timeout", timeout, true)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = c.do(ctx, func(cl *C.bb_client, st *call) error {
		var data *C.uint8_t
		var n C.size_t
		var cerr *C.bb_error
		if err := finish(st, C.bb_client_wait_for_downloads_to_buffer_opts(cl, nil, id, ms, waitFlags(opts), &data, &n, st.options(), &cerr), cerr); err != nil {
			return err
		}
		out = buffer(data, n)
		return nil
	})
	return out, err
}

// ExtractDownloads waits as WaitForDownloads, then extracts the files
// safely into dir (created if missing) under their original names.
func (c *Client) ExtractDownloads(ctx context.Context, sessionID, dir string, timeout time.Duration, opts ...WaitOption) error {
	var cs cstrings
	defer cs.free()
	id, err := cs.add("session id", sessionID)
	if err != nil {
		return err
	}
	d, err := cs.add("dir", dir)
	if err != nil {
		return err
	}
	ms, err := millis("timeout", timeout, true)
	if err != nil {
		return err
	}
	return c.do(ctx, func(cl *C.bb_client, st *call) error {
		var cerr *C.bb_error
		return finish(st, C.bb_client_extract_downloads_opts(cl, nil, id, ms, waitFlags(opts), d, st.options(), &cerr), cerr)
	})
}

// ---------------------------------------------------------------------------
// The package-level functions: one client from the environment
// ---------------------------------------------------------------------------

var (
	defaultOnce   sync.Once
	defaultClient *Client
	defaultErr    error
)

// Default is the client the package-level functions use: the built-in
// defaults and the BROWSERBASE_* environment variables, made on first use.
func Default() (*Client, error) {
	defaultOnce.Do(func() { defaultClient, defaultErr = NewClient() })
	return defaultClient, defaultErr
}

// Download is Default().Download.
func Download(ctx context.Context, sessionID, path string) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return c.Download(ctx, sessionID, path)
}

// DownloadBytes is Default().DownloadBytes.
func DownloadBytes(ctx context.Context, sessionID string) ([]byte, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	return c.DownloadBytes(ctx, sessionID)
}

// DownloadTo is Default().DownloadTo.
func DownloadTo(ctx context.Context, sessionID string, w io.Writer) (int64, error) {
	c, err := Default()
	if err != nil {
		return 0, err
	}
	return c.DownloadTo(ctx, sessionID, w)
}

// WaitForDownloads is Default().WaitForDownloads.
func WaitForDownloads(ctx context.Context, sessionID, path string, timeout time.Duration, opts ...WaitOption) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return c.WaitForDownloads(ctx, sessionID, path, timeout, opts...)
}

// WaitForDownloadsBytes is Default().WaitForDownloadsBytes.
func WaitForDownloadsBytes(ctx context.Context, sessionID string, timeout time.Duration, opts ...WaitOption) ([]byte, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	return c.WaitForDownloadsBytes(ctx, sessionID, timeout, opts...)
}

// ExtractDownloads is Default().ExtractDownloads.
func ExtractDownloads(ctx context.Context, sessionID, dir string, timeout time.Duration, opts ...WaitOption) error {
	c, err := Default()
	if err != nil {
		return err
	}
	return c.ExtractDownloads(ctx, sessionID, dir, timeout, opts...)
}

// Version is the linked library's version, such as "0.1.0".
func Version() string { return C.GoString(C.bb_version()) }
