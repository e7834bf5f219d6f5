package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// TestReaderRacingCommit: process r reads an entry while process w,
// holding the entry's lock as the engine does, commits a new body. Once w
// is done, r finds w's entry: neither the old metadata nor a miss.
func TestReaderRacingCommit(t *testing.T) {
	for _, maxBytes := range []int64{0, 1 << 40} { // with a cap, lookups record uses (Chtimes)
		t.Run(fmt.Sprint("max=", maxBytes), func(t *testing.T) { readerRacingCommit(t, maxBytes) })
	}
}

const trials = 400 // racy by nature: TestStaleVerdictSparesANewSidecar is the deterministic check

func readerRacingCommit(t *testing.T, maxBytes int64) {
	dir := t.TempDir()
	ctx := context.Background()
	r := newStore(t, dir, Options{MaxBytes: maxBytes})
	w := newStore(t, dir, Options{MaxBytes: maxBytes})
	k := urlKey(t, "https://example.com/doc")
	_, metaPath := w.paths(k)
	bad := 0
	for trial := range trials {
		a := bytes.Repeat([]byte{'a'}, 100)
		b := bytes.Repeat([]byte{'b'}, 100)
		if err := put(t, w, k, a, time.Time{}); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-2 * time.Minute) // last used two minutes ago
		if err := os.Chtimes(metaPath, old, old); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		delay := rand.IntN(4000)
		go func() {
			defer wg.Done()
			for i := 0; i < delay; i++ {
				_ = i * i
			}
			lookup(r, k)
		}()
		go func() {
			defer wg.Done()
			unlock, err := w.Lock(ctx, k, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			if err := put(t, w, k, b, time.Time{}); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		_, onDisk := os.Stat(metaPath)
		cm, _ := r.metas.get(k.String())
		got, err := lookup(r, k)
		if !bytes.Equal(got, b) {
			if bad < 5 {
				stale := cm.meta != nil && cm.meta.Sum() != crc32.Checksum(b, cache.Castagnoli)
				t.Logf("trial %d: after w's commit r reads %q, %v (sidecar on disk before: %v; r caches the old metadata: %v)", trial, got, err, onDisk, stale)
			}
			bad++
			w.Remove(ctx, k)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d trials: r lost or misread w's committed entry", bad, trials)
	}
}

// TestStaleVerdictSparesANewSidecar: a verdict reached on a sidecar that
// another process has replaced since (the body is damaged; the body is
// good and has a new identity) leaves the new sidecar alone.
func TestStaleVerdictSparesANewSidecar(t *testing.T) {
	s := newStore(t, t.TempDir())
	k := urlKey(t, "https://example.com/doc")
	if err := put(t, s, k, []byte("v1"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	bodyPath, metaPath := s.paths(k)
	fi, err := os.Stat(metaPath)
	if err != nil {
		t.Fatal(err)
	}
	stale := idOf(fi)
	old, _, err := s.Lookup(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, k, []byte("v2"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	s.damaged(k.String(), bodyPath, stale, errors.New("judged on v1's sidecar"))
	mustLookup(t, s, k, []byte("v2"))
	s.refreshID(k, metaPath, stale, old, "2.0.1")
	s.metas.forget(k.String())
	mustLookup(t, s, k, []byte("v2"))
}
