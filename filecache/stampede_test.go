package filecache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// hammer sends n concurrent GETs for u and returns their bodies and X-Cache
// values.
func hammer(t *testing.T, tr http.RoundTripper, u string, n int) ([][]byte, []string) {
	t.Helper()
	bodies := make([][]byte, n)
	caches := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest("GET", u, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
			}
			bodies[i], caches[i] = b, resp.Header.Get(Header)
		})
	}
	close(start)
	wg.Wait()
	return bodies, caches
}

func TestStampede(t *testing.T) {
	body := bytes.Repeat([]byte("stampede "), 50_000) // 450 kB
	tests := []struct {
		name  string
		stale bool // the entry exists but is stale
		path  string
	}{
		{name: "missing", path: "/m"},
		{name: "stale", stale: true, path: "/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			res := testserver.NewResource(body)
			e.srv.Handle(tt.path, testserver.Slow(res, 50*time.Millisecond))
			u := e.srv.URL + tt.path
			if tt.stale {
				get(t, e.tr, "GET", u)
				e.clock.Advance(2 * time.Hour)
				e.srv.Reset()
			}
			bodies, caches := hammer(t, e.tr, u, 200)
			if n := e.srv.Hits(tt.path); n != 1 {
				t.Fatalf("origin hits %d, want 1", n)
			}
			counts := map[string]int{}
			for i := range bodies {
				if !bytes.Equal(bodies[i], body) {
					t.Fatalf("request %d: wrong body (%d bytes)", i, len(bodies[i]))
				}
				counts[caches[i]]++
			}
			first := Miss
			if tt.stale {
				first = Revalidated
			}
			if counts[first] != 1 || counts[Hit] != 199 {
				t.Fatalf("X-Cache counts %v", counts)
			}
		})
	}
}

func TestStampedeOnUncacheableAnswer(t *testing.T) {
	e := newEnv(t)
	// The answer takes long enough for all 50 to join its flight even on a
	// loaded machine: one that came after it ended would rightly ask again
	// (a 404 is not stored).
	e.srv.Handle("/missing", testserver.Slow(testserver.Status(404, "no such file"), 2*time.Second))
	bodies, caches := hammer(t, e.tr, e.srv.URL+"/missing", 50)
	if n := e.srv.Hits("/missing"); n != 1 {
		t.Fatalf("origin hits %d, want 1", n)
	}
	for i := range bodies {
		if string(bodies[i]) != "no such file" || caches[i] != Miss {
			t.Fatalf("request %d: %q %s", i, bodies[i], caches[i])
		}
	}
}

func TestStampedeAcrossTransports(t *testing.T) {
	// Two transports on one folder stand for two processes: the file lock,
	// not the in-process flight, keeps them to one download.
	e := newEnv(t)
	other := e.reopen(t)
	body := bytes.Repeat([]byte("x"), 100_000)
	e.srv.Handle("/p", testserver.Slow(testserver.NewResource(body), 50*time.Millisecond))
	var wg sync.WaitGroup
	for _, tr := range []*Transport{e.tr, other, e.tr, other} {
		wg.Go(func() {
			bodies, _ := hammer(t, tr, e.srv.URL+"/p", 10)
			for _, b := range bodies {
				if !bytes.Equal(b, body) {
					t.Error("wrong body")
				}
			}
		})
	}
	wg.Wait()
	if n := e.srv.Hits("/p"); n != 1 {
		t.Fatalf("origin hits %d, want 1", n)
	}
}

func TestWaitersHonourContext(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.srv.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "late")
	})
	u := e.srv.URL + "/slow"
	leaderDone := make(chan result, 1)
	go func() { leaderDone <- get(t, e.tr, "GET", u) }()
	for e.srv.Hits("/slow") == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	start := time.Now()
	_, err := e.tr.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("waiter took %v to give up", d)
	}
	close(release)
	expect(t, <-leaderDone, 200, Miss, []byte("late"))
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("late"))
}

func TestLockWaitHonoursContext(t *testing.T) {
	e := newEnv(t)
	e.srv.Handle("/x", testserver.NewResource([]byte("x")))
	u := e.srv.URL + "/x"
	e.hold(t, e.locFor(t, u)) // another process is writing the entry
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	if _, err := e.tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if e.srv.Hits("/x") != 0 {
		t.Fatal("origin asked while another writer held the entry")
	}
}
