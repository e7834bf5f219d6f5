package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// storeAll stores every 200 and keeps it fresh for an hour.
type storeAll struct{}

func (storeAll) Request(*http.Request, Rule) (Request, string) { return storeAll{}, "" }
func (storeAll) Vary() bool                                    { return false }
func (storeAll) Invalidated(req *http.Request, _ *http.Response) []*url.URL {
	return []*url.URL{req.URL}
}
func (storeAll) Fresh(m *Meta, now time.Time) bool           { return now.Sub(m.Fetched) < time.Hour }
func (storeAll) Storable(resp *http.Response) bool           { return resp.StatusCode == 200 }
func (storeAll) Shareable(*http.Response) bool               { return false }
func (storeAll) Stale(*Meta, time.Time, *http.Response) bool { return false }
func (storeAll) Revalidating(*Meta, time.Time) bool          { return false }
func (storeAll) OnlyIfCached() bool                          { return false }
func (storeAll) Age(m *Meta, now time.Time) time.Duration    { return now.Sub(m.Fetched) }

// lockingStore is a Store that hands the engine's alive funcs to the test.
type lockingStore struct {
	Store
	alive chan func() bool
}

func (s lockingStore) Lock(_ context.Context, _ Key, alive func() bool) (func(), error) {
	s.alive <- alive
	return func() {}, nil
}

// TestStalledDownload: a download whose origin stops sending holds nobody
// for long. A request that comes once it made no progress for StallAfter
// goes to the origin itself, and the store's lock is told the leader is no
// longer alive, so a lease on it lapses for other machines too.
func TestStalledDownload(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 128) // 2 KiB
	hold := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2048")
		if requests.Add(1) == 1 { // half the body, then nothing until the test ends
			w.Write(body[:1024])
			w.(http.Flusher).Flush()
			<-hold
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	st := lockingStore{Store: NewByteStore(httpcache.NewMemoryCache(), nil), alive: make(chan func() bool, 4)}
	tr, err := New(srv.Client().Transport, Options{Store: st, Policy: storeAll{}, StallAfter: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	t.Cleanup(func() { close(hold) })
	c := &http.Client{Transport: tr}

	first, err := c.Get(srv.URL + "/doc")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	if _, err := io.ReadFull(first.Body, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	alive := <-st.alive
	if !alive() {
		t.Fatal("alive() is false while the download makes progress")
	}
	time.Sleep(300 * time.Millisecond)
	if alive() {
		t.Fatal("alive() is still true after 300ms without a byte; StallAfter is 100ms")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
	second, err := c.Do(req)
	if err != nil {
		t.Fatalf("a request after the stall: %v, want the origin's answer", err)
	}
	got, err := io.ReadAll(second.Body)
	second.Body.Close()
	if err != nil || !bytes.Equal(got, body) || second.Header.Get(cachestatus.Header) != cachestatus.Miss {
		t.Fatalf("after the stall: %d bytes, %v, X-Cache %q; want the whole body, a MISS", len(got), err, second.Header.Get(cachestatus.Header))
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("the origin saw %d requests, want 2", n)
	}
}

// failingLock is a Store whose lock cannot be had (another process's
// holder stalled).
type failingLock struct{ Store }

func (failingLock) Lock(context.Context, Key, func() bool) (func(), error) {
	return nil, errors.New("the holder stalled")
}

// TestLockFailureGoesDirect: a request whose lock cannot be had, for a
// reason other than its context, goes to the origin itself.
func TestLockFailureGoesDirect(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write([]byte("direct"))
	}))
	t.Cleanup(srv.Close)
	tr, err := New(srv.Client().Transport, Options{Store: failingLock{NewByteStore(httpcache.NewMemoryCache(), nil)}, Policy: storeAll{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/doc")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "direct" || resp.Header.Get(cachestatus.Header) != cachestatus.Miss || requests.Load() != 1 {
		t.Fatalf("%q, %v, X-Cache %q, %d origin requests; want the origin's body, a MISS, 1", b, err, resp.Header.Get(cachestatus.Header), requests.Load())
	}
}

// pausedLookup is a Store whose first Lookup reports what it found, then
// waits until the test lets it return.
type pausedLookup struct {
	Store
	calls  atomic.Int32
	looked chan struct{}
	gate   chan struct{}
}

func (s *pausedLookup) Lookup(ctx context.Context, k Key) (*Meta, io.ReadCloser, error) {
	m, body, err := s.Store.Lookup(ctx, k)
	if s.calls.Add(1) == 1 {
		close(s.looked)
		<-s.gate
	}
	return m, body, err
}

// TestFlightEndsBetweenLookupAndJoin: a request that found no entry, and
// joins only after another request's flight stored it and ended, finds
// the entry instead of fetching it again.
func TestFlightEndsBetweenLookupAndJoin(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write([]byte("v1"))
	}))
	t.Cleanup(srv.Close)
	st := &pausedLookup{Store: NewByteStore(httpcache.NewMemoryCache(), nil), looked: make(chan struct{}), gate: make(chan struct{})}
	tr, err := New(srv.Client().Transport, Options{Store: st, Policy: storeAll{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	c := &http.Client{Transport: tr}
	get := func() (string, string, error) {
		resp, err := c.Get(srv.URL + "/doc")
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get(cachestatus.Header), err
	}
	type result struct{ body, status string }
	late := make(chan result, 1)
	go func() {
		b, s, err := get()
		if err != nil {
			t.Error(err)
		}
		late <- result{b, s}
	}()
	<-st.looked // the late request found nothing
	if b, s, err := get(); err != nil || b != "v1" || s != cachestatus.Miss {
		t.Fatalf("the request that leads: %q %s %v, want v1 as a MISS", b, s, err)
	}
	close(st.gate)
	if r := <-late; r.body != "v1" || r.status != cachestatus.Hit || requests.Load() != 1 {
		t.Fatalf("the late request: %q %s, origin %d; want v1 as a HIT, one origin request", r.body, r.status, requests.Load())
	}
}
