package cache

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMarkerKeyedRequestLeavesAnotherVariantsDownload: the origin's Vary
// changed (X-L, then X-E). Two requests the old marker puts in one variant
// (same X-L) differ by the new Vary (X-E). The second one joins the
// first's flight, keyed by the marker's variant, whose download is another
// variant: it must not wait for that whole download, past its deadline.
func TestMarkerKeyedRequestLeavesAnotherVariantsDownload(t *testing.T) {
	hold := make(chan struct{})
	var phase2 atomic.Bool
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if !phase2.Load() {
			w.Header().Set("Vary", "X-L")
			io.WriteString(w, "l="+r.Header.Get("X-L"))
			return
		}
		w.Header().Set("Vary", "X-E")
		if r.Header.Get("X-E") == "1" {
			w.Header().Set("Content-Length", "3")
			io.WriteString(w, "e=")
			w.(http.Flusher).Flush()
			<-hold
			io.WriteString(w, "1")
			return
		}
		io.WriteString(w, "e="+r.Header.Get("X-E"))
	}, Options{Policy: varyAll{}, Now: clock, StallAfter: 30 * time.Second})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	c := &http.Client{Transport: tr}
	get := func(ctx context.Context, l, e string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("X-L", l)
		if e != "" {
			req.Header.Set("X-E", e)
		}
		return c.Do(req)
	}
	resp, err := get(context.Background(), "a", "")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	now = now.Add(2 * time.Hour) // everything stale
	mu.Unlock()
	phase2.Store(true)
	r1, err := get(context.Background(), "b", "1")
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	r2, err := get(ctx, "b", "2")
	if err != nil {
		t.Fatalf("second request after %v: %v; want its own answer without waiting for another variant's download",
			time.Since(start).Round(time.Millisecond), err)
	}
	got, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if string(got) != "e=2" {
		t.Fatalf("second request: %q", got)
	}
}
