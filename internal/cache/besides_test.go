package cache

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// olderDownload starts a download of /doc that sends half its body and
// then waits for release; later requests for /doc get "new" after a
// moment, long enough for a stampede to gather. It returns the engine,
// the server's URL, the first response (half read) and the count of
// origin requests.
func olderDownload(t *testing.T, opts Options) (*Transport, string, *http.Response, *atomic.Int32, func()) {
	t.Helper()
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
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "new")
	}, opts)
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
	old, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	if _, err := io.ReadFull(old.Body, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	return tr, srv.URL, old, &requests, release
}

// burst sends n GETs of u at once with the header fields hdr (name,
// value) and returns their bodies and X-Cache values.
func burst(t *testing.T, tr http.RoundTripper, u string, n int, hdr ...string) ([]string, []string) {
	t.Helper()
	bodies, caches := make([]string, n), make([]string, n)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			for j := 0; j+1 < len(hdr); j += 2 {
				req.Header.Set(hdr[j], hdr[j+1])
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			bodies[i], caches[i] = string(b), resp.Header.Get(cachestatus.Header)
		})
	}
	wg.Wait()
	return bodies, caches
}

// TestNoCacheBurstBesideAnOlderDownload: ten requests with no-cache that
// arrive together while an older download of their URL runs may not share
// it; they share one origin request of their own instead of making ten.
func TestNoCacheBurstBesideAnOlderDownload(t *testing.T) {
	tr, u, old, requests, release := olderDownload(t, Options{})
	bodies, caches := burst(t, tr, u+"/doc", 10, "Cache-Control", "no-cache")
	for i := range bodies {
		if bodies[i] != "new" || caches[i] != cachestatus.Miss {
			t.Errorf("request %d: %q %s, want the origin's new answer", i, bodies[i], caches[i])
		}
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d origin requests, want 2: the older download's and the burst's", n)
	}
	// The older download ends, and is not stored over the newer answer.
	release()
	if rest, err := io.ReadAll(old.Body); err != nil || string(rest) != "old" {
		t.Fatalf("rest of the older download: %q, %v", rest, err)
	}
	old.Body.Close()
	bodies, caches = burst(t, tr, u+"/doc", 1)
	if bodies[0] != "new" || caches[0] != cachestatus.Miss {
		t.Fatalf("an ordinary request afterwards: %q %s, want the origin's new answer", bodies[0], caches[0])
	}
}

// TestStallBurst: ten requests that come once a download stalled share one
// origin request of their own.
func TestStallBurst(t *testing.T) {
	tr, u, _, requests, _ := olderDownload(t, Options{StallAfter: 100 * time.Millisecond})
	time.Sleep(300 * time.Millisecond) // the download stalls
	bodies, _ := burst(t, tr, u+"/doc", 10)
	for i := range bodies {
		if bodies[i] != "new" {
			t.Errorf("request %d: %q, want the origin's new answer", i, bodies[i])
		}
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d origin requests, want 2: the stalled download's and the burst's", n)
	}
}
