package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// Caps says what a cache.Store can do beyond the common contract.
type Caps struct {
	// Variants: entries of one URL for other credentials (Key.Variant) live
	// side by side. A ByteStore keeps one value per URL for them (its Vary
	// variants live side by side in every store).
	Variants bool
	// Tombstones: a download that started before an Invalidate, in any
	// process, fails to commit after it (files, S3). Elsewhere the engine
	// keeps that promise within a process.
	Tombstones bool
}

// RunStore runs the conformance cases of the engine's streaming store
// interface, each on a new store from newStore: what every backend of
// rfccache and filecache must do.
func RunStore(t *testing.T, caps Caps, newStore func(t *testing.T) cache.Store) {
	t.Helper()
	for _, tc := range storeCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs.Variants && !caps.Variants || tc.needs.Tombstones && !caps.Tombstones {
				t.Skipf("the store does not keep this promise (%+v)", tc.needs)
			}
			tc.run(t, newStore(t))
		})
	}
}

// StoreKey returns a key for name on a test origin.
func StoreKey(name string) cache.Key {
	return cache.Key{Host: "example.com", Path: "t/@" + name}
}

// Put stores body at k as a download that started at since, with the
// header fields hdr (name, value, …).
func Put(t testing.TB, s cache.Store, k cache.Key, body []byte, since time.Time, hdr ...string) error {
	t.Helper()
	m := &cache.Meta{Key: k.String(), Status: 200, Header: http.Header{}, Fetched: time.Now().Round(0),
		Started: since, Size: int64(len(body))}
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Add(hdr[i], hdr[i+1])
	}
	w, err := s.Create(context.Background(), k, m)
	if err != nil {
		return err
	}
	defer w.Close()
	for p := body; len(p) > 0; {
		n := min(len(p), 100<<10)
		if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	m.SetSum(int64(len(body)), crc32.Checksum(body, cache.Castagnoli))
	return w.Commit(context.Background(), m)
}

// MustLookup fails t unless s holds body at k.
func MustLookup(t testing.TB, s cache.Store, k cache.Key, body []byte) *cache.Meta {
	t.Helper()
	m, rc, err := s.Lookup(context.Background(), k)
	if err != nil {
		t.Fatalf("Lookup(%s): %v, want %d bytes", k, err, len(body))
	}
	if rc == nil {
		t.Fatalf("Lookup(%s): no body", k)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, body) || m.Size != int64(len(body)) {
		t.Fatalf("Lookup(%s): %d bytes (size %d), %v; want the %d bytes stored (%s)", k, len(got), m.Size, err, len(body), firstDiff(got, body))
	}
	return m
}

// mark writes the Vary marker m at k, which has no body.
func mark(t testing.TB, s cache.Store, k cache.Key, m *cache.Meta) {
	t.Helper()
	body, err := s.Update(context.Background(), k, m)
	if err != nil || body != nil {
		t.Fatalf("Update with a marker: body %v, %v; want none", body, err)
	}
}

// MustNotFind fails t unless s has nothing at k.
func MustNotFind(t testing.TB, s cache.Store, k cache.Key) {
	t.Helper()
	m, rc, err := s.Lookup(context.Background(), k)
	if rc != nil {
		rc.Close()
	}
	if !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Lookup(%s): %+v, %v; want ErrNotFound", k, m, err)
	}
}

var storeCases = []struct {
	name  string
	needs Caps
	run   func(t *testing.T, s cache.Store)
}{
	{"MissingIsNotFound", Caps{}, func(t *testing.T, s cache.Store) {
		MustNotFind(t, s, StoreKey("never"))
	}},
	{"CommitThenLookup", Caps{}, func(t *testing.T, s cache.Store) {
		for _, size := range []int{0, 1000, 100 << 10, 3 << 20, 20<<20 + 7} {
			k := StoreKey(fmt.Sprint("size-", size))
			v := Value(size, uint64(size))
			if err := Put(t, s, k, v, time.Now(), "Content-Type", "application/pdf", "Etag", `"v1"`); err != nil {
				t.Fatalf("%d bytes: %v", size, err)
			}
			m := MustLookup(t, s, k, v)
			if m.Status != 200 || m.Header.Get("Content-Type") != "application/pdf" || m.Header.Get("Etag") != `"v1"` || m.Key != k.String() {
				t.Fatalf("%d bytes: metadata %+v", size, m)
			}
		}
	}},
	{"NothingVisibleBeforeCommit", Caps{}, func(t *testing.T, s cache.Store) {
		k := StoreKey("pending")
		old := Value(1000, 1)
		Put(t, s, k, old, time.Now())
		v := Value(9<<20, 2)
		m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Started: time.Now(), Size: int64(len(v))}
		w, err := s.Create(context.Background(), k, m)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(v)
		got := make([]byte, 1000)
		if _, err := w.ReadAt(got, 4<<20); err != nil || !bytes.Equal(got, v[4<<20:4<<20+1000]) {
			t.Fatalf("ReadAt of what was written: %v", err)
		}
		MustLookup(t, s, k, old)
		w.Abort()
		if _, err := w.ReadAt(got, 0); err != nil || !bytes.Equal(got, v[:1000]) {
			t.Fatalf("ReadAt after Abort: %v", err)
		}
		w.Close()
		MustLookup(t, s, k, old)
	}},
	{"ReplaceAndOpenReaders", Caps{}, func(t *testing.T, s cache.Store) {
		k := StoreKey("replaced")
		v1, v2 := Value(2<<20, 1), Value(2<<20, 2)
		Put(t, s, k, v1, time.Now())
		_, rc, err := s.Lookup(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		head := make([]byte, 1000)
		io.ReadFull(rc, head)
		Put(t, s, k, v2, time.Now())
		rest, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(append(head, rest...), v1) {
			t.Fatalf("a reader of the old entry after a replace: %v, or not the old bytes", err)
		}
		MustLookup(t, s, k, v2)
	}},
	{"UpdateKeepsTheBody", Caps{}, func(t *testing.T, s cache.Store) {
		for _, size := range []int{10, 2 << 20} {
			k := StoreKey(fmt.Sprint("updated-", size))
			v := Value(size, 3)
			Put(t, s, k, v, time.Now(), "Etag", `"v1"`)
			m := MustLookup(t, s, k, v)
			nm := *m
			nm.Header = http.Header{"Etag": {`"v2"`}}
			nm.Fetched = m.Fetched.Add(time.Hour)
			body, err := s.Update(context.Background(), k, &nm)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(body)
			body.Close()
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("the body Update returns: %d bytes, %v; want the %d kept", len(got), err, len(v))
			}
			if got := MustLookup(t, s, k, v); got.Header.Get("Etag") != `"v2"` || !got.Fetched.Equal(nm.Fetched) {
				t.Fatalf("after Update: %+v", got)
			}
		}
	}},
	{"UpdateAfterAnInvalidation", Caps{}, func(t *testing.T, s cache.Store) {
		// A 304 sent before an invalidation and answered after it: the
		// entry stays invalidated.
		for _, size := range []int{10, 2 << 20} {
			k := StoreKey(fmt.Sprint("invalidated-", size))
			Put(t, s, k, Value(size, 1), time.Now())
			nm := *MustLookup(t, s, k, Value(size, 1))
			nm.Started = time.Now()
			if _, err := s.Invalidate(context.Background(), k.URL()); err != nil {
				t.Fatal(err)
			}
			if body, err := s.Update(context.Background(), k, &nm); err == nil {
				body.Close()
				t.Fatalf("size %d: Update after an invalidation succeeded", size)
			}
			MustNotFind(t, s, k)
		}
	}},
	{"UpdateOfAReplacedEntry", Caps{}, func(t *testing.T, s cache.Store) {
		// A 304 for the entry a request looked up, after another request
		// replaced it with a body of the same length: the new body must
		// not be served under the old entry's metadata.
		for _, size := range []int{10, 2 << 20} {
			k := StoreKey(fmt.Sprint("replaced-", size))
			Put(t, s, k, Value(size, 1), time.Now())
			m := MustLookup(t, s, k, Value(size, 1))
			Put(t, s, k, Value(size, 2), time.Now())
			body, err := s.Update(context.Background(), k, m)
			if err != nil {
				continue
			}
			got, err := io.ReadAll(body)
			body.Close()
			if err == nil {
				t.Fatalf("size %d: Update of a replaced entry returned %d bytes as complete (old body: %v)",
					size, len(got), bytes.Equal(got, Value(size, 1)))
			}
		}
	}},
	{"Remove", Caps{}, func(t *testing.T, s cache.Store) {
		k, other := StoreKey("removed"), StoreKey("other")
		Put(t, s, k, []byte("v"), time.Now())
		Put(t, s, other, []byte("w"), time.Now())
		if err := s.Remove(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		MustNotFind(t, s, k)
		MustLookup(t, s, other, []byte("w"))
		if err := s.Remove(context.Background(), StoreKey("never")); err != nil {
			t.Fatalf("Remove of nothing: %v", err)
		}
	}},
	{"InvalidateRemovesTheURL", Caps{}, func(t *testing.T, s cache.Store) {
		k, sibling := StoreKey("inv"), StoreKey("inv-sibling")
		Put(t, s, k, []byte("v"), time.Now())
		Put(t, s, sibling, []byte("w"), time.Now())
		if n, err := s.Invalidate(context.Background(), k.URL()); err != nil || n != 1 {
			t.Fatalf("Invalidate: %d, %v; want 1 entry removed", n, err)
		}
		MustNotFind(t, s, k)
		MustLookup(t, s, sibling, []byte("w"))
	}},
	{"InvalidateRemovesEveryVariant", Caps{Variants: true}, func(t *testing.T, s cache.Store) {
		k := StoreKey("inv")
		cred, vary := k, k
		cred.Variant, vary.Vary = "@cred-0123", "abcd"
		query := cache.Key{Host: k.Host, Path: k.Path + "@q=1"}
		for _, x := range []cache.Key{k, cred, vary, query} {
			Put(t, s, x, []byte(x.String()), time.Now())
		}
		mark(t, s, k, &cache.Meta{Key: k.String(), Vary: []string{"Accept-Language"}, Variants: []string{"abcd"}})
		if m, _, err := s.Lookup(context.Background(), k); err != nil || !m.Marker() {
			t.Fatalf("the marker: %+v, %v", m, err)
		}
		if n, err := s.Invalidate(context.Background(), k.URL()); err != nil || n != 3 {
			t.Fatalf("Invalidate: %d, %v; want 3 entries removed", n, err)
		}
		for _, x := range []cache.Key{k, cred, vary} {
			MustNotFind(t, s, x)
		}
		MustLookup(t, s, query, []byte(query.String()))
	}},
	{"VaryVariantsSideBySide", Caps{}, func(t *testing.T, s cache.Store) {
		k := StoreKey("vary")
		en, fr := k, k
		en.Vary, fr.Vary = "en00", "fr00"
		for _, x := range []cache.Key{en, fr} {
			Put(t, s, x, []byte(x.String()), time.Now())
		}
		mark(t, s, k, &cache.Meta{Key: k.String(), Vary: []string{"Accept-Language"}, Variants: []string{"fr00", "en00"}})
		if m, _, err := s.Lookup(context.Background(), k); err != nil || !m.Marker() || len(m.Variants) != 2 {
			t.Fatalf("the marker: %+v, %v; want both variants listed", m, err)
		}
		MustLookup(t, s, en, []byte(en.String()))
		MustLookup(t, s, fr, []byte(fr.String()))
		if n, err := s.Invalidate(context.Background(), k.URL()); err != nil || n != 3 {
			t.Fatalf("Invalidate: %d, %v; want the marker and 2 variants removed", n, err)
		}
		for _, x := range []cache.Key{k, en, fr} {
			MustNotFind(t, s, x)
		}
	}},
	{"InvalidationWinsOverEarlierDownloads", Caps{Tombstones: true}, func(t *testing.T, s cache.Store) {
		k := StoreKey("raced")
		before := time.Now()
		time.Sleep(time.Millisecond)
		s.Invalidate(context.Background(), k.URL())
		if err := Put(t, s, k, []byte("old"), before); !errors.Is(err, cache.ErrInvalidated) {
			t.Fatalf("commit of a download that started before the invalidation: %v", err)
		}
		MustNotFind(t, s, k)
		if err := Put(t, s, k, []byte("new"), time.Now()); err != nil {
			t.Fatal(err)
		}
		MustLookup(t, s, k, []byte("new"))
	}},
	{"SecretIsStable", Caps{}, func(t *testing.T, s cache.Store) {
		a, err := s.Secret(context.Background())
		if err != nil || len(a) < 32 {
			t.Fatalf("Secret: %d bytes, %v", len(a), err)
		}
		if b, _ := s.Secret(context.Background()); !bytes.Equal(a, b) {
			t.Fatal("a second call gave another secret")
		}
	}},
	{"ConcurrentWritersNeverMix", Caps{}, func(t *testing.T, s cache.Store) {
		k := StoreKey("race")
		vals := [][]byte{Value(64<<10, 1), Value(64<<10, 2), Value(1000, 3), Value(2<<20, 4)}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for i := range 4 {
					Put(t, s, k, vals[(w+i)%len(vals)], time.Now())
					_, rc, err := s.Lookup(context.Background(), k)
					if err != nil {
						continue
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					if err == nil && !matchesOne(got, vals) {
						t.Errorf("Lookup read %d bytes that are none of the values written", len(got))
						return
					}
				}
			})
		}
		wg.Wait()
	}},
}
