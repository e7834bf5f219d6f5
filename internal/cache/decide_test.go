package cache

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// shareOnly stores nothing and shares every answer with the waiters, as
// FileCache does with a 404.
type shareOnly struct{ storeAll }

func (shareOnly) Request(*http.Request, Rule) (Request, string) { return shareOnly{}, "" }
func (shareOnly) Storable(*http.Response) bool                  { return false }
func (shareOnly) Shareable(*http.Response) bool                 { return true }

// TestFillOverBeforeItsLeaderGoesOn: a short answer that is not stored can
// be downloaded, and its flight ended, before the leader's goroutine runs
// again. The waiter must still share it rather than be told to look again
// and ask the origin a second time.
func TestFillOverBeforeItsLeaderGoesOn(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		http.Error(w, "no such file", http.StatusNotFound)
	}, Options{Policy: shareOnly{}})
	testHookFillStarted = func(f *fill) { <-f.fl.done } // the leader is descheduled until the flight is over
	t.Cleanup(func() { testHookFillStarted = nil })

	get := func() (string, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/missing", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.Status + " " + string(b), err
	}
	var wg sync.WaitGroup
	got := make([]string, 2)
	errs := make([]error, 2)
	wg.Go(func() { got[0], errs[0] = get() })
	for hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	wg.Go(func() { got[1], errs[1] = get() })
	for tr.flights.holdsOfOne() < 1 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, want := range []string{"404 Not Found no such file\n", "404 Not Found no such file\n"} {
		if errs[i] != nil || got[i] != want {
			t.Errorf("request %d: %q, %v; want %q", i, got[i], errs[i], want)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d origin requests for two requests of one flight, want 1", n)
	}
}
