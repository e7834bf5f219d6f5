//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

func TestGetInterrupt(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, trickled over about 6 s
	srv.Handle("/fast", testserver.Generated(1000, 1))
	urls := []string{srv.URL + "/fast"}
	for _, name := range []string{"/slow/a", "/slow/b", "/slow/c", "/slow/d"} {
		srv.Handle(name, testserver.SlowBody(body, 16<<10, 100*time.Millisecond))
		urls = append(urls, srv.URL+name)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	rulesFile := filepath.Join(dir, "rules.json")
	os.WriteFile(rulesFile, []byte(`{".*": {"/": true}}`), 0o644)

	cmd := exec.Command(tool, append([]string{"get", "-o", out, "-concurrency", "5", "-rules", rulesFile, "-cache-dir", filepath.Join(dir, "cache")}, urls...)...)
	cmd.Env = toolEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Hits("/slow/a")+srv.Hits("/slow/b")+srv.Hits("/slow/c")+srv.Hits("/slow/d") < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // some bytes are on their way
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running 5 s after SIGINT; stderr:\n%s", stderr.String())
	}
	if d := time.Since(sent); d > 2*time.Second {
		t.Errorf("stopped %v after SIGINT", d)
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit status %d, want 130; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"Interrupted after ", "4 not finished", "no partial file"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("no %q in the summary:\n%s", want, stderr.String())
		}
	}
	// Only the finished file is there: no partial file, no temporary file.
	got := listFiles(t, out)
	if len(got) != 1 || got[0] != hostDir(srv)+"/fast" {
		t.Errorf("files after the interrupt: %v", got)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
}
