package rfccache

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestVariantDoesNotWaitOnFiles: on the file store, which locks entries
// across processes, a request for variant B does not wait for the lock
// that this process's download of variant A holds, whether A is the URL's
// first download or the URL's Vary marker is stored.
func TestVariantDoesNotWaitOnFiles(t *testing.T) {
	for _, marker := range []bool{false, true} {
		t.Run(map[bool]string{false: "first download", true: "marker stored"}[marker], func(t *testing.T) {
			origin := testserver.New()
			t.Cleanup(origin.Close)
			hold := make(chan struct{})
			t.Cleanup(sync.OnceFunc(func() { close(hold) }))
			slow := int32(1) // which request for A stays under way
			if marker {
				slow = 2
			}
			var aRequests atomic.Int32
			origin.HandleFunc("/v", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Vary", "Accept-Language")
				w.Header().Set("Cache-Control", "max-age=60")
				lang := r.Header.Get("Accept-Language")
				n := int32(0)
				if lang == "a" {
					n = aRequests.Add(1)
				}
				if n == 1 && marker {
					w.Header().Set("Cache-Control", "max-age=0") // stored stale: the next request for A downloads it again
				}
				if n == slow {
					w.Header().Set("Content-Length", "12")
					io.WriteString(w, "lang=")
					w.(http.Flusher).Flush()
					<-hold
					io.WriteString(w, "a again")
					return
				}
				io.WriteString(w, "lang="+lang)
			})
			store, err := httpcachestore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			tr, err := New(origin.Client().Transport, store, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tr.Close() })
			c := &http.Client{Transport: tr}
			if marker {
				if r := do(t, c, "GET", origin.URL+"/v", "Accept-Language", "a"); r.body != "lang=a" {
					t.Fatalf("A: %q %s", r.body, r.cache)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, origin.URL+"/v", nil)
			req.Header.Set("Accept-Language", "a")
			a, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Body.Close()
			if _, err := io.ReadFull(a.Body, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, origin.URL+"/v", nil)
			req.Header.Set("Accept-Language", "b")
			b, err := c.Do(req)
			if err != nil {
				t.Fatalf("variant B while A downloads: %v", err)
			}
			got, err := io.ReadAll(b.Body)
			b.Body.Close()
			if err != nil || string(got) != "lang=b" {
				t.Fatalf("variant B: %q, %v", got, err)
			}
			if r := do(t, c, "GET", origin.URL+"/v", "Accept-Language", "b"); r.cache != Hit || r.body != "lang=b" {
				t.Fatalf("variant B again: %q %s, want a HIT", r.body, r.cache)
			}
		})
	}
}
