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
)

// TestBurstAfterBesideStalled: the older download stalls, and a first
// request leads a beside flight whose download stalls too. Ten requests
// that come after both stalled follow neither; they share one origin
// request in a flight that takes the stalled one's place.
func TestBurstAfterBesideStalled(t *testing.T) {
	hold := make(chan struct{})
	var requests atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) <= 2 { // the older download and the first beside one stall
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "old")
			w.(http.Flusher).Flush()
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "new")
	}, Options{StallAfter: 100 * time.Millisecond})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	u := srv.URL + "/doc"
	old, err := tr.RoundTrip(mustGet(t, u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	io.ReadFull(old.Body, make([]byte, 3))
	time.Sleep(300 * time.Millisecond) // the older download stalls
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	b1, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b1.Body.Close() })
	io.ReadFull(b1.Body, make([]byte, 3))
	time.Sleep(300 * time.Millisecond) // the beside download stalls too

	bodies, caches := burst(t, tr, u, 10)
	for i := range bodies {
		if bodies[i] != "new" {
			t.Errorf("request %d: %q %s", i, bodies[i], caches[i])
		}
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d origin requests, want 3: the two stalled downloads' and one for the burst", n)
	}
}

// sizeStore records the sizes its Writers were created for.
type sizeStore struct {
	Store
	mu    sync.Mutex
	sizes []int64
}

func (s *sizeStore) Create(ctx context.Context, k Key, m *Meta) (Writer, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, m.Size)
	s.mu.Unlock()
	return s.Store.Create(ctx, k, m)
}

// TestBesideHonoursMaxBodyBytes: with a policy whose Shareable is false
// (as rfccache's), a body over MaxBodyBytes is neither stored nor shared,
// beside a flight as in one: no Writer is made for it (for a ByteStore, a
// temporary file of the whole body).
func TestBesideHonoursMaxBodyBytes(t *testing.T) {
	hold := make(chan struct{})
	var requests atomic.Int32
	st := &sizeStore{Store: NewByteStore(httpcache.NewMemoryCache(), nil)}
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
		io.WriteString(w, "a body longer than MaxBodyBytes")
	}, Options{Store: st, MaxBodyBytes: 8})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(hold) }) })
	u := srv.URL + "/doc"
	// The first download is 6 bytes: under the bound.
	old, err := tr.RoundTrip(mustGet(t, u))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Body.Close() })
	io.ReadFull(old.Body, make([]byte, 3))
	burst(t, tr, u, 5, "Cache-Control", "no-cache")
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, n := range st.sizes {
		if n > 8 {
			t.Fatalf("Writers created for sizes %v: one for a %d-byte body, over MaxBodyBytes 8", st.sizes, n)
		}
	}
}
