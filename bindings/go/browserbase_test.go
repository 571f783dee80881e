package browserbase_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bb "github.com/browserbase/libbrowserbase/bindings/go"
)

const (
	apiKey         = "bb_test_key"
	demoSession    = "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80"
	emptySession   = "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91"
	unknownSession = "00000000-0000-4000-8000-000000000000"
	demoPDFms      = 1719265797164
)

var baseURL string

// TestMain starts the stand-in server (BB_STAND_IN_SERVER, default the
// debug build) on 127.0.0.1:0 and points the environment at it before the
// library's first use.
func TestMain(m *testing.M) {
	server := os.Getenv("BB_STAND_IN_SERVER")
	if server == "" {
		server = "../../target/debug/bb-stand-in-server"
	}
	cmd := exec.Command(server, "--listen", "127.0.0.1:0", "--demo", "--exit-on-stdin-eof")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the stand-in server (cargo build first):", err)
		os.Exit(2)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	match := regexp.MustCompile(`^listening (http://127\.0\.0\.1:\d+)\s*$`).FindStringSubmatch(line)
	if match == nil {
		fmt.Fprintf(os.Stderr, "unexpected first line %q\n", line)
		cmd.Process.Kill()
		os.Exit(2)
	}
	go io.Copy(io.Discard, stdout)
	baseURL = match[1]
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BROWSERBASE_") {
			os.Unsetenv(strings.SplitN(kv, "=", 2)[0])
		}
	}
	os.Setenv("BROWSERBASE_BASE_URL", baseURL)
	os.Setenv("BROWSERBASE_API_KEY", apiKey)
	code := m.Run()
	stdin.Close()
	cmd.Process.Kill()
	cmd.Wait()
	os.Exit(code)
}

func control(t testing.TB, method, rest, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, baseURL+"/_control/"+rest, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("control %s %s: %d %s", method, rest, res.StatusCode, text)
	}
	return string(text)
}

func script(t testing.TB, id, steps string) { control(t, "POST", "sessions/"+id+"/script", steps) }

func requestCount(t testing.TB) int {
	n, _ := strconv.Atoi(strings.TrimSpace(control(t, "GET", "requests/count", "")))
	return n
}

// waitForRequests waits on the server's request log (polled), at most 10 s.
func waitForRequests(t testing.TB, n int) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for requestCount(t) < n {
		if time.Now().After(end) {
			t.Fatalf("fewer than %d requests arrived within 10 s", n)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for the event
	}
}

func leftovers(t testing.TB, dir string) []string {
	var names []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	sort.Strings(names)
	return names
}

func openFDs(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestDownloadFileBytesWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "a.zip")
	if err := bb.Download(ctx, demoSession, file); err != nil {
		t.Fatal(err)
	}
	data, err := bb.DownloadBytes(ctx, demoSession)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(file)
	if !bytes.Equal(onDisk, data) || !bytes.HasPrefix(data, []byte("PK")) {
		t.Fatalf("file and bytes differ (%d, %d bytes)", len(onDisk), len(data))
	}
	var buf bytes.Buffer
	n, err := bb.DownloadTo(ctx, demoSession, &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("DownloadTo: %d bytes, %v", n, err)
	}
	if got := leftovers(t, dir); len(got) != 1 {
		t.Fatalf("left: %v", got)
	}
}

type failingWriter struct{ calls int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	return 0, errors.New("disk on fire")
}

type panickingWriter struct{ calls int }

func (w *panickingWriter) Write(p []byte) (int, error) {
	w.calls++
	panic("writer exploded")
}

func TestWriterErrorCancelsAndIsReturned(t *testing.T) {
	script(t, demoSession, "trickle 500 5")
	w := &failingWriter{}
	_, err := bb.DownloadTo(context.Background(), demoSession, w)
	if err == nil || err.Error() != "disk on fire" {
		t.Fatalf("got %v", err)
	}
	if w.calls != 1 {
		t.Fatalf("the writer was called %d times after failing", w.calls)
	}
}

func TestWriterPanicIsRecoveredInsideAndRepanicked(t *testing.T) {
	script(t, demoSession, "trickle 500 5")
	w := &panickingWriter{}
	func() {
		defer func() {
			if p := recover(); p != "writer exploded" {
				t.Fatalf("recovered %v", p)
			}
		}()
		bb.DownloadTo(context.Background(), demoSession, w)
		t.Fatal("no panic")
	}()
	if w.calls != 1 {
		t.Fatalf("the writer was called %d times after panicking", w.calls)
	}
	script(t, demoSession, "")
}

func TestTwoHundredRecoveredPanicsLeakNoDescriptors(t *testing.T) {
	ctx := context.Background()
	// Warm up: the library's client and its connections exist before counting.
	if _, err := bb.DownloadBytes(ctx, demoSession); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	for i := 0; i < 200; i++ {
		func() {
			defer func() { recover() }()
			bb.DownloadTo(ctx, demoSession, &panickingWriter{})
		}()
	}
	after := openFDs(t)
	if after > before+4 {
		t.Fatalf("%d descriptors before, %d after 200 recovered panics", before, after)
	}
}

func TestProgressAndItsErrors(t *testing.T) {
	ctx := context.Background()
	var seen [][2]int64
	c, err := bb.NewClient(bb.WithProgress(func(r uint64, total int64) error {
		seen = append(seen, [2]int64{int64(r), total})
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, err := c.DownloadBytes(ctx, demoSession)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(data))
	if seen[0] != [2]int64{0, n} || seen[len(seen)-1] != [2]int64{n, n} {
		t.Fatalf("progress %v", seen)
	}
	dir := t.TempDir()
	stop := errors.New("enough")
	c2, _ := bb.NewClient(bb.WithProgress(func(r uint64, _ int64) error {
		if r > 0 {
			return stop
		}
		return nil
	}))
	defer c2.Close()
	if err := c2.Download(ctx, demoSession, filepath.Join(dir, "x.zip")); err != stop {
		t.Fatalf("got %v", err)
	}
	c3, _ := bb.NewClient(bb.WithProgress(func(uint64, int64) error { panic("progress exploded") }))
	defer c3.Close()
	func() {
		defer func() {
			if p := recover(); p != "progress exploded" {
				t.Fatalf("recovered %v", p)
			}
		}()
		c3.Download(ctx, demoSession, filepath.Join(dir, "y.zip"))
	}()
	if got := leftovers(t, dir); len(got) != 0 {
		t.Fatalf("left: %v", got)
	}
}

func TestContextCheckedBeforeTheCall(t *testing.T) {
	before := requestCount(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bb.DownloadBytes(ctx, demoSession); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	// And between chunks of a streamed download.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	script(t, demoSession, "trickle 500 5")
	calls := 0
	_, err := bb.DownloadTo(ctx2, demoSession, writerFunc(func(p []byte) (int, error) {
		calls++
		cancel2()
		return len(p), nil
	}))
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("got %v after %d chunks", err, calls)
	}
	if n := requestCount(t); n != before+1 {
		t.Fatalf("%d requests, want %d", n, before+1)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestWaitsArchivesAndExtraction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "w.zip")
	if err := bb.WaitForDownloads(ctx, demoSession, file, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	data, err := bb.WaitForDownloadsBytes(ctx, demoSession, 5*time.Second, bb.Stable())
	if err != nil {
		t.Fatal(err)
	}
	_, err = bb.WaitForDownloadsBytes(ctx, emptySession, 0)
	var apiErr *bb.APIError
	if !errors.Is(err, bb.ErrNotReady) || !errors.As(err, &apiErr) || apiErr.Code != bb.CodeNotReady {
		t.Fatalf("got %v", err)
	}
	for _, open := range []func() (*bb.Archive, error){
		func() (*bb.Archive, error) { return bb.OpenArchive(file) },
		func() (*bb.Archive, error) { return bb.OpenArchiveBytes(data) },
	} {
		a, err := open()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range a.Entries() {
			names = append(names, e.OriginalName)
			if e.OriginalName == "report.pdf" {
				if e.Name != fmt.Sprintf("report-%d.pdf", demoPDFms) || e.DownloadTime.UnixMilli() != demoPDFms || e.Size == 0 || e.ModTime.IsZero() || e.IsDir() {
					t.Fatalf("entry %+v", e)
				}
			}
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "data.csv,report.pdf" {
			t.Fatalf("entries %v", names)
		}
		if err := a.SetLimits(10, 0); err != nil {
			t.Fatal(err)
		}
		if err := a.Extract(ctx, filepath.Join(dir, "small")); !errors.Is(err, bb.ErrInvalidArchive) {
			t.Fatalf("got %v", err)
		}
		a.SetLimits(0, 0)
		if err := a.Extract(ctx, filepath.Join(dir, "out1")); err != nil {
			t.Fatal(err)
		}
		a.Close()
		a.Close()
		if err := a.Extract(ctx, filepath.Join(dir, "out1")); !errors.Is(err, bb.ErrInvalidArgument) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if err := bb.Extract(ctx, file, filepath.Join(dir, "out2")); err != nil {
		t.Fatal(err)
	}
	if err := bb.ExtractDownloads(ctx, demoSession, filepath.Join(dir, "out3"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{"out1", "out2", "out3"} {
		if got := strings.Join(leftovers(t, filepath.Join(dir, out)), ","); got != "data.csv,report.pdf" {
			t.Fatalf("%s: %s", out, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "small")); !os.IsNotExist(err) {
		t.Fatalf("a refused extraction left %v", err)
	}
	if _, err := bb.OpenArchiveBytes([]byte("not a zip")); !errors.Is(err, bb.ErrInvalidArchive) {
		t.Fatalf("got %v", err)
	}
}

func TestErrorsByCodeAndStatus(t *testing.T) {
	ctx := context.Background()
	c, err := bb.NewClient(bb.WithMaxRetries(0), bb.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cases := []struct {
		step   string
		target error
		status int
	}{
		{"status 400", bb.ErrHTTP, 400},
		{"status 403", bb.ErrPermissionDenied, 403},
		{"status 409", bb.ErrHTTP, 409},
		{"status 429", bb.ErrRateLimited, 429},
		{"status 503", bb.ErrServer, 503},
		{"reset", bb.ErrConnection, 0},
		{"stall-headers 3000", bb.ErrTimeout, 0},
		{"html", bb.ErrInvalidArchive, 0},
	}
	for _, tc := range cases {
		script(t, demoSession, tc.step)
		_, err := c.DownloadBytes(ctx, demoSession)
		var apiErr *bb.APIError
		if !errors.Is(err, tc.target) || !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status {
			t.Fatalf("%s: got %#v", tc.step, err)
		}
	}
	script(t, demoSession, "")
	_, err = bb.DownloadBytes(ctx, unknownSession)
	var apiErr *bb.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != bb.CodeNotFound || !errors.Is(err, bb.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	bad, _ := bb.NewClient(bb.WithAPIKey("bb_wrong"))
	defer bad.Close()
	if _, err := bad.DownloadBytes(ctx, demoSession); !errors.Is(err, bb.ErrAuthentication) || strings.Contains(err.Error(), "bb_wrong") {
		t.Fatalf("got %v", err)
	}
	if err := bb.Download(ctx, demoSession, filepath.Join(t.TempDir(), "no", "dir", "x.zip")); !errors.Is(err, bb.ErrIO) {
		t.Fatalf("got %v", err)
	}
}

func TestBadInputSendsNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	before := requestCount(t)
	calls := []func() error{
		func() error { return bb.Download(ctx, "a\x00b", filepath.Join(dir, "x.zip")) },
		func() error { return bb.Download(ctx, demoSession, filepath.Join(dir, "x.zip\x00tail")) },
		func() error { _, err := bb.DownloadBytes(ctx, ""); return err },
		func() error { _, err := bb.WaitForDownloadsBytes(ctx, demoSession, -time.Second); return err },
		func() error { return bb.Extract(ctx, "a\x00", dir) },
		func() error { _, err := bb.NewClient(bb.WithBaseURL("http://example.com")); return err },
		func() error { _, err := bb.NewClient(bb.WithAPIKey("k\x00ey")); return err },
		func() error { _, err := bb.NewClient(bb.WithTimeout(0)); return err },
		func() error { _, err := bb.NewClient(bb.WithCAFile(filepath.Join(dir, "missing.pem"))); return err },
	}
	for i, call := range calls {
		if err := call(); !errors.Is(err, bb.ErrInvalidArgument) && !errors.Is(err, bb.ErrIO) {
			t.Fatalf("case %d: got %v", i, err)
		}
	}
	if _, err := bb.DownloadTo(ctx, demoSession, nil); err == nil {
		t.Fatal("nil writer accepted")
	}
	if n := requestCount(t); n != before {
		t.Fatalf("%d requests were sent", n-before)
	}
	if got := leftovers(t, dir); len(got) != 0 {
		t.Fatalf("left: %v", got)
	}
	c, _ := bb.NewClient()
	c.Close()
	if _, err := c.DownloadBytes(ctx, demoSession); !errors.Is(err, bb.ErrInvalidArgument) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestEightGoroutinesAtOnce(t *testing.T) {
	ctx := context.Background()
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("go-concurrent-%d", i)
		control(t, "POST", "sessions/"+ids[i]+"/files/"+fmt.Sprintf("f%d.txt", i), fmt.Sprintf("file %d", i))
		script(t, ids[i], "stall-headers 3000")
	}
	before := requestCount(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	finished := 0
	results := make([][]byte, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = bb.DownloadBytes(ctx, ids[i])
			mu.Lock()
			finished++
			mu.Unlock()
		}(i)
	}
	waitForRequests(t, before+8) // all 8 are inside the library at once
	mu.Lock()
	if finished != 0 {
		t.Fatalf("%d finished before all 8 had started", finished)
	}
	mu.Unlock()
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		a, err := bb.OpenArchiveBytes(results[i])
		if err != nil {
			t.Fatal(err)
		}
		if e := a.Entries(); len(e) != 1 || e[0].OriginalName != fmt.Sprintf("f%d.txt", i) {
			t.Fatalf("%d: %+v", i, e)
		}
		a.Close()
	}
}

func TestVersion(t *testing.T) {
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(bb.Version()) {
		t.Fatal(bb.Version())
	}
}

func TestClientOptionsReachTheServer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	control(t, "DELETE", "requests", "")
	c, err := bb.NewClient(bb.WithoutEnv(), bb.WithBaseURL(baseURL), bb.WithAPIKey(apiKey),
		bb.WithUserAgentSuffix("gotest/1.0"), bb.WithConnectTimeout(2*time.Second),
		bb.WithTimeout(5*time.Second), bb.WithDeadline(20*time.Second), bb.WithMaxRetries(1),
		bb.WithFsync(true))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	if _, err := c.DownloadTo(ctx, demoSession, &buf); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForDownloads(ctx, demoSession, filepath.Join(dir, "w.zip"), 5*time.Second, bb.Stable()); err != nil {
		t.Fatal(err)
	}
	if err := c.ExtractDownloads(ctx, demoSession, filepath.Join(dir, "out"), 5*time.Second, bb.Stable()); err != nil {
		t.Fatal(err)
	}
	if data, err := c.WaitForDownloadsBytes(ctx, demoSession, 0); err != nil || !bytes.Equal(data, buf.Bytes()) {
		t.Fatalf("%d bytes, %v", len(data), err)
	}
	log := control(t, "GET", "requests", "")
	if !regexp.MustCompile(`(?i)user-agent: browserbase-c/[0-9.]+ gotest/1\.0`).MatchString(log) {
		t.Fatalf("no user agent suffix in\n%s", log)
	}
	if _, err := bb.NewClient(bb.WithProxy("not a url")); !errors.Is(err, bb.ErrInvalidArgument) {
		t.Fatalf("bad proxy: %v", err)
	}
	// No key anywhere: refused before anything is sent.
	noKey, err := bb.NewClient(bb.WithoutEnv(), bb.WithBaseURL(baseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer noKey.Close()
	os.Unsetenv("BROWSERBASE_API_KEY")
	defer os.Setenv("BROWSERBASE_API_KEY", apiKey)
	before := requestCount(t)
	if _, err := noKey.DownloadBytes(ctx, demoSession); !errors.Is(err, bb.ErrInvalidArgument) {
		t.Fatalf("no key: %v", err)
	}
	if requestCount(t) != before {
		t.Fatal("a request was sent without a key")
	}
}

// A context that ends while the library waits on a silent server ends the
// call within seconds (through the library's cancel handle), leaving
// nothing behind; the error is both the context's and ErrCancelled.
func TestContextEndsACallStalledOnASilentServer(t *testing.T) {
	dir := t.TempDir()
	fdsBefore := openFDs(t)
	cases := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Download", func(ctx context.Context) error { return bb.Download(ctx, demoSession, filepath.Join(dir, "out.zip")) }},
		{"DownloadBytes", func(ctx context.Context) error { _, err := bb.DownloadBytes(ctx, demoSession); return err }},
		{"DownloadTo", func(ctx context.Context) error { _, err := bb.DownloadTo(ctx, demoSession, io.Discard); return err }},
		{"WaitForDownloads", func(ctx context.Context) error {
			return bb.WaitForDownloads(ctx, demoSession, filepath.Join(dir, "w.zip"), time.Minute)
		}},
		{"ExtractDownloads", func(ctx context.Context) error {
			return bb.ExtractDownloads(ctx, demoSession, filepath.Join(dir, "x"), time.Minute)
		}},
	}
	for _, tc := range cases {
		script(t, demoSession, "stall-headers 60000")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		started := time.Now()
		err := tc.run(ctx)
		took := time.Since(started)
		cancel()
		var apiErr *bb.APIError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, bb.ErrCancelled) ||
			!errors.As(err, &apiErr) || apiErr.Code != bb.CodeCancelled {
			t.Fatalf("%s: got %#v", tc.name, err)
		}
		if took > 5*time.Second {
			t.Fatalf("%s returned %v after the call began (the deadline was 300 ms)", tc.name, took)
		}
		if got := leftovers(t, dir); len(got) != 0 {
			t.Fatalf("%s left %v", tc.name, got)
		}
	}
	script(t, demoSession, "")

	// Cancelled from another goroutine once the request is out.
	script(t, demoSession, "stall-headers 60000")
	before := requestCount(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := bb.DownloadBytes(ctx, demoSession); done <- err }()
	waitForRequests(t, before+1)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, bb.ErrCancelled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled call did not return within 10 s")
	}
	script(t, demoSession, "")
	if n := openFDs(t); n != fdsBefore {
		t.Fatalf("%d descriptors open, %d before: a cancel handle leaked", n, fdsBefore)
	}
}

// Eight calls at once, each with its own deadline, against a silent server:
// all end by their contexts, each with its own error.
func TestEightGoroutinesWithDeadlines(t *testing.T) {
	ids := make([]string, 8)
	for i := range ids {
		ids[i] = fmt.Sprintf("go-deadline-%d", i)
		control(t, "POST", "sessions/"+ids[i]+"/files/f.txt", "x")
		script(t, ids[i], "stall-headers 60000")
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	started := time.Now()
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, errs[i] = bb.DownloadBytes(ctx, ids[i])
		}(i)
	}
	wg.Wait()
	if took := time.Since(started); took > 10*time.Second {
		t.Fatalf("8 calls took %v", took)
	}
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, bb.ErrCancelled) {
			t.Fatalf("%d: got %v", i, err)
		}
	}
}
