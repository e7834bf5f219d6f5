package filecache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// fill stores n entries of size bytes, /e0 being the least recently used.
func fill(t *testing.T, e *env, tr *Transport, n, size int) {
	t.Helper()
	for i := range n {
		p := fmt.Sprintf("/e%d", i)
		e.srv.Handle(p, testserver.Generated(int64(size), int64(i)))
		e.clock.Advance(time.Second)
		expect(t, get(t, tr, "GET", e.srv.URL+p), 200, Miss, nil)
		l := e.locFor(t, e.srv.URL+p)
		used := time.Now().Add(time.Duration(i-n) * time.Hour)
		os.Chtimes(l.meta, used, used)
	}
}

func TestPrune(t *testing.T) {
	e := newEnv(t)
	fill(t, e, e.tr, 10, 10_000)
	s, err := Inspect(e.dir)
	if err != nil || s.Entries != 10 || s.Bytes < 100_000 {
		t.Fatalf("inspect: %+v, %v", s, err)
	}
	if s.Oldest.URL != e.srv.URL+"/e0" || s.Newest.URL != e.srv.URL+"/e9" || s.Oldest.Size != 10_000 {
		t.Fatalf("oldest %+v, newest %+v", s.Oldest, s.Newest)
	}
	r, err := e.tr.Prune(context.Background(), s.Bytes/2)
	if err != nil || r.Removed != 5 || r.Entries != 5 || r.Bytes > s.Bytes/2 {
		t.Fatalf("prune: %+v, %v", r, err)
	}
	for i := range 10 {
		want := Hit
		if i < 5 {
			want = Miss // least recently used went first
		}
		expect(t, get(t, e.tr, "GET", fmt.Sprintf("%s/e%d", e.srv.URL, i)), 200, want, nil)
	}
	r, err = PruneDir(context.Background(), e.dir, 0)
	if err != nil || r.Entries != 0 || r.Removed != 10 {
		t.Fatalf("prune all: %+v, %v", r, err)
	}
	// Empty folders are gone too; private ones stay.
	des, _ := os.ReadDir(e.dir)
	for _, de := range des {
		if de.Name()[0] != '.' {
			t.Errorf("left %s", de.Name())
		}
	}
}

func TestPruneSparesBusyEntriesAndRemovesOrphans(t *testing.T) {
	e := newEnv(t)
	fill(t, e, e.tr, 3, 1000)
	busy := e.locFor(t, e.srv.URL+"/e0")
	e.hold(t, busy)
	orphan := e.locFor(t, e.srv.URL+"/e1")
	os.Remove(orphan.meta) // a crash between body and sidecar
	r, err := PruneDir(context.Background(), e.dir, 0)
	if err != nil || r.Busy != 1 || r.Removed != 1 || r.Leftovers != 1 {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := os.Stat(busy.body); err != nil {
		t.Fatal("busy entry removed")
	}
	if _, err := os.Stat(orphan.body); err == nil {
		t.Fatal("orphan body kept")
	}
}

func TestMaxBytesEvicts(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBytes = 50_000 })
	for i := range 20 {
		p := fmt.Sprintf("/e%d", i)
		e.srv.Handle(p, testserver.Generated(10_000, int64(i)))
		get(t, e.tr, "GET", e.srv.URL+p)
	}
	e.tr.Close() // waits for eviction
	s, err := Inspect(e.dir)
	if err != nil || s.Bytes > 50_000 || s.Entries == 0 {
		t.Fatalf("%+v, %v", s, err)
	}
	if st := e.tr.Stats(); st.Evictions == 0 || int(st.Evictions)+s.Entries != 20 {
		t.Fatalf("evictions %d, entries %d", st.Evictions, s.Entries)
	}
	// The newest entry survived.
	if _, err := os.Stat(filepath.Join(e.locFor(t, e.srv.URL+"/e19").body)); err != nil {
		t.Fatal(err)
	}
}

func TestInspectEmptyAndMissing(t *testing.T) {
	s, err := Inspect(t.TempDir())
	if err != nil || s.Entries != 0 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := Inspect(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("no error for a missing folder")
	}
	if _, err := PruneDir(context.Background(), t.TempDir(), -1); err == nil {
		t.Fatal("negative cap accepted")
	}
}
