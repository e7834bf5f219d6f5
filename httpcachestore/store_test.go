package httpcachestore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/storetest"
)

func newStore(t *testing.T, dir string, opts ...Option) *Store {
	t.Helper()
	s, err := New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) httpcache.Cache { return newStore(t, t.TempDir()) })
	storetest.RunShared(t, func(t *testing.T) (a, b httpcache.Cache) {
		dir := t.TempDir()
		return newStore(t, dir), newStore(t, dir)
	})
}

func TestConformanceWithCap(t *testing.T) {
	storetest.Run(t, func(t *testing.T) httpcache.Cache { return newStore(t, t.TempDir(), WithMaxBytes(1<<30)) })
}

func TestNewErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir, want string }{
		{"empty", "", "httpcachestore: dir is empty"},
		{"file in the way", filepath.Join(file, "sub"), "httpcachestore: dir "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.dir)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New(%q) = %v, want an error starting %q", tc.dir, err, tc.want)
			}
		})
	}
}

func TestLayoutStaysInsideDir(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	s.Set("../../escape", []byte("v"))
	shard, p := s.path("../../escape")
	if filepath.Dir(shard) != dir || filepath.Dir(p) != shard || len(filepath.Base(p)) != 64 {
		t.Fatalf("path = %s, want %s/xx/<64 hex digits>", p, dir)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}

// damage modes applied to a stored file.
func TestDamagedFileIsMissAndRemoved(t *testing.T) {
	value := storetest.Value(10_000, 3)
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"truncated body", func(b []byte) []byte { return b[:len(b)-1] }},
		{"truncated header", func(b []byte) []byte { return b[:headerSize-1] }},
		{"empty file", func(b []byte) []byte { return nil }},
		{"flipped body byte", func(b []byte) []byte { b[len(b)-100] ^= 1; return b }},
		{"flipped checksum", func(b []byte) []byte { b[21] ^= 0x80; return b }},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"future version", func(b []byte) []byte { b[7] = 9; return b }},
		{"extra bytes", func(b []byte) []byte { return append(b, 0) }},
		{"huge length", func(b []byte) []byte { b[12] = 0xff; return b }},
		{"another key", func(b []byte) []byte { return encode("other key", value) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, t.TempDir())
			s.Set("k", value)
			_, p := s.path("k")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			storetest.MustMiss(t, s, "k")
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("damaged file still there (stat: %v)", err)
			}
			if st := s.Stats(); st.Corrupt != 1 || st.Misses != 1 {
				t.Fatalf("Stats = %+v, want Corrupt 1, Misses 1", st)
			}
			s.Set("k", value)
			storetest.MustGet(t, s, "k", value)
		})
	}
}

func TestWriteErrorsAreCountedNotFatal(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	shard, _ := s.path("k")
	// A file where the shard folder should be makes every write fail.
	if err := os.WriteFile(shard, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Set("k", []byte("v"))
	storetest.MustMiss(t, s, "k")
	st := s.Stats()
	if st.Errors < 1 || st.Sets != 0 {
		t.Fatalf("Stats = %+v, want Errors ≥ 1, Sets 0", st)
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	const size = 10_000
	per := int64(headerSize + len("k0") + size)
	s := newStore(t, dir, WithMaxBytes(5*per))
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		k := fmt.Sprint("k", i)
		s.Set(k, storetest.Value(size, uint64(i)))
		_, p := s.path(k)
		ts := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(p, ts, ts) // k0 oldest … k4 newest
	}
	storetest.MustGet(t, s, "k0", storetest.Value(size, 0)) // k0 becomes the most recent
	s.Set("k5", storetest.Value(size, 5))                   // over the cap: evict down to 90%
	for _, k := range []string{"k1", "k2"} {
		storetest.MustMiss(t, s, k)
	}
	for _, i := range []int{0, 3, 4, 5} {
		storetest.MustGet(t, s, fmt.Sprint("k", i), storetest.Value(size, uint64(i)))
	}
	if st := s.Stats(); st.Evictions != 2 {
		t.Fatalf("Evictions = %d, want 2", st.Evictions)
	}
	// A new Store learns the folder's size and evicts what is over its cap.
	s2 := newStore(t, dir, WithMaxBytes(2*per))
	if st := s2.Stats(); st.Evictions != 3 {
		t.Fatalf("second store: Evictions = %d, want 3", st.Evictions)
	}
}

func TestScanRemovesOldTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	s.Set("k", []byte("v"))
	shard, _ := s.path("k")
	oldTmp, newTmp := filepath.Join(shard, tmpPrefix+"old"), filepath.Join(shard, tmpPrefix+"new")
	for _, p := range []string{oldTmp, newTmp} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * tmpMaxAge)
	os.Chtimes(oldTmp, old, old)
	newStore(t, dir, WithMaxBytes(1<<20))
	if _, err := os.Stat(oldTmp); !os.IsNotExist(err) {
		t.Errorf("old temporary file kept (stat: %v)", err)
	}
	if _, err := os.Stat(newTmp); err != nil {
		t.Errorf("recent temporary file, maybe another process's write, removed: %v", err)
	}
}

// TestProcessesShareFolder runs writers in two other processes, writing with
// Set and with Create, and checks that readers here, with Get and Open, only
// ever see whole values.
func TestProcessesShareFolder(t *testing.T) {
	if dir := os.Getenv("HTTPCACHESTORE_HELPER_DIR"); dir != "" {
		s := newStore(t, dir)
		for i := range 50 {
			s.Set("shared", storetest.Value(100<<10, uint64(i%3)))
			s.Delete("shared")
			commit(t, s, "shared", storetest.Value(100<<10, uint64(i%3)))
		}
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	s := newStore(t, dir)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(exe, "-test.run=^TestProcessesShareFolder$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HTTPCACHESTORE_HELPER_DIR="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
	}
	vals := [][]byte{storetest.Value(100<<10, 0), storetest.Value(100<<10, 1), storetest.Value(100<<10, 2)}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if got, ok := s.Get("shared"); ok && !bytes.Equal(got, vals[0]) && !bytes.Equal(got, vals[1]) && !bytes.Equal(got, vals[2]) {
				t.Errorf("read %d bytes that are none of the values written", len(got))
				return
			}
			if r, _, ok := s.Open("shared"); ok {
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, vals[0]) && !bytes.Equal(got, vals[1]) && !bytes.Equal(got, vals[2]) {
					t.Errorf("streamed %d bytes (%v) that are none of the values written", len(got), err)
					return
				}
			}
		}
	})
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process: %v", err)
		}
	}
	close(done)
	wg.Wait()
	if st := s.Stats(); st.Corrupt != 0 || st.Errors != 0 {
		t.Fatalf("Stats = %+v, want no damaged files and no errors", st)
	}
}
