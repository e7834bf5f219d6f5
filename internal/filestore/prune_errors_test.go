package filestore

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// A removal that fails (here an immutable folder, as a failing disk or a
// read-only mount would) must not be counted as done: Prune's result and
// the usage it sets must describe what is left.
func TestPruneCountsFailedRemovals(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir, Options{MaxBytes: 1 << 30})
	ctx := context.Background()
	k := urlKey(t, "https://example.com/locked/doc")
	if err := put(t, s, k, make([]byte, 4096), time.Time{}); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "example.com", "locked")
	if out, err := exec.Command("chattr", "+i", folder).CombinedOutput(); err != nil {
		t.Skipf("chattr: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", folder).Run() })
	r, err := s.Prune(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Removed != 0 || r.Bytes != sum.Bytes || s.usage.Load() != sum.Bytes {
		t.Fatalf("Prune: Removed %d, FreedBytes %d, Bytes %d, usage %d, Evictions %d; the folder still holds %d entries, %d bytes; Errors %d",
			r.Removed, r.FreedBytes, r.Bytes, s.usage.Load(), s.Stats().Evictions, sum.Entries, sum.Bytes, s.Stats().Errors)
	}
}
