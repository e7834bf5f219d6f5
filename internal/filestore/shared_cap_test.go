package filestore

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCapHoldsAcrossProcesses: two Stores on one folder stand for two
// processes sharing it, each with the same MaxBytes; the folder ends up
// within the cap and the eighth of it the other process may have committed
// since it was last measured, though each counts only its own commits
// (without measuring the folder it would hold 1.5 MiB).
func TestCapHoldsAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 1 << 20
	a := newStore(t, dir, Options{MaxBytes: maxBytes})
	b := newStore(t, dir, Options{MaxBytes: maxBytes})
	a.Close() // the initial measurements are done
	b.Close()
	body := make([]byte, 64<<10)
	for i := range 12 {
		for name, s := range map[string]*Store{"a": a, "b": b} {
			k := urlKey(t, fmt.Sprintf("https://example.com/%s%d", name, i))
			unlock, err := s.Lock(context.Background(), k, nil) // as the engine writes
			if err != nil {
				t.Fatal(err)
			}
			if err := put(t, s, k, body, time.Time{}); err != nil {
				t.Fatal(err)
			}
			unlock()
		}
	}
	a.Close()
	b.Close()
	sum, err := Inspect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Bytes > maxBytes+maxBytes/8 {
		t.Fatalf("folder holds %d bytes in %d entries, over MaxBytes %d and an eighth; evictions: a %d, b %d",
			sum.Bytes, sum.Entries, maxBytes, a.Stats().Evictions, b.Stats().Evictions)
	}
}
