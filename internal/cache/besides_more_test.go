package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/retry"
)

// TestMixedVariantBurst: five no-cache requests of variant a and five of
// variant b arrive during variant a's older download and join one beside
// flight keyed without Vary. The variant its leader is not of cannot
// follow it; its five share a flight of their own variant.
func TestMixedVariantBurst(t *testing.T) {
	hold := make(chan struct{})
	var requests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		if requests.Add(1) == 1 {
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "old")
			w.(http.Flusher).Flush()
			<-hold
			io.WriteString(w, "old")
			return
		}
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	}, Options{Policy: varyAll{}})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	u := srv.URL + "/doc"
	req := mustGet(t, u)
	req.Header.Set("Accept-Language", "a")
	old, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	io.ReadFull(old.Body, make([]byte, 3))

	var wg sync.WaitGroup
	for _, lang := range []string{"a", "b"} {
		wg.Go(func() {
			bodies, caches := burst(t, tr, u, 5, "Cache-Control", "no-cache", "Accept-Language", lang)
			for i := range bodies {
				if bodies[i] != "lang="+lang {
					t.Errorf("%s %d: %q %s", lang, i, bodies[i], caches[i])
				}
			}
		})
	}
	wg.Wait()
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d origin requests, want 3: the older download's and one per variant's burst", n)
	}
}

// deadlineRequest returns a request for /doc whose origin answers with
// later, through an engine over the retry stage: beside an older download
// of /doc that is still arriving (with no-cache), or as an ordinary miss.
func deadlineRequest(t *testing.T, ctx context.Context, beside bool, later http.HandlerFunc) (*Transport, *http.Request) {
	t.Helper()
	hold := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if beside && requests.Add(1) == 1 {
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "old")
			w.(http.Flusher).Flush()
			<-hold
			io.WriteString(w, "old")
			return
		}
		later(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(sync.OnceFunc(func() { close(hold) }))
	rt, err := retry.New(srv.Client().Transport, retry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(rt, Options{Store: NewByteStore(httpcache.NewMemoryCache(), nil), Policy: storeAll{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	u := srv.URL + "/doc"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if beside {
		old, err := tr.RoundTrip(mustGet(t, u))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { old.Body.Close() })
		io.ReadFull(old.Body, make([]byte, 3))
		req.Header.Set("Cache-Control", "no-cache")
	}
	return tr, req
}

// TestDeadlineShownToRetry: the request to the origin, beside an older
// download or for an ordinary miss, goes on a context detached from the
// caller's (the download may outlive it for the waiters), which still
// reports its deadline to the stages below: the retry stage sees that a
// 503's Retry-After outlasts the deadline and hands the 503 on at once
// instead of waiting it out.
func TestDeadlineShownToRetry(t *testing.T) {
	for _, beside := range []bool{true, false} {
		t.Run(map[bool]string{true: "beside", false: "miss"}[beside], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			tr, req := deadlineRequest(t, ctx, beside, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			start := time.Now()
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("%v after %v; want the origin's 503 at once (Retry-After 30 s outlasts the 1 s deadline)",
					err, time.Since(start).Round(time.Millisecond))
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", resp.StatusCode)
			}
		})
	}
}

// TestDeadlineReported: an answer that is not shared (a 404 under
// storeAll), beside an older download or for an ordinary miss, has its
// body read on the detached context; when the caller's deadline passes
// mid-body the read fails with context.DeadlineExceeded, not
// context.Canceled.
func TestDeadlineReported(t *testing.T) {
	for _, beside := range []bool{true, false} {
		t.Run(map[bool]string{true: "beside", false: "miss"}[beside], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			tr, req := deadlineRequest(t, ctx, beside, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "6")
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, "nop")
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			})
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err = io.ReadAll(resp.Body); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("reading past the deadline: %v, want context.DeadlineExceeded", err)
			}
		})
	}
}
