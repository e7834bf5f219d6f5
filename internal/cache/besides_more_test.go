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

// TestBesideLeaderShowsDeadlineToRetry: the leader of a beside flight
// asks the origin on a context detached from its own (the download may
// outlive it for the waiters), which still reports its deadline to the
// stages below: the retry stage sees that a 503's Retry-After outlasts the
// deadline and hands the 503 on at once instead of waiting it out.
func TestBesideLeaderShowsDeadlineToRetry(t *testing.T) {
	hold := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "old")
			w.(http.Flusher).Flush()
			<-hold
			io.WriteString(w, "old")
			return
		}
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
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
	old, err := tr.RoundTrip(mustGet(t, u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	io.ReadFull(old.Body, make([]byte, 3))

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Cache-Control", "no-cache")
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("no-cache request during an older download: %v after %v; want the origin's 503 at once (Retry-After 30 s outlasts the 1 s deadline)",
			err, time.Since(start).Round(time.Millisecond))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}

// TestBesideLeaderDeadlineReported: the beside leader's answer is not
// shared (a 404 under storeAll) and its body is read on the detached
// context; when the caller's deadline passes mid-body the read fails with
// context.DeadlineExceeded, not context.Canceled.
func TestBesideLeaderDeadlineReported(t *testing.T) {
	hold := make(chan struct{})
	var requests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "old")
			w.(http.Flusher).Flush()
			<-hold
			io.WriteString(w, "old")
			return
		}
		w.Header().Set("Content-Length", "6")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "nop")
		w.(http.Flusher).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}, Options{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	u := srv.URL + "/doc"
	old, err := tr.RoundTrip(mustGet(t, u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	io.ReadFull(old.Body, make([]byte, 3))

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reading past the deadline: %v, want context.DeadlineExceeded", err)
	}
}

// TestPlainMissDeadline is the same read for an ordinary miss (fetch).
func TestPlainMissDeadline(t *testing.T) {
	hold := make(chan struct{})
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "6")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "nop")
		w.(http.Flusher).Flush()
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}, Options{})
	t.Cleanup(func() { close(hold) })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reading past the deadline: %v, want context.DeadlineExceeded", err)
	}
}

// TestPlainMissRetryDeadline: the same 503 for an ordinary miss (fetch).
func TestPlainMissRetryDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	rt, _ := retry.New(srv.Client().Transport, retry.Options{})
	tr, _ := New(rt, Options{Store: NewByteStore(httpcache.NewMemoryCache(), nil), Policy: storeAll{}})
	t.Cleanup(func() { tr.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("plain miss: %v", err)
	}
	resp.Body.Close()
}
