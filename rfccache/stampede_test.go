package rfccache

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// stampede sends n concurrent GETs of url through rt and returns the
// bodies and X-Cache values.
func stampede(t testing.TB, rt http.RoundTripper, url string, n int) (bodies [][]byte, statuses map[string]int) {
	t.Helper()
	c := &http.Client{Transport: rt}
	bodies = make([][]byte, n)
	var mu sync.Mutex
	statuses = map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := c.Get(url)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Errorf("request %d: reading: %v", i, err)
				return
			}
			bodies[i] = b
			mu.Lock()
			statuses[resp.Header.Get(Header)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return bodies, statuses
}

func TestStampede(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"miss", testserver.Slow(testserver.NewResource(want, testserver.WithHeader("Cache-Control", "max-age=60")), 100*time.Millisecond)},
		{"unknown length", testserver.Slow(withHeader(testserver.Chunked(want), "Cache-Control", "max-age=60"), 100*time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.srv.Handle("/s", tc.h)
			bodies, statuses := stampede(t, f.tr, f.srv.URL+"/s", 200)
			if got := f.srv.Hits("/s"); got != 1 {
				t.Fatalf("origin requests = %d for 200 concurrent misses, want 1", got)
			}
			for i, b := range bodies {
				if !bytes.Equal(b, want) {
					t.Fatalf("request %d: %d bytes, not the %d the origin sent", i, len(b), len(want))
				}
			}
			if statuses[Miss] != 1 || statuses[Hit] != 199 {
				t.Fatalf("X-Cache counts %v, want 1 MISS and 199 HIT", statuses)
			}
			if st := f.tr.Stats(); st.Coalesced < 1 || st.Stored != 1 {
				t.Fatalf("Stats = %+v", st)
			}
		})
	}
	t.Run("stale entry: one revalidation", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.Handle("/s", testserver.Slow(testserver.NewResource(want, testserver.WithHeader("Cache-Control", "max-age=60")), 100*time.Millisecond))
		f.get(t, "/s")
		f.clock.Advance(time.Hour)
		_, statuses := stampede(t, f.tr, f.srv.URL+"/s", 50)
		if got := f.srv.Hits("/s"); got != 2 {
			t.Fatalf("origin requests = %d, want 2 (the first fetch and one revalidation)", got)
		}
		if statuses[Revalidated] != 1 || statuses[Hit] != 49 {
			t.Fatalf("X-Cache counts %v", statuses)
		}
	})
	t.Run("uncacheable: waiters fetch on their own", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.Handle("/s", testserver.Slow(testserver.NewResource(want, testserver.WithHeader("Cache-Control", "no-store")), 20*time.Millisecond))
		bodies, _ := stampede(t, f.tr, f.srv.URL+"/s", 10)
		for i, b := range bodies {
			if !bytes.Equal(b, want) {
				t.Fatalf("request %d: wrong body", i)
			}
		}
		if got := f.srv.Hits("/s"); got != 10 {
			t.Fatalf("origin requests = %d, want 10", got)
		}
	})
}

// TestStampedeBareHTTPCache documents the fault this stage fixes: bare
// httpcache.Transport sends concurrent misses to the origin.
func TestStampedeBareHTTPCache(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/s", testserver.Slow(testserver.NewResource([]byte("x"), testserver.WithHeader("Cache-Control", "max-age=60")), 100*time.Millisecond))
	tr := &httpcache.Transport{Transport: srv.Client().Transport, Cache: httpcache.NewMemoryCache()}
	stampede(t, tr, srv.URL+"/s", 50)
	if got := srv.Hits("/s"); got <= 1 {
		t.Fatalf("bare httpcache made %d origin requests for 50 concurrent misses; the premise of the stampede fix is gone", got)
	}
	t.Logf("bare httpcache: %d origin requests for 50 concurrent misses", srv.Hits("/s"))
}

func withHeader(h http.Handler, k, v string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(k, v)
		h.ServeHTTP(w, r)
	})
}
