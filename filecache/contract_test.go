package filecache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestAbandonedLeaderReleasesWaiters: the request that leads a download
// ends its context without reading or closing the body; the requests
// waiting for it must not wait until their own contexts end.
func TestAbandonedLeaderReleasesWaiters(t *testing.T) {
	e := newEnv(t)
	e.srv.Handle("/slow", testserver.SlowBody([]byte(strings.Repeat("s", 64<<10)), 1024, 20*time.Millisecond))
	u := e.srv.URL + "/slow"

	lctx, cancel := context.WithCancel(context.Background())
	lreq, _ := http.NewRequestWithContext(lctx, http.MethodGet, u, nil)
	lresp, err := e.tr.RoundTrip(lreq)
	if err != nil {
		t.Fatal(err)
	}
	_ = lresp // never read, never closed
	done := make(chan error, 1)
	go func() {
		ctx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer c2()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := e.tr.RoundTrip(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the waiter joined the flight
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was still waiting 5s after the leader's context ended")
	}
}

// TestUnframedBodyNotStored: a body that ends when the connection closes
// (no Content-Length, no chunking) cannot be told from a cut one, so it is
// passed on but never stored.
func TestUnframedBodyNotStored(t *testing.T) {
	e := newEnv(t)
	var hits atomic.Int32
	e.srv.HandleFunc("/unframed", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nwhole body, or is it?")
		buf.Flush()
	})
	u := e.srv.URL + "/unframed"
	for range 2 {
		r := get(t, e.tr, http.MethodGet, u)
		expect(t, r, http.StatusOK, Miss, []byte("whole body, or is it?"))
	}
	if hits.Load() != 2 {
		t.Fatalf("%d origin requests, want 2: the unframed body was served from the cache", hits.Load())
	}
}

// TestSharedResponseDropsSetCookie: requests that waited for another's
// uncacheable answer get its status and body, never its cookies.
func TestSharedResponseDropsSetCookie(t *testing.T) {
	e := newEnv(t)
	e.srv.Handle("/login", testserver.Slow(testserver.Status(http.StatusNotFound, "who are you", "Set-Cookie", "session=leader-secret"), 200*time.Millisecond))
	u := e.srv.URL + "/login"
	results := make(chan result, 2)
	for range 2 {
		go func() { results <- get(t, e.tr, http.MethodGet, u) }()
	}
	var cookies int
	for range 2 {
		r := <-results
		if r.status != http.StatusNotFound || string(r.body) != "who are you" {
			t.Fatalf("got %d %q", r.status, r.body)
		}
		if r.header.Get("Set-Cookie") != "" {
			cookies++
		}
	}
	if e.srv.Hits("/login") == 1 && cookies != 1 {
		t.Fatalf("%d of 2 responses carried the cookie set for one of them", cookies)
	}
}

type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

// TestHitClosesRequestBody: the RoundTripper contract asks the transport to
// close the request body, also when the cache answers.
func TestHitClosesRequestBody(t *testing.T) {
	e := newEnv(t)
	e.srv.Handle("/x", testserver.NewResource([]byte("x")))
	get(t, e.tr, http.MethodGet, e.srv.URL+"/x")
	body := &closeTracker{Reader: strings.NewReader("unexpected")}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/x", body)
	resp, err := e.tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(Header) != Hit || !body.closed.Load() {
		t.Fatalf("X-Cache %s, request body closed %v", resp.Header.Get(Header), body.closed.Load())
	}
}

// TestLeakedBodyStallsNobody: a GET whose body is neither read nor closed
// (with a context that never ends) costs later GETs of the same URL
// nothing: they are served at once, from the entry the download stored.
func TestLeakedBodyStallsNobody(t *testing.T) {
	for _, size := range []int{0, 100, 3 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e := newEnv(t)
			body := []byte(strings.Repeat("l", size))
			e.srv.Handle("/leak", testserver.NewResource(body))
			u := e.srv.URL + "/leak"
			leaked, err := e.tr.RoundTrip(newRequest(t, http.MethodGet, u))
			if err != nil {
				t.Fatal(err)
			}
			_ = leaked // never read, never closed
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				resp, err := e.tr.RoundTrip(req)
				if err != nil {
					cancel()
					t.Fatalf("a GET after the leaked one: %v", err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				cancel()
				if err != nil || string(got) != string(body) || resp.Header.Get(Header) != Hit {
					t.Fatalf("%s, %d bytes, %v", resp.Header.Get(Header), len(got), err)
				}
			}
			if n := e.srv.Hits("/leak"); n != 1 {
				t.Fatalf("%d origin requests", n)
			}
		})
	}
}

// TestConcurrentUnsafeRequests: many goroutines sending POSTs to one URL,
// while GETs of it run, never wait on each other's invalidations.
func TestConcurrentUnsafeRequests(t *testing.T) {
	e := newEnv(t)
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("r", 10_000))
	})
	u := e.srv.URL + "/r"
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				for range 10 {
					get(t, e.tr, http.MethodPost, u)
					get(t, e.tr, http.MethodGet, u)
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("1,000 POSTs to one URL did not finish in a minute")
	}
}
