package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// holdsOfOne returns how many waiters hold the one flight in progress, or -1.
func (g *flights) holdsOfOne() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.m {
		return f.holds
	}
	return -1
}

// TestOtherVariantNotServedStale: variant A's leader revalidates (304)
// while variant B, whose own entry is stale too, asks too (in a flight of
// its own once the marker names it); B is not answered from its stale
// entry as a HIT, nor from A's confirmation, but asks the origin.
func TestOtherVariantNotServedStale(t *testing.T) {
	clk := &stepClock{t: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	var tr *Transport
	var bVersion atomic.Int32
	bVersion.Store(1)
	var origin, bServed atomic.Int32
	var srv *httptest.Server
	tr, srv = newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		origin.Add(1)
		w.Header().Set("Vary", "Accept-Language")
		switch lang := r.Header.Get("Accept-Language"); {
		case lang == "a" && r.Header.Get("If-None-Match") == `"a1"`:
			for tr.flights.holdsOfOne() < 1 && bServed.Load() < 2 { // until B waits on A's flight, or (marker known) fetched in its own
				time.Sleep(time.Millisecond)
			}
			w.WriteHeader(http.StatusNotModified)
		case lang == "a":
			w.Header().Set("Etag", `"a1"`)
			io.WriteString(w, "a-v1")
		case bVersion.Load() == 1:
			bServed.Add(1)
			w.Header().Set("Etag", `"b1"`)
			io.WriteString(w, "b-v1")
		default:
			defer bServed.Add(1)
			w.Header().Set("Etag", `"b2"`)
			io.WriteString(w, "b-v2")
		}
	}, Options{Policy: varyAll{}, Now: clk.Now})
	c := &http.Client{Transport: tr}
	get := func(lang string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), resp.Header.Get(cachestatus.Header)
	}
	get("a")
	get("b")
	if b, s := get("b"); b != "b-v1" || s != cachestatus.Hit {
		t.Fatalf("setup: %q %s", b, s)
	}
	clk.Advance(2 * time.Hour) // both entries stale (fresh for 1h)
	bVersion.Store(2)
	aDone := make(chan struct{})
	go func() { defer close(aDone); get("a") }()
	for tr.flights.holdsOfOne() == -1 { // until A leads
		time.Sleep(time.Millisecond)
	}
	body, status := get("b")
	<-aDone
	if body != "b-v2" {
		t.Fatalf("variant B, stale, got %q with X-Cache %s (origin saw %d requests); want b-v2 from the origin", body, status, origin.Load())
	}
}
