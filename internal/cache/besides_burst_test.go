package cache

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// besideHolds returns the holds of the beside flight of u's key, or -1.
func besideHolds(tr *Transport) int {
	tr.beside.mu.Lock()
	defer tr.beside.mu.Unlock()
	for _, f := range tr.beside.m {
		return f.holds
	}
	return -1
}

// TestSecondBurstWhileBesideDownloads: a first no-cache request leads a
// beside flight whose body is still downloading. A second burst of ten
// no-cache requests that arrives after that answer, still during the older
// download, may not share it (it came before them); they share one origin
// request of their own in a flight that takes the first one's place.
func TestSecondBurstWhileBesideDownloads(t *testing.T) {
	holdOld, holdB := make(chan struct{}), make(chan struct{})
	var requests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if n := requests.Add(1); n <= 2 { // the older download, then the first beside answer: half, then wait
			hold := holdOld
			if n == 2 {
				hold = holdB
			}
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "old")
			w.(http.Flusher).Flush()
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			io.WriteString(w, "old")
			return
		}
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "new")
	}, Options{})
	var o1, o2 sync.Once
	t.Cleanup(func() { o1.Do(func() { close(holdOld) }); o2.Do(func() { close(holdB) }) })
	u := srv.URL + "/doc"
	old, err := tr.RoundTrip(mustGet(t, u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	io.ReadFull(old.Body, make([]byte, 3))

	// The first no-cache request: it leads a beside flight, its body half there.
	first := mustGet(t, u)
	first.Header.Set("Cache-Control", "no-cache")
	b1, err := tr.RoundTrip(first)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b1.Body.Close() })
	io.ReadFull(b1.Body, make([]byte, 3))
	time.Sleep(10 * time.Millisecond) // the burst arrives after that answer

	bodies, caches := burst(t, tr, u, 10, "Cache-Control", "no-cache")
	for i := range bodies {
		if bodies[i] != "new" {
			t.Errorf("request %d: %q %s", i, bodies[i], caches[i])
		}
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d origin requests, want 3: the older download's, the first beside answer's and one for the burst", n)
	}
}

// TestLeaderCancelledBeforeItsAnswer: the leader of a beside flight gives
// up (its context ends) before the origin answers. One of its five waiters
// asks in its place and the others share that answer.
func TestLeaderCancelledBeforeItsAnswer(t *testing.T) {
	leaderSent := make(chan struct{})
	var requests atomic.Int32
	hold := make(chan struct{})
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		switch requests.Add(1) {
		case 1:
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "old")
			w.(http.Flusher).Flush()
			<-hold
			io.WriteString(w, "old")
			return
		case 2: // the leader: no answer until it gives up
			close(leaderSent)
			<-r.Context().Done()
			return
		}
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "new")
	}, Options{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	u := srv.URL + "/doc"
	old, err := tr.RoundTrip(mustGet(t, u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	io.ReadFull(old.Body, make([]byte, 3))

	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	leaderDone := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(lctx, http.MethodGet, u, nil)
		req.Header.Set("Cache-Control", "no-cache")
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		leaderDone <- err
	}()
	select {
	case <-leaderSent:
	case <-time.After(3 * time.Second):
		t.Fatal("the leader never reached the origin")
	}
	type res struct{ body, cache string }
	results := make(chan res, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 5 {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			req.Header.Set("Cache-Control", "no-cache")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				results <- res{"error: " + err.Error(), ""}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- res{string(b), resp.Header.Get(cachestatus.Header)}
		}()
	}
	for deadline := time.Now().Add(3 * time.Second); besideHolds(tr) != 5; {
		if time.Now().After(deadline) {
			t.Fatalf("the waiters did not join the beside flight: holds %d", besideHolds(tr))
		}
		time.Sleep(time.Millisecond)
	}
	lcancel()
	if err := <-leaderDone; err != context.Canceled {
		t.Errorf("leader: %v, want context.Canceled", err)
	}
	for range 5 {
		if r := <-results; r.body != "new" {
			t.Errorf("waiter: %q %s", r.body, r.cache)
		}
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d origin requests, want 3: the older download's, the cancelled leader's and one for its 5 waiters", n)
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
