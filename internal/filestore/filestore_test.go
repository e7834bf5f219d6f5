package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

func newStore(t testing.TB, dir string, opts ...Options) *Store {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := New(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func urlKey(t testing.TB, u string) cache.Key {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := cache.KeyFor(pu)
	if !ok {
		t.Fatalf("%s cannot be cached", u)
	}
	return k
}

// put stores body at k as a download that started at since would.
func put(t testing.TB, s *Store, k cache.Key, body []byte, since time.Time) error {
	t.Helper()
	m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Started: since, Size: int64(len(body))}
	w, err := s.Create(context.Background(), k, m)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := w.Write(body); err != nil {
		return err
	}
	m.SetSum(int64(len(body)), crc32.Checksum(body, cache.Castagnoli))
	return w.Commit(context.Background(), m)
}

// lookup returns the body stored at k, or an error.
func lookup(s *Store, k cache.Key) ([]byte, error) {
	_, body, err := s.Lookup(context.Background(), k)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}

func mustLookup(t testing.TB, s *Store, k cache.Key, want []byte) {
	t.Helper()
	got, err := lookup(s, k)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Lookup(%s): %d bytes, %v; want the %d bytes stored", k, len(got), err, len(want))
	}
}

func mustMiss(t testing.TB, s *Store, k cache.Key) {
	t.Helper()
	if got, err := lookup(s, k); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Lookup(%s): %d bytes, %v; want a miss", k, len(got), err)
	}
}

// A small entry's body is kept in memory after its first hit and served
// from there while the body file is the one its sidecar describes.
func TestSmallBodyServedFromMemory(t *testing.T) {
	s := newStore(t, t.TempDir())
	k := urlKey(t, "https://example.com/s")
	body := []byte("small and hot")
	if err := put(t, s, k, body, time.Now()); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, s, k, body)
	if c, ok := s.metas.get(k.String()); !ok || !bytes.Equal(c.body, body) {
		t.Fatalf("body not kept in memory: %q", c.body)
	}
	mustLookup(t, s, k, body)

	// Large bodies stay on disk.
	big := bytes.Repeat([]byte("x"), hotBodyMax+1)
	kb := urlKey(t, "https://example.com/big")
	put(t, s, kb, big, time.Now())
	mustLookup(t, s, kb, big)
	mustLookup(t, s, kb, big)
	if c, _ := s.metas.get(kb.String()); c.body != nil {
		t.Fatal("a body over hotBodyMax was kept in memory")
	}
}

// Another process replacing or removing the entry is seen at once: the
// body in memory is served only while the file is unchanged.
func TestSmallBodyInMemoryFollowsTheDisk(t *testing.T) {
	dir := t.TempDir()
	s, other := newStore(t, dir), newStore(t, dir)
	k := urlKey(t, "https://example.com/s")
	put(t, s, k, []byte("version one"), time.Now())
	mustLookup(t, s, k, []byte("version one"))
	mustLookup(t, s, k, []byte("version one"))

	put(t, other, k, []byte("version two, longer"), time.Now())
	mustLookup(t, s, k, []byte("version two, longer"))
	// Same length, other bytes: the file's identity still changes.
	put(t, other, k, []byte("version 3, longer!!"), time.Now())
	mustLookup(t, s, k, []byte("version 3, longer!!"))
	// Removed by the other process: a miss, not the bytes in memory.
	other.Remove(context.Background(), k)
	mustMiss(t, s, k)
}

// The bodies kept in memory stay within hotBytesMax however many small
// entries are hit.
func TestBodiesInMemoryAreBounded(t *testing.T) {
	s := newStore(t, t.TempDir())
	const n = hotBytesMax/hotBodyMax + 20
	body := bytes.Repeat([]byte("b"), hotBodyMax)
	for i := range n {
		k := urlKey(t, fmt.Sprintf("https://example.com/e%d", i))
		put(t, s, k, body, time.Now())
		mustLookup(t, s, k, body)
	}
	s.metas.mu.Lock()
	total, kept := s.metas.bodyBytes, 0
	var sum int64
	for _, c := range s.metas.m {
		if c.body != nil {
			kept++
			sum += int64(len(c.body))
		}
	}
	s.metas.mu.Unlock()
	if total != sum || total > hotBytesMax || kept == 0 {
		t.Fatalf("%d bodies kept, %d bytes counted, %d bytes held, budget %d", kept, total, sum, hotBytesMax)
	}
}

func TestLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	k, k2 := urlKey(t, "https://example.com/x"), urlKey(t, "https://example.com/y")
	tmp := filepath.Join(dir, tmpDir)
	dead := filepath.Join(tmp, lockBase(k.String())+"-123.part")
	os.WriteFile(dead, []byte("partial"), 0o644)
	// A replaced body waiting for its background removal when the
	// process died.
	deadOld := filepath.Join(tmp, lockBase(k.String())+"-124.old")
	os.WriteFile(deadOld, []byte("old body"), 0o644)
	// A live writer holds its entry's lock: its file must survive.
	unlock, err := s.Lock(context.Background(), k2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	live := filepath.Join(tmp, lockBase(k2.String())+"-456.part")
	os.WriteFile(live, []byte("partial"), 0o644)
	unknownOld := filepath.Join(tmp, "stray.tmp")
	os.WriteFile(unknownOld, nil, 0o644)
	oldTomb := filepath.Join(dir, invalDir, "0123")
	os.WriteFile(oldTomb, []byte("1"), 0o644)
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(unknownOld, old, old)
	os.Chtimes(oldTomb, old, old)
	newStore(t, dir)
	for path, want := range map[string]bool{dead: false, deadOld: false, live: true, unknownOld: false, oldTomb: false} {
		_, err := os.Stat(path)
		if (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(path), err == nil, want)
		}
	}
}

// An invalidation wins over every download of the URL that started before
// it, in this process or another, and over none that started after.
func TestInvalidationWinsOverEarlierDownloads(t *testing.T) {
	dir := t.TempDir()
	s, other := newStore(t, dir), newStore(t, dir)
	k := urlKey(t, "https://example.com/doc")
	cred := k
	cred.Variant = "@cred-0123"
	vary := k
	vary.Vary = "abcd"
	for _, key := range []cache.Key{k, cred, vary} {
		put(t, s, key, []byte("v1"), time.Now())
	}
	before := time.Now()
	time.Sleep(time.Millisecond)
	n, err := other.Invalidate(context.Background(), k.URL())
	if err != nil || n != 3 {
		t.Fatalf("Invalidate removed %d entries, %v; want 3", n, err)
	}
	for _, key := range []cache.Key{k, cred, vary} {
		mustMiss(t, s, key)
		if err := put(t, s, key, []byte("v1 again"), before); !errors.Is(err, cache.ErrInvalidated) {
			t.Fatalf("commit of a download that started before the invalidation: %v", err)
		}
		mustMiss(t, s, key)
		if err := put(t, s, key, []byte("v2"), time.Now()); err != nil {
			t.Fatal(err)
		}
		mustLookup(t, s, key, []byte("v2"))
	}
	if left, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

// TestInvalidationRecordFailureReported: Invalidate reports a record it
// could not write (without it, a download that started earlier commits),
// and still removes the entry.
func TestInvalidationRecordFailureReported(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	k := urlKey(t, "https://example.com/doc")
	put(t, s, k, []byte("v1"), time.Now())
	records := filepath.Join(dir, invalDir)
	if err := os.RemoveAll(records); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(records, nil, 0o644); err != nil { // a file where the folder was: no record can be written
		t.Fatal(err)
	}
	n, err := s.Invalidate(context.Background(), k.URL())
	if err == nil || n != 1 {
		t.Fatalf("Invalidate: %d, %v; want the entry removed and the failed record reported", n, err)
	}
	mustMiss(t, s, k)
}

// A large body that is not the file its sidecar describes (a copied
// folder) is checked as it streams: served when it matches, and its new
// identity recorded; an error at the end, never EOF, when it does not.
func TestLargeBodyCheckedAsItStreams(t *testing.T) {
	s := newStore(t, t.TempDir())
	k := urlKey(t, "https://example.com/large")
	body := bytes.Repeat([]byte("0123456789abcdef"), (verifyFirstMax+100)/16)
	put(t, s, k, body, time.Now())
	p, _ := s.paths(k)
	copyOver := func(b []byte) {
		os.Remove(p)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyOver(body)
	mustLookup(t, s, k, body)
	m, _, _ := s.Lookup(context.Background(), k)
	if fi, _ := os.Stat(p); m.ID != idOf(fi) {
		t.Fatal("the verified identity was not recorded")
	}

	bad := bytes.Clone(body)
	bad[len(bad)/2] ^= 1
	copyOver(bad)
	if _, err := lookup(s, k); !errors.Is(err, cache.ErrDamaged) {
		t.Fatalf("a damaged body read to the end: %v, want ErrDamaged", err)
	}
	mustMiss(t, s, k)
	if st := s.Stats(); st.Corrupt != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A smaller body that is another file is checked before it is served: a
// damaged one is a miss, a good one a hit.
func TestBodyCheckedFirst(t *testing.T) {
	s := newStore(t, t.TempDir())
	k := urlKey(t, "https://example.com/mid")
	body := bytes.Repeat([]byte("0123456789abcdef"), 200<<10/16)
	put(t, s, k, body, time.Now())
	p, _ := s.paths(k)
	bad := bytes.Clone(body)
	bad[len(bad)/2] ^= 1
	os.Remove(p)
	os.WriteFile(p, body, 0o644)
	mustLookup(t, s, k, body)
	os.Remove(p)
	os.WriteFile(p, bad, 0o644)
	mustMiss(t, s, k)
	if st := s.Stats(); st.Corrupt != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLockWaitHonoursContext(t *testing.T) {
	s := newStore(t, t.TempDir())
	k := urlKey(t, "https://example.com/x")
	unlock, err := s.Lock(context.Background(), k, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, k, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock: %v", err)
	}
	unlock()
	unlock2, err := s.Lock(context.Background(), k, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

// TestLockLapsesWhenStalled: a holder renews its lock while alive says
// its download makes progress; once it does not, a waiter in another
// process stops waiting after the lease, with ErrStalled, and goes to the
// origin itself.
func TestLockLapsesWhenStalled(t *testing.T) {
	for _, tt := range []struct {
		name    string
		stalled bool
	}{{"progressing holder keeps the lock", false}, {"stalled holder lets waiters go", true}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			holder, waiter := newStore(t, dir), newStore(t, dir)
			holder.lease, waiter.lease = 300*time.Millisecond, 300*time.Millisecond
			k := urlKey(t, "https://example.com/stalled")
			start := time.Now()
			unlock, err := holder.Lock(context.Background(), k, func() bool {
				return !tt.stalled || time.Since(start) < 150*time.Millisecond
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_, err = waiter.Lock(ctx, k, nil)
			switch {
			case tt.stalled && !errors.Is(err, ErrStalled):
				t.Fatalf("waiting for a stalled holder = %v, want ErrStalled", err)
			case tt.stalled && time.Since(start) > time.Second:
				t.Fatalf("gave up on a stalled holder after %v; its last renewal was before 150ms, the lease 300ms", time.Since(start))
			case !tt.stalled && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("waiting for a progressing holder = %v, want it to wait until the deadline", err)
			}
		})
	}
}

// writeOnly has no ReadFrom.
type writeOnly struct{ io.Writer }

// TestBodyWriteTo: a body copied with io.Copy arrives whole to a file
// (ReadFrom, copy_file_range), to a writer without ReadFrom and to
// io.Discard (both read in large chunks), and a body file cut short ends
// in io.ErrUnexpectedEOF.
func TestBodyWriteTo(t *testing.T) {
	s := newStore(t, t.TempDir())
	k := urlKey(t, "https://example.com/big")
	body := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16+5) // over a read chunk, not a multiple of one
	if err := put(t, s, k, body, time.Now()); err != nil {
		t.Fatal(err)
	}
	open := func() io.ReadCloser {
		t.Helper()
		_, rc, err := s.Lookup(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "copy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, tc := range []struct {
		name string
		w    io.Writer
		got  func() []byte
	}{
		{"a file", f, func() []byte { b, _ := os.ReadFile(f.Name()); return b }},
		{"a writer without ReadFrom", writeOnly{&buf}, buf.Bytes},
		{"io.Discard", io.Discard, nil},
	} {
		rc := open()
		n, err := io.Copy(tc.w, rc)
		rc.Close()
		if err != nil || n != int64(len(body)) || (tc.got != nil && !bytes.Equal(tc.got(), body)) {
			t.Fatalf("%s: %d bytes, %v; want the %d bytes stored", tc.name, n, err, len(body))
		}
	}
	rc := open()
	bodyPath, _ := s.paths(k)
	if err := os.Truncate(bodyPath, int64(len(body))/2); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(writeOnly{io.Discard}, rc)
	rc.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || n != int64(len(body))/2 {
		t.Fatalf("a body file cut short: %d bytes, %v; want %d and io.ErrUnexpectedEOF", n, err, len(body)/2)
	}
}
