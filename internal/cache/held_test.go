package cache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestOtherVariantLeavingGivesAnUnreadDownloadUp: variant A's leader
// closes its body at once while variant B's waiter holds the flight; the
// download is kept for B, and given up once B leaves without following it
// (another variant), so that B does not wait for a body nobody reads.
func TestOtherVariantLeavingGivesAnUnreadDownloadUp(t *testing.T) {
	var tr *Transport
	const chunk, chunks = 64 << 10, 100 // ~5 s at 50 ms a chunk
	var aGone atomic.Bool
	var aRequests atomic.Int32
	var srv *httptest.Server
	tr, srv = newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		if r.Header.Get("Accept-Language") == "a" && aRequests.Add(1) == 1 {
			for tr.flights.holdsOfOne() < 1 { // until B joined
				time.Sleep(time.Millisecond)
			}
			w.Header().Set("Content-Length", strconv.Itoa(chunk*chunks))
			buf := make([]byte, chunk)
			for i := 0; i < chunks; i++ {
				if _, err := w.Write(buf); err != nil {
					aGone.Store(true)
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					aGone.Store(true)
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			return
		}
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	}, Options{Policy: varyAll{}})
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", "a")
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close() // A wanted only the headers
		}
	}()
	for tr.flights.holdsOfOne() == -1 {
		time.Sleep(time.Millisecond)
	}
	ctx := &slowCtx{Context: context.Background(), delay: 200 * time.Millisecond} // B holds a moment
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
	req.Header.Set("Accept-Language", "b")
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if string(got) != "lang=b" {
		t.Fatalf("B: %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	if took > 2*time.Second || !aGone.Load() {
		t.Fatalf("B answered after %v; A's unread download given up: %v (want B at once, and A's download cut off when A closed and B left)",
			took.Round(time.Millisecond), aGone.Load())
	}
}
