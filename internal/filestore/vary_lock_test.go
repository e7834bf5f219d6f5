package filestore

import (
	"context"
	"hash/crc32"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// cache.Transport takes the lock of the request's key (no Vary) and then
// writes the variant k (k.Vary set) under it. A prune anywhere in the
// folder meanwhile must spare the download, as it does for plain entries.
func TestVariantDownloadSurvivesPrune(t *testing.T) {
	for _, vary := range []string{"", "0123456789abcdef01234567"} {
		t.Run("vary="+vary, func(t *testing.T) {
			dir := t.TempDir()
			s := newStore(t, dir)
			ctx := context.Background()
			base := urlKey(t, "https://example.com/a")
			k := base
			k.Vary = vary
			unlock, err := s.Lock(ctx, base, nil) // what cache.Transport.lead locks
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			body := []byte("the body of one variant")
			m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Size: int64(len(body))}
			w, err := s.Create(ctx, k, m)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Write(body); err != nil {
				t.Fatal(err)
			}
			// Another process prunes (or this one evicts) with room to spare.
			if _, err := PruneDir(ctx, dir, 1<<40); err != nil {
				t.Fatal(err)
			}
			m.SetSum(int64(len(body)), crc32.Checksum(body, cache.Castagnoli))
			if err := w.Commit(ctx, m); err != nil {
				t.Fatalf("Commit of a download in progress under its lock, after a prune: %v", err)
			}
			mustLookup(t, s, k, body)
		})
	}
}
