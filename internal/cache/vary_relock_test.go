package cache_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/filestore"
)

// TestRelockedLeaderAndVariantFlightShareOneOriginRequest: process 2's
// first request for B found no marker, so it leads the URL's flight and
// waits for the URL's lock, held by process 1's download of A. Once A is
// committed (with the marker) it relocks as B and asks the origin. A second
// request for B in process 2 now finds the marker and joins B's flight (not
// the URL's flight the first one leads); on the file store it waits for
// B's lock, which the first holds, rather than sharing it, and gets the
// first one's entry: one origin request for B.
func TestRelockedLeaderAndVariantFlightShareOneOriginRequest(t *testing.T) {
	holdA, holdB := make(chan struct{}), make(chan struct{})
	var bRequests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		lang := r.Header.Get("Accept-Language")
		switch lang {
		case "a":
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "la")
			w.(http.Flusher).Flush()
			<-holdA
			io.WriteString(w, "ng=a")
		case "b":
			bRequests.Add(1)
			w.Header().Set("Content-Length", "6")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-holdB
			io.WriteString(w, "lang=b")
		}
	}))
	t.Cleanup(srv.Close)
	var closedA, closedB atomic.Bool
	releaseA := func() {
		if closedA.CompareAndSwap(false, true) {
			close(holdA)
		}
	}
	releaseB := func() {
		if closedB.CompareAndSwap(false, true) {
			close(holdB)
		}
	}
	t.Cleanup(releaseA)
	t.Cleanup(releaseB)
	dir := t.TempDir()
	newTr := func() *cache.Transport {
		st, err := filestore.New(dir, filestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		tr, err := cache.New(srv.Client().Transport, cache.Options{Store: st, Policy: varyFiles{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	c1, c2 := &http.Client{Transport: newTr()}, &http.Client{Transport: newTr()}
	get := func(c *http.Client, lang string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		return c.Do(req)
	}
	a, err := get(c1, "a") // process 1 holds the URL's lock for A
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		body string
		err  error
	}
	fetchB := func() chan result {
		ch := make(chan result, 1)
		go func() {
			resp, err := get(c2, "b")
			if err != nil {
				ch <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			ch <- result{string(b), err}
		}()
		return ch
	}
	first := fetchB()                  // process 2: no marker yet, waits for the URL's lock
	time.Sleep(200 * time.Millisecond) // it is waiting on process 1's lock
	releaseA()
	if got, err := io.ReadAll(a.Body); err != nil || string(got) != "lang=a" {
		t.Fatalf("A: %q %v", got, err)
	}
	a.Body.Close()
	for deadline := time.Now().Add(5 * time.Second); bRequests.Load() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request for B never reached the origin")
		}
	}
	second := fetchB() // finds the marker: B's own flight
	time.Sleep(300 * time.Millisecond)
	n := bRequests.Load()
	releaseB()
	for i, ch := range []chan result{first, second} {
		r := <-ch
		if r.err != nil || r.body != "lang=b" {
			t.Errorf("request %d for B: %q %v", i+1, r.body, r.err)
		}
	}
	if n != 1 {
		t.Fatalf("origin requests for B during B's download in one process: %d, want 1", n)
	}
}
