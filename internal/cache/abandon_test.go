package cache

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestEarlyCloseKeepsTheDownloadForAHeldWaiter: the leader closes its body
// at once; a waiter that joined the flight (and holds it) and attaches a
// moment later still follows the download: one origin request.
func TestEarlyCloseKeepsTheDownloadForAHeldWaiter(t *testing.T) {
	var tr *Transport
	const size = 4 << 20
	body := bytes.Repeat([]byte("x"), size)
	var requests atomic.Int32
	var srv *httptest.Server
	tr, srv = newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			for tr.flights.holdsOfOne() < 1 {
				time.Sleep(time.Millisecond)
			}
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(body)
	}, Options{})
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close() // the leader wanted only the headers
		}
	}()
	for tr.flights.holdsOfOne() == -1 {
		time.Sleep(time.Millisecond)
	}
	ctx := &slowCtx{Context: context.Background(), delay: 200 * time.Millisecond} // wakes up a little late
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(got) != size {
		t.Fatalf("waiter: %d bytes, %v", len(got), err)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d origin requests for one stampede, want 1", n)
	}
}
