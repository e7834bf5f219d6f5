package filecache

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A stampede of no-cache requests while the origin is down: the leader's
// origin request fails and it answers STALE (StaleIfError). The requests
// that waited on that flight arrived before the origin was asked, so its
// failure is an answer made after them; they should share the leader's
// STALE answer instead of asking the failing origin again one by one (and
// finally each on its own, direct, getting the 503).
func TestNoCacheStampedeSharesStaleAnswer(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StaleIfError = true })
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.Write([]byte("good"))
			return
		}
		time.Sleep(200 * time.Millisecond) // the others join this flight meanwhile
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("down"))
	})
	u := e.srv.URL + "/r"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("good"))
	e.clock.Advance(2 * time.Hour) // stale

	const n = 8
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Go(func() { results[i] = get(t, e.tr, "GET", u, "Cache-Control", "no-cache") })
		if i == 0 {
			time.Sleep(50 * time.Millisecond) // the first leads
		}
	}
	wg.Wait()
	for i, r := range results {
		if r.status != 200 || r.cache != Stale || string(r.body) != "good" {
			t.Errorf("request %d: %d %s %q, want 200 STALE good", i, r.status, r.cache, r.body)
		}
	}
	if got := served.Load() - 1; got != 1 {
		t.Errorf("the failing origin was asked %d times for %d concurrent no-cache requests, want 1", got, n)
	}
}

// A no-cache request that arrives while an older download streams (never
// stalling, so StallAfter does not end the wait) may not share it: it asks
// the origin at once instead of waiting for that download to end, however
// long it takes (here, past its 1 s deadline).
func TestNoCacheDoesNotWaitForAnOlderStream(t *testing.T) {
	e := newEnv(t)
	var served atomic.Int32
	stop := make(chan struct{})
	e.srv.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 1 {
			w.Write([]byte("new"))
			return
		}
		for { // chunked, framed, a byte every 20 ms: never stalled
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			w.Write([]byte("o"))
			w.(http.Flusher).Flush()
		}
	})
	u := e.srv.URL + "/stream"
	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, first.Body)
	defer func() { close(stop); first.Body.Close() }()
	time.Sleep(100 * time.Millisecond)
	e.clock.Advance(time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req := newRequest(t, "GET", u, "Cache-Control", "no-cache").WithContext(ctx)
	start := time.Now()
	resp, err := e.tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("no-cache request during an older, still streaming download: %v after %v; origin asked %d times (want 2)",
			err, time.Since(start).Round(time.Millisecond), served.Load())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "new" {
		t.Fatalf("got %q (%s), want the origin's own answer", body, resp.Header.Get(Header))
	}
}
