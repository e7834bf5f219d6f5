package filecache

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A no-cache request refused the older download still arriving asks the
// origin alone. When, meanwhile, that older download commits (the entry
// alone looked at is replaced) and the origin then fails, StaleIfError
// must still answer from the stored entry: the request must not get the
// 503 (which the retry stage was also told not to retry).
func TestAloneStaleIfErrorWhenOlderDownloadCommitsMeanwhile(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StaleIfError = true })
	release := make(chan struct{})   // lets the older download finish
	committed := make(chan struct{}) // the older download is stored
	entered := make(chan struct{})   // the no-cache request reached the origin
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		switch served.Add(1) {
		case 1:
			w.Write([]byte("v1"))
		case 2: // the refresh: headers now, the rest once released
			w.Header().Set("Content-Length", "2")
			w.Write([]byte("v"))
			w.(http.Flusher).Flush()
			<-release
			w.Write([]byte("2"))
		default: // the no-cache request: the origin fails, after the commit
			close(entered)
			<-committed
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
	e.clock.Advance(time.Second)
	second := make(chan result, 1)
	go func() { second <- get(t, e.tr, "GET", u, "Cache-Control", "no-cache") }()
	<-entered
	close(release)
	b, _ := io.ReadAll(first.Body) // EOF once committed (a short body)
	first.Body.Close()
	if string(b) != "v2" {
		t.Fatalf("first: %q", b)
	}
	close(committed)
	r := <-second
	if r.status != 200 || r.cache != Stale {
		t.Fatalf("no-cache request, StaleIfError, stored entry, failing origin: %d %s %q, want 200 STALE", r.status, r.cache, r.body)
	}
}
