package cache

import (
	"sync"
	"testing"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

func TestCounters(t *testing.T) {
	var c counters
	var wg sync.WaitGroup
	for _, s := range []string{cachestatus.Hit, cachestatus.Hit, cachestatus.Miss, cachestatus.Revalidated,
		cachestatus.Stale, cachestatus.Bypass, cachestatus.Bypass, cachestatus.Bypass, "other", ""} {
		wg.Go(func() { c.count(s) })
	}
	wg.Wait()
	if h, m, r, s, b := c.status[0].Load(), c.status[1].Load(), c.status[2].Load(), c.status[3].Load(), c.status[4].Load(); h != 2 || m != 1 || r != 1 || s != 1 || b != 3 {
		t.Fatalf("hits %d misses %d revalidated %d stale %d bypass %d, want 2 1 1 1 3", h, m, r, s, b)
	}
}
