package browserbase_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	bb "github.com/browserbase/libbrowserbase/bindings/go"
)

// sessions makes n sessions <prefix><i>, each with one file.
func sessions(t *testing.T, prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
		control(t, "POST", "sessions/"+ids[i]+"/files/"+ids[i]+".txt", ids[i])
	}
	return ids
}

func zipNames(ids []string) []string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id + ".zip"
	}
	sort.Strings(names)
	return names
}

func TestDownloadSessionsAllOK(t *testing.T) {
	ids := sessions(t, "gok", 5)
	client, err := bb.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for name, call := range map[string]func(string) (map[string]error, error){
		"client": func(dir string) (map[string]error, error) {
			return client.DownloadSessions(context.Background(), ids, dir, 2)
		},
		"default": func(dir string) (map[string]error, error) {
			return bb.DownloadSessions(context.Background(), ids, dir, 0)
		},
	} {
		dir := t.TempDir()
		results, err := call(dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(results) != len(ids) {
			t.Fatalf("%s: %v", name, results)
		}
		for _, id := range ids {
			if e, ok := results[id]; !ok || e != nil {
				t.Fatalf("%s: %s: %v", name, id, e)
			}
			archive, err := bb.OpenArchive(filepath.Join(dir, id+".zip"))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			entries := archive.Entries()
			archive.Close()
			if len(entries) != 1 || !strings.HasPrefix(entries[0].Name, id) {
				t.Fatalf("%s: %s: %v", name, id, entries)
			}
		}
		if got := leftovers(t, dir); fmt.Sprint(got) != fmt.Sprint(zipNames(ids)) {
			t.Fatalf("%s: %v", name, got)
		}
	}
}

func TestDownloadSessionsOneFailingIDAmongGoodOnes(t *testing.T) {
	good := sessions(t, "gfail", 3)
	ids := []string{good[0], unknownSession, good[1], good[2]}
	dir := t.TempDir()
	results, err := bb.DownloadSessions(context.Background(), ids, dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	e := results[unknownSession]
	var api *bb.APIError
	if !errors.Is(e, bb.ErrNotFound) || !errors.As(e, &api) || api.Code != bb.CodeNotFound {
		t.Fatalf("unknown session: %#v", e)
	}
	if strings.Contains(e.Error(), apiKey) || !regexp.MustCompile(`(?i)404|not found`).MatchString(e.Error()) {
		t.Fatalf("message: %v", e)
	}
	for _, id := range good {
		if results[id] != nil {
			t.Fatalf("%s: %v", id, results[id])
		}
	}
	if got := leftovers(t, dir); fmt.Sprint(got) != fmt.Sprint(zipNames(good)) {
		t.Fatal(got)
	}
}

func TestDownloadSessionsBadInputSendsNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	before := requestCount(t)
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		name string
		call func() (map[string]error, error)
		want error
	}{
		{"no ids", func() (map[string]error, error) { return bb.DownloadSessions(ctx, nil, dir, 0) }, bb.ErrInvalidArgument},
		{"empty id", func() (map[string]error, error) { return bb.DownloadSessions(ctx, []string{demoSession, ""}, dir, 0) }, bb.ErrInvalidArgument},
		{"duplicate", func() (map[string]error, error) {
			return bb.DownloadSessions(ctx, []string{demoSession, demoSession}, dir, 0)
		}, bb.ErrInvalidArgument},
		{"NUL", func() (map[string]error, error) { return bb.DownloadSessions(ctx, []string{"a\x00b"}, dir, 0) }, bb.ErrInvalidArgument},
		{"negative concurrency", func() (map[string]error, error) { return bb.DownloadSessions(ctx, []string{demoSession}, dir, -1) }, bb.ErrInvalidArgument},
		{"missing dir", func() (map[string]error, error) {
			return bb.DownloadSessions(ctx, []string{demoSession}, filepath.Join(dir, "missing"), 0)
		}, nil},
		{"not a dir", func() (map[string]error, error) { return bb.DownloadSessions(ctx, []string{demoSession}, file, 0) }, nil},
		{"NUL in dir", func() (map[string]error, error) {
			return bb.DownloadSessions(ctx, []string{demoSession}, dir+"\x00x", 0)
		}, bb.ErrInvalidArgument},
		{"ctx done", func() (map[string]error, error) { return bb.DownloadSessions(done, []string{demoSession}, dir, 0) }, bb.ErrCancelled},
	}
	for _, c := range cases {
		results, err := c.call()
		var api *bb.APIError
		if results != nil || err == nil || !errors.As(err, &api) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Fatalf("%s: %v %v", c.name, results, err)
		}
	}
	if n := requestCount(t); n != before {
		t.Fatalf("%d requests were sent", n-before)
	}
	if got := leftovers(t, dir); fmt.Sprint(got) != "[file]" {
		t.Fatal(got)
	}
}

func TestDownloadSessionsContextEndsMidBatchLeavingOnlyFinishedFiles(t *testing.T) {
	ids := sessions(t, "gstop", 6)
	script(t, ids[0], "stall-body 10 60000")
	defer script(t, ids[0], "")
	dir := t.TempDir()
	fds := openFDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		results map[string]error
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := bb.DownloadSessions(ctx, ids, dir, 2)
		done <- outcome{r, err}
	}()
	// Three archives renamed into place (the event), the first one stalled.
	end := time.Now().Add(10 * time.Second)
	for len(leftovers(t, dir)) < 3 {
		if time.Now().After(end) {
			t.Fatalf("three sessions did not finish within 10 s: %v", leftovers(t, dir))
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for the event
	}
	cancelled := time.Now()
	cancel()
	var out outcome
	select {
	case out = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch did not end within 10 s of the cancel")
	}
	if took := time.Since(cancelled); took > 5*time.Second {
		t.Fatalf("the batch took %v after the cancel", took)
	}
	if out.err != nil {
		t.Fatal(out.err)
	}
	first := out.results[ids[0]]
	if !errors.Is(first, context.Canceled) || !errors.Is(first, bb.ErrCancelled) {
		t.Fatalf("the stalled session: %v", first)
	}
	var ok []string
	for _, id := range ids {
		switch e := out.results[id]; {
		case e == nil:
			ok = append(ok, id)
		case !errors.Is(e, bb.ErrCancelled):
			t.Fatalf("%s: %v", id, e)
		}
	}
	if len(ok) < 3 {
		t.Fatal(out.results)
	}
	if got := leftovers(t, dir); fmt.Sprint(got) != fmt.Sprint(zipNames(ok)) {
		t.Fatalf("left %v, finished %v", got, ok)
	}
	if n := openFDs(t); n != fds {
		t.Fatalf("descriptors: %d before, %d after", fds, n)
	}
}

func TestResumeOption(t *testing.T) {
	dir := t.TempDir()
	want, err := bb.DownloadBytes(context.Background(), demoSession)
	if err != nil {
		t.Fatal(err)
	}
	defer script(t, demoSession, "")
	for _, resume := range []bool{true, false} {
		client, err := bb.NewClient(bb.WithResume(resume), bb.WithMaxRetries(2))
		if err != nil {
			t.Fatal(err)
		}
		script(t, demoSession, "cut 100\nok")
		before := requestCount(t)
		file := filepath.Join(dir, fmt.Sprint(resume)+".zip")
		err = client.Download(context.Background(), demoSession, file)
		client.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(file)
		if string(got) != string(want) {
			t.Fatalf("resume %v: a different archive", resume)
		}
		reqs := regexp.MustCompile(`\n(?:GET )`).Split("\n"+control(t, "GET", "requests", ""), -1)[1:]
		if len(reqs) < before+2 {
			t.Fatalf("resume %v: %d requests", resume, len(reqs))
		}
		retry := reqs[before+1]
		if ranged := regexp.MustCompile(`(?im)^range: bytes=100-\s*$`).MatchString(retry); ranged != resume {
			t.Fatalf("resume %v, second request:\n%s", resume, retry)
		}
	}
}

// TestReadmeBatchSnippet builds and runs the README's Go DownloadSessions
// snippet as written (as TestReadmeSnippet does the first one).
func TestReadmeBatchSnippet(t *testing.T) {
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(text)
	section = section[strings.Index(section, "\n## Using it from Go\n"):]
	section = section[:strings.Index(section[1:], "\n## ")+1]
	var block string
	for _, m := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(section, -1) {
		if strings.Contains(m[1], "DownloadSessions") {
			block = m[1]
		}
	}
	if block == "" {
		t.Fatal("no DownloadSessions block in the Go section")
	}
	here, _ := filepath.Abs(".")
	dir := t.TempDir()
	mod := "module readme\n\ngo 1.19\n\nrequire github.com/browserbase/libbrowserbase/bindings/go v0.0.0\n\n" +
		"replace github.com/browserbase/libbrowserbase/bindings/go => " + here + "\n"
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(block), 0o644)
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local")
	build := exec.Command("go", "build", "-o", "app", ".")
	build.Dir, build.Env = dir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	run := exec.Command("./app", "out", demoSession, unknownSession)
	run.Dir = dir
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^`+demoSession+` ok$`).Match(out) ||
		!regexp.MustCompile(`(?m)^`+unknownSession+` browserbase: .*404`).Match(out) {
		t.Fatalf("output:\n%s", out)
	}
	if got := leftovers(t, filepath.Join(dir, "out")); fmt.Sprint(got) != "["+demoSession+".zip]" {
		t.Fatal(got)
	}
	refused := exec.Command("./app", "missing-dir", demoSession)
	refused.Dir = dir
	if out, err := refused.CombinedOutput(); err == nil {
		t.Fatalf("a missing dir was not refused:\n%s", out)
	}
}

func TestDownloadSessionsProgressErrorStopsTheBatch(t *testing.T) {
	ids := sessions(t, "gprog", 3)
	stop := errors.New("stop here")
	client, err := bb.NewClient(bb.WithProgress(func(uint64, int64) error { return stop }))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	dir := t.TempDir()
	results, err := client.DownloadSessions(context.Background(), ids, dir, 1)
	if err != stop {
		t.Fatalf("err %v", err)
	}
	if len(results) != len(ids) {
		t.Fatal(results)
	}
	for _, id := range ids {
		if !errors.Is(results[id], bb.ErrCancelled) {
			t.Fatalf("%s: %v", id, results[id])
		}
	}
	if got := leftovers(t, dir); len(got) != 0 {
		t.Fatal(got)
	}
}
