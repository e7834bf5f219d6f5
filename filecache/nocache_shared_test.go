package filecache

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A 404 is not stored but is shared with the requests that join its flight
// (Shareable). Ordinary requests (no no-cache, no max-age=0) that arrive
// while it still streams follow it: nothing makes them validate. (Judged by
// the policy's freshness of the download, which filecache gives only to a
// 200, each late one went to the origin alone: 51 requests for 50.)
func TestOrdinaryStampedeSharesStreaming404(t *testing.T) {
	e := newEnv(t)
	var served atomic.Int32
	e.srv.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("no such "))
		w.(http.Flusher).Flush()
		time.Sleep(time.Second) // the body is still arriving while the others come
		w.Write([]byte("file"))
	})
	u := e.srv.URL + "/gone"
	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	go func() { io.Copy(io.Discard, first.Body); first.Body.Close() }()
	e.clock.Advance(time.Millisecond) // time passes, as it does on a real clock

	bodies, caches := hammer(t, e.tr, u, 50)
	if n := served.Load(); n != 1 {
		t.Errorf("origin asked %d times for one streaming 404 and 50 ordinary requests, want 1", n)
	}
	counts := map[string]int{}
	for i := range bodies {
		if string(bodies[i]) != "no such file" {
			t.Fatalf("request %d: %q", i, bodies[i])
		}
		counts[caches[i]]++
	}
	t.Logf("X-Cache counts %v", counts)
}
