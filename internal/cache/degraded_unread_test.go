package cache

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gregjones/httpcache"
)

// TestUnreadBodyHoldsADegradedFillBackBriefly: the store fails (disk
// full) and the leader's caller never reads nor closes its body. A
// follower of the same download waits after degradedWindow bytes for
// StallAfter at most: then the unread body is cut off and the follower
// gets the whole body.
func TestUnreadBodyHoldsADegradedFillBackBriefly(t *testing.T) {
	var tr *Transport
	const size = 16 << 20
	body := bytes.Repeat([]byte("abcdefgh"), size/8)
	var srv *httptest.Server
	tr, srv = newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		for tr.flights.holdsOfOne() < 1 { // until the follower joined
			time.Sleep(time.Millisecond)
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(body)
	}, Options{Store: failingWrites{NewByteStore(httpcache.NewMemoryCache(), nil)}, StallAfter: 200 * time.Millisecond})
	leaked := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Error(err)
		}
		leaked <- resp // never read, never closed
	}()
	for tr.flights.holdsOfOne() == -1 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(got) != size {
		t.Fatalf("follower: %d of %d bytes, %v: held back by a body nobody reads", len(got), size, err)
	}
	if r := <-leaked; r != nil {
		t.Cleanup(func() { r.Body.Close() })
	}
}
