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

// An ordinary request that finds the download stalled asks the origin
// alone; it asked for nothing newer, so the download, once it resumes and
// completes, is still stored and the next request is a HIT.
func TestStalledDownloadStillStoredAfterOrdinaryAlone(t *testing.T) {
	resume := make(chan struct{})
	var requests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4")
		if requests.Add(1) == 1 {
			io.WriteString(w, "ab")
			w.(http.Flusher).Flush()
			<-resume // the origin stalls, then goes on
			io.WriteString(w, "cd")
			return
		}
		io.WriteString(w, "abcd")
	}, Options{StallAfter: 100 * time.Millisecond})
	c := &http.Client{Transport: tr}
	get := func() (string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get(cachestatus.Header)
	}
	first, err := c.Get(srv.URL + "/doc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(first.Body, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // stalled
	if b, s := get(); b != "abcd" || s != cachestatus.Miss {
		t.Fatalf("during the stall: %q %s, want the origin's body as a MISS", b, s)
	}
	close(resume)
	b, _ := io.ReadAll(first.Body)
	first.Body.Close()
	if string(b) != "cd" {
		t.Fatalf("first: rest %q", b)
	}
	if b, s := get(); b != "abcd" || s != cachestatus.Hit {
		t.Fatalf("after the stalled download completed: %q %s (origin asked %d times), want a HIT, 2 origin requests",
			b, s, requests.Load())
	}
}
