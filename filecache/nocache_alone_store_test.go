package filecache

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A no-cache request made while an older download still arrives asks the
// origin alone and gets a newer 200. The older download is then not stored
// over the entry, so a later request does not get the older body as a HIT
// for the rest of its max-age after the cache handed out the newer one.
func TestAloneAnswerNotOverwrittenByOlderCommit(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 1 {
			w.Write([]byte("new"))
			return
		}
		serveOld(w, release)
	})
	u := e.srv.URL + "/r"
	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	r := get(t, e.tr, "GET", u, "Cache-Control", "no-cache")
	if string(r.body) != "new" {
		t.Fatalf("no-cache request: %q %s", r.body, r.cache)
	}
	close(release)
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	e.clock.Advance(time.Second)
	later := get(t, e.tr, "GET", u)
	if string(later.body) != "new" {
		t.Fatalf("ordinary request after a no-cache request got \"new\": %q %s (origin asked %d times), want \"new\"",
			later.body, later.cache, served.Load())
	}
}

// When the origin fails or refuses the no-cache request that asked it
// alone, the older download it did not share is still stored: a failure or
// a refusal (429) is not a newer answer.
func TestAloneFailureKeepsOlderDownload(t *testing.T) {
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			e := newEnv(t)
			release := make(chan struct{})
			var served atomic.Int32
			e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
				if served.Add(1) > 1 {
					w.WriteHeader(code)
					return
				}
				serveOld(w, release)
			})
			u := e.srv.URL + "/r"
			first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Second)
			if r := get(t, e.tr, "GET", u, "Cache-Control", "no-cache"); r.status != code {
				t.Fatalf("no-cache request: %d %s", r.status, r.cache)
			}
			close(release)
			io.Copy(io.Discard, first.Body)
			first.Body.Close()
			e.clock.Advance(time.Second)
			expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("old"))
		})
	}
}

// serveOld answers with "old", its first byte at once and the rest once
// release is closed: an older download still arriving.
func serveOld(w http.ResponseWriter, release <-chan struct{}) {
	w.Header().Set("Content-Length", "3")
	w.Write([]byte("o"))
	w.(http.Flusher).Flush()
	<-release
	w.Write([]byte("ld"))
}

// Ten no-cache requests that arrive together while an older download still
// arrives share one origin request of their own, on files as in memory.
func TestNoCacheBurstDuringOlderDownload(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 1 {
			time.Sleep(100 * time.Millisecond) // the burst gathers
			w.Write([]byte("new"))
			return
		}
		serveOld(w, release)
	})
	t.Cleanup(sync.OnceFunc(func() { close(release) }))
	u := e.srv.URL + "/r"
	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	e.clock.Advance(time.Second)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			resp, err := e.tr.RoundTrip(newRequest(t, "GET", u, "Cache-Control", "no-cache"))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "new" {
				t.Errorf("request %d: %q %s, %v; want the origin's new answer", i, b, resp.Header.Get(Header), err)
			}
		})
	}
	wg.Wait()
	if n := served.Load(); n != 2 {
		t.Fatalf("%d origin requests, want 2: the older download's and the burst's", n)
	}
}
