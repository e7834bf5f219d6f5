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

// TestVariantSharesItsURLsLock: a variant's Lock shares the URL's lock this
// Store holds for another download instead of waiting for it; a request
// for the URL itself still waits, and so does another Store on the folder
// (another process) until the last holder lets go.
func TestVariantSharesItsURLsLock(t *testing.T) {
	dir := t.TempDir()
	s, other := newStore(t, dir), newStore(t, dir)
	base := urlKey(t, "https://example.com/a")
	va, vb := base, base
	va.Vary, vb.Vary = "0123456789abcdef01234567", "76543210fedcba9876543210"
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	unlockA, err := s.Lock(context.Background(), va, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlockB, err := s.Lock(short(), vb, nil)
	if err != nil {
		t.Fatalf("variant B while this Store holds the URL's lock for A: %v, want a share at once", err)
	}
	if _, err := s.Lock(short(), base, nil); err == nil {
		t.Fatal("the URL itself got its lock while variants hold it")
	}
	unlockA()
	if _, err := other.Lock(short(), vb, nil); err == nil {
		t.Fatal("another process got the lock while variant B still holds it")
	}
	unlockB()
	unlock, err := other.Lock(short(), vb, nil)
	if err != nil {
		t.Fatalf("another process after both let go: %v", err)
	}
	unlock()
}
