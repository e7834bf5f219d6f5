package cache

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// TestOtherVariantDoesNotWaitForADownload: requests for variant B that
// join while variant A's download runs do not wait for it: they share one
// origin request of their own, stored beside A, and A's download, once it
// ends, is stored too.
func TestOtherVariantDoesNotWaitForADownload(t *testing.T) {
	hold := make(chan struct{})
	var aRequests, bRequests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		switch r.Header.Get("Accept-Language") {
		case "a":
			aRequests.Add(1)
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "aa")
			w.(http.Flusher).Flush()
			<-hold // A's download goes on until the test lets it end
			io.WriteString(w, "aa")
		default:
			bRequests.Add(1)
			time.Sleep(100 * time.Millisecond) // long enough for B's stampede to join
			io.WriteString(w, "lang=b")
		}
	}, Options{Policy: varyAll{}})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	c := &http.Client{Transport: tr}
	get := func(ctx context.Context, lang string) (string, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := c.Do(req)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get(cachestatus.Header), err
	}

	reqA, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
	reqA.Header.Set("Accept-Language", "a")
	a, err := c.Do(reqA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Body.Close()
	if _, err := io.ReadFull(a.Body, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if got, _, err := get(ctx, "b"); err != nil || got != "lang=b" {
				t.Errorf("variant B during A's download: %q, %v; want lang=b before the deadline", got, err)
			}
		})
	}
	wg.Wait()
	if n := bRequests.Load(); n != 1 {
		t.Errorf("%d origin requests for 5 requests of variant B, want 1", n)
	}

	release()
	rest, err := io.ReadAll(a.Body)
	if err != nil || string(rest) != "aa" {
		t.Fatalf("rest of A: %q, %v", rest, err)
	}
	a.Body.Close()
	for _, lang := range []string{"b", "a", "b"} {
		got, status, err := get(context.Background(), lang)
		if err != nil || status != cachestatus.Hit {
			t.Errorf("variant %s afterwards: %q %s %v; want a HIT", lang, got, status, err)
		}
	}
	if na, nb := aRequests.Load(), bRequests.Load(); na != 1 || nb != 1 {
		t.Errorf("origin requests: %d for A, %d for B; want 1 each", na, nb)
	}
}

// slowMarker is a Store whose first update of a Vary marker takes a while.
type slowMarker struct {
	Store
	first   atomic.Bool
	started chan struct{}
}

func (s *slowMarker) Update(ctx context.Context, k Key, m *Meta) (io.ReadCloser, error) {
	if m.Marker() && s.first.CompareAndSwap(false, true) {
		close(s.started)
		time.Sleep(300 * time.Millisecond)
	}
	return s.Store.Update(ctx, k, m)
}

// TestVariantsCommittedTogetherBothKept: variant B's download commits
// while A's commit is still writing the URL's Vary marker; the marker ends
// up naming both, and both are HITs.
func TestVariantsCommittedTogetherBothKept(t *testing.T) {
	store := &slowMarker{Store: NewByteStore(httpcache.NewMemoryCache(), nil), started: make(chan struct{})}
	var requests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Vary", "Accept-Language")
		io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
	}, Options{Policy: varyAll{}, Store: store})
	get := func(lang string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Error(err)
			return "", ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get(cachestatus.Header)
	}
	var wg sync.WaitGroup
	wg.Go(func() { get("a") })
	<-store.started // A's commit is writing the marker
	get("b")
	wg.Wait()
	for _, lang := range []string{"a", "b"} {
		if got, status := get(lang); got != "lang="+lang || status != cachestatus.Hit {
			t.Errorf("variant %s afterwards: %q %s, want a HIT", lang, got, status)
		}
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d origin requests, want 2", n)
	}
}
