package filecache

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// Options.Now is the clock of freshness, and one of whole seconds is fine;
// requests are ordered by the real clock, so a no-cache request made 200 ms
// after the origin answered an older download, within the same second, does
// not follow that download. (It did, as a HIT, when ordered by Options.Now.)
func TestNoCacheOrderingWithCoarseClock(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Now = func() time.Time { return time.Now().Truncate(time.Second) }
	})
	release := make(chan struct{})
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 1 {
			w.Write([]byte("new"))
			return
		}
		w.Header().Set("Content-Length", "6")
		w.Write([]byte("old"))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("old"))
	})
	u := e.srv.URL + "/r"
	// Start just after a second begins, so that both requests fall in it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the origin answered the first request 200 ms ago
	second := make(chan result, 1)
	go func() { second <- get(t, e.tr, "GET", u, "Cache-Control", "no-cache") }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	r := <-second
	if string(r.body) != "new" || r.cache == Hit {
		t.Fatalf("no-cache request made 200 ms after an older download's answer got %q (%s), want the origin's new answer; origin asked %d times",
			r.body, r.cache, served.Load())
	}
}
