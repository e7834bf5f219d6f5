package cache

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// countedLookups is a Store that counts its Lookups.
type countedLookups struct {
	Store
	n atomic.Int32
}

func (s *countedLookups) Lookup(ctx context.Context, k Key) (*Meta, io.ReadCloser, error) {
	s.n.Add(1)
	return s.Store.Lookup(ctx, k)
}

// TestRevalidatedAnswersFromUpdate: a stale entry confirmed by a 304 is
// answered with the body the store's Update returns, and its new fields,
// without a second Lookup.
func TestRevalidatedAnswersFromUpdate(t *testing.T) {
	var requests, conditional atomic.Int32
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	st := &countedLookups{Store: NewByteStore(httpcache.NewMemoryCache(), nil)}
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("If-None-Match") == `"v1"` {
			conditional.Add(1)
			w.Header().Set("Etag", `"v1"`)
			w.Header().Set("X-Seen", "second")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("X-Seen", "first")
		w.Write([]byte("the body"))
	}, Options{Store: st, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	get := func() (string, *http.Response) {
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/doc")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return string(b), resp
	}
	get()
	now.Add(int64(2 * time.Hour)) // stale for storeAll
	st.n.Store(0)
	b, resp := get()
	if b != "the body" || resp.Header.Get(cachestatus.Header) != cachestatus.Revalidated || resp.Header.Get("X-Seen") != "second" {
		t.Fatalf("%q, X-Cache %q, X-Seen %q; want the stored body, REVALIDATED, the 304's field",
			b, resp.Header.Get(cachestatus.Header), resp.Header.Get("X-Seen"))
	}
	if n := st.n.Load(); n != 1 || conditional.Load() != 1 {
		t.Fatalf("%d Lookups and %d conditional requests for a revalidation; want 1 and 1", n, conditional.Load())
	}
	if b, resp := get(); b != "the body" || resp.Header.Get(cachestatus.Header) != cachestatus.Hit || requests.Load() != 2 {
		t.Fatalf("after the 304: %q, X-Cache %q, %d origin requests; want a HIT and 2", b, resp.Header.Get(cachestatus.Header), requests.Load())
	}
}

// invalidatedDuringUpdate is a Store whose Update lets an unsafe request
// through the transport invalidate the URL after its write, as one that
// lands between a store's read and write would; its Invalidate removes
// nothing, as that one would have found nothing to remove yet.
type invalidatedDuringUpdate struct {
	Store
	post func()
}

func (s *invalidatedDuringUpdate) Update(ctx context.Context, k Key, m *Meta) (io.ReadCloser, error) {
	body, err := s.Store.Update(ctx, k, m)
	if !m.Marker() {
		s.post()
	}
	return body, err
}

func (s *invalidatedDuringUpdate) Invalidate(context.Context, Key) (int, error) { return 0, nil }

// TestInvalidationDuringUpdateWins: a URL invalidated while a 304 updates
// its entry loses the entry; the request that revalidated still gets its
// answer.
func TestInvalidationDuringUpdateWins(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	st := &invalidatedDuringUpdate{Store: NewByteStore(httpcache.NewMemoryCache(), nil)}
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte("the body"))
	}, Options{Store: st, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	c := &http.Client{Transport: tr}
	st.post = func() {
		resp, err := c.Post(srv.URL+"/doc", "text/plain", nil)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	get := func() (string, string) {
		resp, err := c.Get(srv.URL + "/doc")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return string(b), resp.Header.Get(cachestatus.Header)
	}
	get()
	now.Add(int64(2 * time.Hour))
	if b, status := get(); b != "the body" || status != cachestatus.Revalidated {
		t.Fatalf("the revalidating request: %q %s, want the body REVALIDATED", b, status)
	}
	k, _ := KeyFor(mustURL(t, srv.URL+"/doc"))
	if m, _, err := st.Lookup(context.Background(), k); err == nil {
		t.Fatalf("the entry outlived its invalidation: %+v", m)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
