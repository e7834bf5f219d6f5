package filecache

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A no-cache request asks the origin alone while an older download goes
// on, and that download commits before the origin answers the no-cache
// request: the older entry is removed once the newer answer arrives, so
// later requests do not get the older body as a HIT.
func TestAloneAnswerOlderCommitsDuringAlone(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	entered := make(chan struct{})
	committed := make(chan struct{})
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		switch served.Add(1) {
		case 1:
			serveOld(w, release)
		case 2: // the no-cache request: answers once the older download is stored
			close(entered)
			<-committed
			w.Write([]byte("new"))
		default:
			w.Write([]byte("new"))
		}
	})
	u := e.srv.URL + "/r"
	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	second := make(chan result, 1)
	go func() { second <- get(t, e.tr, "GET", u, "Cache-Control", "no-cache") }()
	<-entered
	close(release)
	io.Copy(io.Discard, first.Body) // EOF once committed (a short body)
	first.Body.Close()
	close(committed)
	if r := <-second; string(r.body) != "new" {
		t.Fatalf("no-cache request: %q %s", r.body, r.cache)
	}
	e.clock.Advance(time.Second)
	later := get(t, e.tr, "GET", u)
	if string(later.body) != "new" {
		t.Fatalf("ordinary request after a no-cache request got \"new\": %q %s (origin asked %d times), want \"new\"",
			later.body, later.cache, served.Load())
	}
}
