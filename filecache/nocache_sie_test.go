package filecache

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// With StaleIfError, a no-cache request whose origin request fails is
// answered STALE from the stored entry, also when an older download of the
// URL, which it may not share, is in progress and it asks the origin alone.
// (It got the origin's 503.)
func TestNoCacheDuringOlderStreamKeepsStaleIfError(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StaleIfError = true })
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		switch served.Add(1) {
		case 1:
			w.Write([]byte("v1"))
		case 2: // the refresh: headers now, the body over 300 ms
			w.Header().Set("Content-Length", "2")
			w.Write([]byte("v"))
			w.(http.Flusher).Flush()
			time.Sleep(300 * time.Millisecond)
			w.Write([]byte("2"))
		default: // the origin is down from now on
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("down"))
		}
	})
	u := e.srv.URL + "/r"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("v1"))
	e.clock.Advance(2 * time.Hour) // stale

	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	go func() { io.Copy(io.Discard, first.Body); first.Body.Close() }()
	e.clock.Advance(time.Second)

	r := get(t, e.tr, "GET", u, "Cache-Control", "no-cache")
	if r.status != 200 || r.cache != Stale {
		t.Fatalf("no-cache request with a stored entry, StaleIfError and a failing origin: %d %s %q, want 200 STALE",
			r.status, r.cache, r.body)
	}
}
