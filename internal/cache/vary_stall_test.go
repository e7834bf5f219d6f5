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

// varyAll is storeAll with Vary selecting variants.
type varyAll struct{ storeAll }

func (varyAll) Request(*http.Request, Rule) (Request, string) { return varyAll{}, "" }
func (varyAll) Vary() bool                                    { return true }

// TestOtherVariantLeavesAStalledFill: a request for variant B that joins
// while variant A's download runs, stalled here, gets the origin's answer
// before its own deadline (TestOtherVariantDoesNotWaitForADownload has one
// that is not stalled).
func TestOtherVariantLeavesAStalledFill(t *testing.T) {
	hold := make(chan struct{})
	var aRequests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		if r.Header.Get("Accept-Language") == "a" && aRequests.Add(1) == 1 {
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "aa")
			w.(http.Flusher).Flush()
			<-hold // the origin stalls
			return
		}
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	}, Options{Policy: varyAll{},
		StallAfter: 100 * time.Millisecond})
	t.Cleanup(func() { close(hold) })
	c := &http.Client{Transport: tr}
	reqA, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
	reqA.Header.Set("Accept-Language", "a")
	a, err := c.Do(reqA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Body.Close() // the caller holds A's body open (reads 2 bytes, then waits)
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
