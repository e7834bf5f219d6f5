package cache

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestVariantStampedeAfterOtherVariantEnds: B1 learns from A's fill that
// it is another variant and leads a flight keyed by B's Vary signature.
// A's download then ends (its marker now lists A only). B2, arriving while
// B1's download still runs, learns its variant from the marker and follows
// B1's download instead of asking the origin a second time.
func TestVariantStampedeAfterOtherVariantEnds(t *testing.T) {
	holdA, holdB := make(chan struct{}), make(chan struct{})
	var aRequests, bRequests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		if r.Header.Get("Accept-Language") == "a" {
			aRequests.Add(1)
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "aa")
			w.(http.Flusher).Flush()
			<-holdA
			io.WriteString(w, "aa")
			return
		}
		bRequests.Add(1)
		w.Header().Set("Content-Length", "6")
		io.WriteString(w, "la")
		w.(http.Flusher).Flush()
		<-holdB
		io.WriteString(w, "ng=b")
	}, Options{Policy: varyAll{}})
	var onceA, onceB sync.Once
	relA := func() { onceA.Do(func() { close(holdA) }) }
	relB := func() { onceB.Do(func() { close(holdB) }) }
	t.Cleanup(relA)
	t.Cleanup(relB)
	get := func(lang string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		return tr.RoundTrip(req)
	}
	a, err := get("a")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	wg.Go(func() { // B1: joins A's flight, then leads B's own
		resp, err := get("b")
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies[0] = string(b)
	})
	// B1 downloads B
	for deadline := time.Now().Add(500 * time.Millisecond); bRequests.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	relA()
	if rest, err := io.ReadAll(a.Body); err != nil || string(rest) != "aaaa" {
		t.Fatalf("A: %q %v", rest, err)
	}
	a.Body.Close()
	wg.Go(func() { // B2: B's download still runs
		resp, err := get("b")
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies[1] = string(b)
	})
	// B2 either follows B1's flight (a hold on it) or asks the origin.
	deadline := time.Now().Add(2 * time.Second)
	for bRequests.Load() < 2 && !tr.flights.anyHeld() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	relB()
	wg.Wait()
	for i, b := range bodies {
		if b != "lang=b" {
			t.Errorf("B%d: %q", i+1, b)
		}
	}
	if n := bRequests.Load(); n != 1 {
		t.Fatalf("%d origin requests for two requests of variant B in one stampede, want 1", n)
	}
}

func (g *flights) anyHeld() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.m {
		if f.holds > 0 {
			return true
		}
	}
	return false
}
