package cache

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// staleVary: Vary selects variants, nothing is fresh, and a stored 200
// answers an origin failure (stale-if-error).
type staleVary struct{ varyAll }

func (staleVary) Request(*http.Request, Rule) (Request, string) { return staleVary{}, "" }
func (staleVary) Fresh(*Meta, time.Time) bool                   { return false }
func (staleVary) Stale(m *Meta, _ time.Time, _ *http.Response) bool {
	return m.Status == http.StatusOK
}

// A request for variant B, whose stored entry may answer a failure, waits
// on variant A's download; when that stalls it asks the origin alone,
// which fails: it is answered STALE, not with the 503.
func TestStalledOtherVariantKeepsStaleIfError(t *testing.T) {
	hold := make(chan struct{})
	var bRequests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		if r.Header.Get("Accept-Language") == "a" {
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "aa")
			w.(http.Flusher).Flush()
			<-hold // the origin stalls
			return
		}
		if bRequests.Add(1) > 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "down")
			return
		}
		io.WriteString(w, "lang=b")
	}, Options{Policy: staleVary{}, StallAfter: 100 * time.Millisecond})
	t.Cleanup(func() { close(hold) })
	c := &http.Client{Transport: tr}
	get := func(ctx context.Context, lang string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		return c.Do(req)
	}
	b, err := get(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(b.Body)
	b.Body.Close()

	a, err := get(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Body.Close()
	if _, err := io.ReadFull(a.Body, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	b, err = get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(b.Body)
	b.Body.Close()
	if b.StatusCode != 200 || b.Header.Get(cachestatus.Header) != cachestatus.Stale {
		t.Fatalf("variant B after A stalled, origin failing: %d %s %q, want 200 STALE \"lang=b\"",
			b.StatusCode, b.Header.Get(cachestatus.Header), got)
	}
}
