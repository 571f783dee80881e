package browserbase_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeSnippet builds and runs the repository README's Go snippet, as
// written, against the stand-in server (a module of its own that replaces
// this one with this directory: nothing is downloaded).
func TestReadmeSnippet(t *testing.T) {
	text, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(string(text), "\n## Using it from Go\n")
	if at < 0 {
		t.Fatal("README has no Go section")
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindStringSubmatch(string(text[at:]))
	if m == nil {
		t.Fatal("no go block in the Go section")
	}
	here, _ := filepath.Abs(".")
	dir := t.TempDir()
	mod := "module readme\n\ngo 1.19\n\nrequire github.com/browserbase/libbrowserbase/bindings/go v0.0.0\n\n" +
		"replace github.com/browserbase/libbrowserbase/bindings/go => " + here + "\n"
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(m[1]), 0o644)
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local")
	build := exec.Command("go", "build", "-o", "app", ".")
	build.Dir, build.Env = dir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := exec.Command("./app", demoSession)
	run.Dir = dir
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^report\.pdf \d+ 2024-06-24`).Match(out) {
		t.Fatalf("output:\n%s", out)
	}
	for _, name := range []string{"data.csv", "report.pdf"} {
		if _, err := os.Stat(filepath.Join(dir, "out", name)); err != nil {
			t.Fatal(err)
		}
	}
	missing := exec.Command("./app", unknownSession)
	missing.Dir = dir
	out, err = missing.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no such session") {
		t.Fatalf("unknown session: %v\n%s", err, out)
	}
}
