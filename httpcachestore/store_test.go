package httpcachestore

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/testing/storetest"
)

func newStore(t *testing.T, dir string, opts ...Option) *Store {
	t.Helper()
	s, err := New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// files returns the body and sidecar of key's value.
func files(s *Store, key string) (body, meta string) {
	body = filepath.Join(s.Dir(), filepath.FromSlash(cache.KVKey(key).String()))
	return body, body + "@@meta.json"
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
	body, meta := files(s, "../../escape")
	if rel, _ := filepath.Rel(s.Dir(), body); !strings.HasPrefix(rel, "%kv"+string(filepath.Separator)) || len(filepath.Base(body)) != 65 {
		t.Fatalf("value at %s, want %s/%%kv/xx/@<64 hex digits>", body, dir)
	}
	for _, p := range []string{body, meta} {
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDamagedFileIsMissAndRemoved(t *testing.T) {
	value := storetest.Value(10_000, 3)
	for _, tc := range []struct {
		name   string
		meta   bool // damage the sidecar, not the body
		damage func(b []byte) []byte
	}{
		{"truncated body", false, func(b []byte) []byte { return b[:len(b)-1] }},
		{"empty body", false, func(b []byte) []byte { return nil }},
		{"flipped byte in the middle", false, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"flipped last byte", false, func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
		{"extra byte", false, func(b []byte) []byte { return append(b, 0) }},
		{"garbage sidecar", true, func(b []byte) []byte { return []byte("{not json") }},
		{"sidecar of another key", true, func(b []byte) []byte { return bytes.Replace(b, []byte(`"key": "%kv/`), []byte(`"key": "%kv/x`), 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, t.TempDir())
			s.Set("k", value)
			p, mp := files(s, "k")
			if tc.meta {
				p = mp
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(p) // a new file, as a copy or a damage would make
			if err := os.WriteFile(p, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			fresh := newStore(t, s.Dir()) // nothing parsed in memory
			storetest.MustMiss(t, fresh, "k")
			if st := fresh.Stats(); st.Corrupt != 1 || st.Misses != 1 {
				t.Fatalf("Stats = %+v, want Corrupt 1, Misses 1", st)
			}
			fresh.Set("k", value)
			storetest.MustGet(t, fresh, "k", value)
		})
	}
}

func TestWriteErrorsAreCountedNotFatal(t *testing.T) {
	s := newStore(t, t.TempDir())
	body, _ := files(s, "k")
	// A file where the shard folder should be makes every write fail.
	os.MkdirAll(filepath.Dir(filepath.Dir(body)), 0o755)
	if err := os.WriteFile(filepath.Dir(body), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Set("k", []byte("v"))
	storetest.MustMiss(t, s, "k")
	if st := s.Stats(); st.Errors < 1 || st.Sets != 0 {
		t.Fatalf("Stats = %+v, want Errors ≥ 1, Sets 0", st)
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	const size = 10_000
	probe := newStore(t, t.TempDir())
	probe.Set("k0", storetest.Value(size, 0))
	_, pm := files(probe, "k0")
	fi, _ := os.Stat(pm)
	per := int64(size) + fi.Size()

	s := newStore(t, dir, WithMaxBytes(5*per+per/2))
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		k := fmt.Sprint("k", i)
		s.Set(k, storetest.Value(size, uint64(i)))
		_, mp := files(s, k)
		ts := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(mp, ts, ts) // k0 oldest … k4 newest
	}
	storetest.MustGet(t, s, "k0", storetest.Value(size, 0)) // k0 becomes the most recent
	s.Set("k5", storetest.Value(size, 5))                   // over the cap: evict down to 90%
	s.Close()
	for _, k := range []string{"k1"} {
		storetest.MustMiss(t, s, k)
	}
	for _, i := range []int{0, 3, 4, 5} {
		storetest.MustGet(t, s, fmt.Sprint("k", i), storetest.Value(size, uint64(i)))
	}
	if st := s.Stats(); st.Evictions < 1 || st.Evictions > 2 {
		t.Fatalf("Evictions = %d, want 1 or 2", st.Evictions)
	}
	// A new Store learns the folder's size and evicts what is over its cap.
	s2 := newStore(t, dir, WithMaxBytes(2*per+per/2))
	s2.Close()
	if st := s2.Stats(); st.Evictions < 2 {
		t.Fatalf("second store: Evictions = %d, want at least 2", st.Evictions)
	}
}

// TestProcessesShareFolder runs writers in two other processes and checks
// that readers here only ever see whole values.
func TestProcessesShareFolder(t *testing.T) {
	if dir := os.Getenv("HTTPCACHESTORE_HELPER_DIR"); dir != "" {
		s := newStore(t, dir)
		for i := range 50 {
			s.Set("shared", storetest.Value(100<<10, uint64(i%3)))
			if i%5 == 4 {
				s.Delete("shared")
			}
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
	reads := 0
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if got, ok := s.Get("shared"); ok {
				reads++
				if !bytes.Equal(got, vals[0]) && !bytes.Equal(got, vals[1]) && !bytes.Equal(got, vals[2]) {
					t.Errorf("read %d bytes that are none of the values written", len(got))
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
	t.Logf("%d whole values read while two processes wrote", reads)
	if st := s.Stats(); st.Errors != 0 {
		t.Fatalf("Stats = %+v, want no errors", st)
	}
}
