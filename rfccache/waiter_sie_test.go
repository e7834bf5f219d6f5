package rfccache

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A request with stale-if-error joins the flight of one without it: the
// leader gets the origin's 503 (not stale for it, not shareable), and the
// waiter, asking the origin itself, applies its own stale-if-error: STALE,
// not the 503.
func TestWaiterStaleIfErrorAfterOutDirect(t *testing.T) {
	f := newFixture(t, Options{})
	var served atomic.Int32
	f.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.Header().Set("Cache-Control", "max-age=1")
			w.Write([]byte("v1"))
			return
		}
		time.Sleep(200 * time.Millisecond)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("down"))
	})
	if r := f.get(t, "/r"); r.body != "v1" {
		t.Fatal(r)
	}
	f.clock.Advance(10 * time.Second)
	lead := make(chan reply, 1)
	go func() { lead <- f.get(t, "/r") }()
	time.Sleep(50 * time.Millisecond)
	r := f.get(t, "/r", "Cache-Control", "stale-if-error=600")
	<-lead
	if r.status != 200 || r.cache != Stale {
		t.Fatalf("request with stale-if-error=600, stale entry, failing origin: %d %s %q (origin asked %d times), want 200 STALE",
			r.status, r.cache, r.body, served.Load())
	}
}
