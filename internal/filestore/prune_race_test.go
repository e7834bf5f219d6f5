package filestore

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A prune that runs while entries are committed (under their locks, as
// cache.Transport commits) must not remove a committed entry's body: with
// room to spare it may only remove leftovers.
func TestPruneSparesCommittedBodies(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	ctx := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := PruneDir(ctx, dir, 1<<40); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	const n = 400
	body := []byte("a committed body")
	for i := range n {
		k := urlKey(t, fmt.Sprintf("https://example.com/e%d", i))
		unlock, err := s.Lock(ctx, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := put(t, s, k, body, time.Time{}); err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	stop.Store(true)
	wg.Wait()
	lost := 0
	for i := range n {
		k := urlKey(t, fmt.Sprintf("https://example.com/e%d", i))
		if _, err := lookup(s, k); err != nil {
			body, meta := s.paths(k)
			_, berr := os.Stat(body)
			_, merr := os.Stat(meta)
			if lost == 0 {
				t.Logf("%s: body: %v; sidecar: %v", k, berr, merr)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d committed entries lost to a prune with no cap pressure", lost, n)
	}
}
