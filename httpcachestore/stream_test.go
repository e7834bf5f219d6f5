package httpcachestore

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/storetest"
)

// commit writes value for key through Create, in pieces of 1000 bytes.
func commit(t *testing.T, s *Store, key string, value []byte) {
	t.Helper()
	w, err := s.Create(key)
	if err != nil {
		t.Fatal(err)
	}
	for p := value; len(p) > 0; {
		n := min(len(p), 1000)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// mustOpen fails t unless Open returns want for key.
func mustOpen(t *testing.T, s *Store, key string, want []byte) {
	t.Helper()
	r, n, ok := s.Open(key)
	if !ok {
		t.Fatalf("Open(%q): miss, want %d bytes", key, len(want))
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || n != int64(len(want)) || !bytes.Equal(got, want) {
		t.Fatalf("Open(%q): %d bytes (size %d), %v; want the %d bytes stored", key, len(got), n, err, len(want))
	}
}

func mustNotOpen(t *testing.T, s *Store, key string) {
	t.Helper()
	if r, n, ok := s.Open(key); ok {
		r.Close()
		t.Fatalf("Open(%q): %d bytes, want a miss", key, n)
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tmpPrefix) {
			left = append(left, p)
		}
		return nil
	})
	return left
}

var streamSizes = []int{0, 1000, smallFile, 3 << 20} // read whole, and checked then streamed

func TestStreamRoundTrip(t *testing.T) {
	for _, size := range streamSizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := newStore(t, t.TempDir())
			v := storetest.Value(size, 1)
			commit(t, s, "streamed", v)
			mustOpen(t, s, "streamed", v)
			storetest.MustGet(t, s, "streamed", v)
			s.Set("set", v)
			mustOpen(t, s, "set", v)
			mustNotOpen(t, s, "missing")
			if st := s.Stats(); st.Sets != 2 || st.Corrupt != 0 || st.Errors != 0 {
				t.Fatalf("Stats = %+v", st)
			}
		})
	}
}

func TestCreateIsInvisibleUntilCommit(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	old, v := storetest.Value(100, 1), storetest.Value(200<<10, 2)
	s.Set("k", old)
	w, err := s.Create("k")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(v[:100<<10])
	mustOpen(t, s, "k", old)
	w.Abort()
	w.Abort()
	mustOpen(t, s, "k", old)
	if _, err := w.Write(v); err == nil {
		t.Fatal("Write after Abort succeeded")
	}
	if err := w.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("Abort left %v", left)
	}

	w, err = s.Create("k")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(v)
	mustOpen(t, s, "k", old)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // does nothing after Commit
	mustOpen(t, s, "k", v)
	if _, err := w.Write(v); err == nil {
		t.Fatal("Write after Commit succeeded")
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("Commit left %v", left)
	}
}

// TestOpenDamagedFileIsMissAndRemoved: Open checks the whole file before it
// returns, so any damage is a miss, never a read that fails half-way.
func TestOpenDamagedFileIsMissAndRemoved(t *testing.T) {
	for _, size := range streamSizes[1:] {
		value := storetest.Value(size, 3)
		for _, tc := range []struct {
			name   string
			damage func(b []byte) []byte
		}{
			{"truncated body", func(b []byte) []byte { return b[:len(b)-1] }},
			{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
			{"truncated header", func(b []byte) []byte { return b[:headerSize-1] }},
			{"empty file", func(b []byte) []byte { return nil }},
			{"flipped byte in the middle", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
			{"flipped last byte", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
			{"flipped key byte", func(b []byte) []byte { b[headerSize] ^= 1; return b }},
			{"flipped checksum", func(b []byte) []byte { b[21] ^= 0x80; return b }},
			{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
			{"future version", func(b []byte) []byte { b[7] = 9; return b }},
			{"extra byte", func(b []byte) []byte { return append(b, 0) }},
			{"huge length", func(b []byte) []byte { b[12] = 0xff; return b }},
			{"another key", func(b []byte) []byte { return encode("other key", value) }},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				s := newStore(t, t.TempDir())
				commit(t, s, "k", value)
				_, p := s.path("k")
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, tc.damage(b), 0o644); err != nil {
					t.Fatal(err)
				}
				mustNotOpen(t, s, "k")
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("damaged file still there (stat: %v)", err)
				}
				if st := s.Stats(); st.Corrupt != 1 || st.Misses != 1 {
					t.Fatalf("Stats = %+v, want Corrupt 1, Misses 1", st)
				}
				commit(t, s, "k", value)
				mustOpen(t, s, "k", value)
			})
		}
	}
}

// TestOpenReaderKeepsItsValue: a reader keeps reading the value it checked
// while the key is replaced or deleted.
func TestOpenReaderKeepsItsValue(t *testing.T) {
	s := newStore(t, t.TempDir())
	v1, v2 := storetest.Value(1<<20, 1), storetest.Value(1<<20, 2)
	commit(t, s, "k", v1)
	r, _, ok := s.Open("k")
	if !ok {
		t.Fatal("miss")
	}
	defer r.Close()
	head := make([]byte, 1000)
	io.ReadFull(r, head)
	commit(t, s, "k", v2)
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(append(head, rest...), v1) {
		t.Fatalf("reader after a replace: %v, or bytes not the first value", err)
	}
	s.Delete("k")
	mustNotOpen(t, s, "k")
}

// TestOpenReaderFailsOnShrunkFile: something outside the store shortening
// an open file makes the reader fail, not end early.
func TestOpenReaderFailsOnShrunkFile(t *testing.T) {
	s := newStore(t, t.TempDir())
	v := storetest.Value(1<<20, 1)
	commit(t, s, "k", v)
	r, _, ok := s.Open("k")
	if !ok {
		t.Fatal("miss")
	}
	defer r.Close()
	_, p := s.path("k")
	if err := os.Truncate(p, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err != io.ErrUnexpectedEOF {
		t.Fatalf("reading a file shortened under the reader: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestStreamedWritesEvict(t *testing.T) {
	dir := t.TempDir()
	const size = 100 << 10
	per := int64(headerSize + len("k0") + size)
	s := newStore(t, dir, WithMaxBytes(5*per))
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		k := fmt.Sprint("k", i)
		commit(t, s, k, storetest.Value(size, uint64(i)))
		_, p := s.path(k)
		ts := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(p, ts, ts) // k0 oldest … k4 newest
	}
	mustOpen(t, s, "k0", storetest.Value(size, 0)) // k0 becomes the most recent
	commit(t, s, "k5", storetest.Value(size, 5))   // over the cap: evict down to 90%
	for _, k := range []string{"k1", "k2"} {
		mustNotOpen(t, s, k)
	}
	for _, i := range []int{0, 3, 4, 5} {
		mustOpen(t, s, fmt.Sprint("k", i), storetest.Value(size, uint64(i)))
	}
	if st := s.Stats(); st.Evictions != 2 {
		t.Fatalf("Evictions = %d, want 2", st.Evictions)
	}
	// Replacing a value counts only the difference.
	commit(t, s, "k5", storetest.Value(size, 6))
	if st := s.Stats(); st.Evictions != 2 || s.size.Load() != 4*per {
		t.Fatalf("after a replace: Evictions %d, size %d; want 2, %d", st.Evictions, s.size.Load(), 4*per)
	}
}

func TestCreateErrorsAreCounted(t *testing.T) {
	s := newStore(t, t.TempDir())
	shard, _ := s.path("k")
	if err := os.WriteFile(shard, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("k"); err == nil || !strings.HasPrefix(err.Error(), "httpcachestore: ") {
		t.Fatalf("Create with a file in the way: %v, want an httpcachestore error", err)
	}
	if st := s.Stats(); st.Errors != 1 || st.Sets != 0 {
		t.Fatalf("Stats = %+v, want Errors 1, Sets 0", st)
	}
}
