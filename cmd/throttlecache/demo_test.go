package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	tmp := t.TempDir()
	o := runTool(t, "", []string{"TMPDIR=" + tmp}, "demo")
	if o.code != 0 {
		t.Fatalf("want exit status 0:\n%v", o)
	}
	for _, want := range []string{
		"Pass 1: downloading 40 files",
		"40 downloaded, 0 from the cache",
		"Busiest one-second window at the origin: ",
		"All 40 files are byte-identical",
		"Second pass: 40 of 40 from the cache (X-Cache: HIT)",
		"0 requests reached the origin",
		"Manager.Stats():",
		"hits 40, misses 40",
	} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("no %q in the demo's output:\n%s", want, o.stdout)
		}
	}
	if !strings.Contains(o.stderr, "] HIT ") {
		t.Errorf("no HIT lines in the plain progress:\n%s", o.stderr)
	}
	if o.elapsed > 15*time.Second {
		t.Errorf("the demo took %v; it should take about 5 s", o.elapsed)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %v in the temporary folder", left)
	}
}

func TestDemoKeep(t *testing.T) {
	t.Parallel()
	keep := filepath.Join(t.TempDir(), "demo")
	o := runTool(t, "", nil, "demo", "-keep", keep, "-files", "12", "-rps", "50", "-progress", "none")
	if o.code != 0 || o.stderr != "" {
		t.Fatalf("want exit status 0 and a quiet stderr:\n%v", o)
	}
	if got := listFiles(t, filepath.Join(keep, "files")); len(got) != 12 {
		t.Errorf("kept %d files, want 12", len(got))
	}
	o = runTool(t, "", nil, "cache", "stats", "-dir", filepath.Join(keep, "cache"))
	if o.code != 0 || !strings.Contains(o.stdout, "entries:  12\n") {
		t.Errorf("stats of the kept cache:\n%v", o)
	}
}
