package cache_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/filestore"
)

// varyFiles stores every 200 for an hour, with Vary selecting variants.
type varyFiles struct{}

func (varyFiles) Request(*http.Request, cache.Rule) (cache.Request, string) { return varyFiles{}, "" }
func (varyFiles) Vary() bool                                                { return true }
func (varyFiles) Invalidated(req *http.Request, _ *http.Response) []*url.URL {
	return []*url.URL{req.URL}
}
func (varyFiles) Fresh(m *cache.Meta, now time.Time) bool           { return now.Sub(m.Fetched) < time.Hour }
func (varyFiles) Storable(resp *http.Response) bool                 { return resp.StatusCode == 200 }
func (varyFiles) Shareable(*http.Response) bool                     { return false }
func (varyFiles) Stale(*cache.Meta, time.Time, *http.Response) bool { return false }
func (varyFiles) Revalidating(*cache.Meta, time.Time) bool          { return false }
func (varyFiles) OnlyIfCached() bool                                { return false }
func (varyFiles) Age(m *cache.Meta, now time.Time) time.Duration    { return now.Sub(m.Fetched) }

// TestOtherVariantStalledFillOnFileStore is
// TestOtherVariantLeavesAStalledFill on the file store, whose lock is one
// per URL (filestore.lockBase drops "@@v-"): B's own flight shares the
// lock that A's flight in this process holds, rather than waiting for it
// until the lease (5 s) lapses after A stalled, past B's deadline.
func TestOtherVariantStalledFillOnFileStore(t *testing.T) {
	hold := make(chan struct{})
	var aRequests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		if r.Header.Get("Accept-Language") == "a" && aRequests.Add(1) == 1 {
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "aa")
			w.(http.Flusher).Flush()
			<-hold // the origin stalls
			return
		}
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hold) })
	st, err := filestore.New(t.TempDir(), filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tr, err := cache.New(srv.Client().Transport, cache.Options{Store: st, Policy: varyFiles{}, StallAfter: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	c := &http.Client{Transport: tr}
	reqA, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
	reqA.Header.Set("Accept-Language", "a")
	a, err := c.Do(reqA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Body.Close()
	if _, err := io.ReadFull(a.Body, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	reqB, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
	reqB.Header.Set("Accept-Language", "b")
	start := time.Now()
	b, err := c.Do(reqB)
	if err != nil {
		t.Fatalf("variant B after %v: %v; want the origin's answer once A's download stalled (StallAfter 100ms)", time.Since(start).Round(time.Millisecond), err)
	}
	got, _ := io.ReadAll(b.Body)
	b.Body.Close()
	if string(got) != "lang=b" {
		t.Fatalf("variant B: %q %s", got, b.Header.Get(cachestatus.Header))
	}
}
