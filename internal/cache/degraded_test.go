package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregjones/httpcache"
)

// failingWrites is a Store whose Writers fail every Write (a full disk).
type failingWrites struct{ Store }

func (s failingWrites) Create(ctx context.Context, k Key, m *Meta) (Writer, error) {
	w, err := s.Store.Create(ctx, k, m)
	if err != nil {
		return nil, err
	}
	return failingWriter{w}, nil
}

type failingWriter struct{ Writer }

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// slowCtx delays its first Done call: the waiter wakes up late.
type slowCtx struct {
	context.Context
	once  sync.Once
	delay time.Duration
}

func (c *slowCtx) Done() <-chan struct{} {
	c.once.Do(func() { time.Sleep(c.delay) })
	return c.Context.Done()
}

// TestLateFollowerOfADegradedFill: when the store fails, readers get the
// rest from memory; a waiter that joined the flight before the failure and
// attaches after the other readers moved on (the bytes between the
// Writer's and memory's are gone) fetches the body itself: whole, not an
// unexpected EOF.
func TestLateFollowerOfADegradedFill(t *testing.T) {
	var tr *Transport
	body := bytes.Repeat([]byte("0123456789"), 400) // 4000 bytes
	var requests atomic.Int32
	var srv *httptest.Server
	tr, srv = newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			for tr.flights.holdsOfOne() < 1 { // the first, until the waiter joined
				time.Sleep(time.Millisecond)
			}
		}
		w.Header().Set("Content-Length", "4000")
		for i := 0; i < 4; i++ {
			w.Write(body[i*1000 : (i+1)*1000])
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	}, Options{Store: failingWrites{NewByteStore(httpcache.NewMemoryCache(), nil)}})
	type result struct {
		b   []byte
		err error
	}
	late := make(chan result, 1)
	leaderDone := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			leaderDone <- result{nil, err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		leaderDone <- result{b, err}
	}()
	for tr.flights.holdsOfOne() == -1 { // the leader's flight is open
		time.Sleep(time.Millisecond)
	}
	go func() {
		ctx := &slowCtx{Context: context.Background(), delay: 300 * time.Millisecond}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			late <- result{nil, err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		late <- result{b, err}
	}()
	if r := <-leaderDone; r.err != nil || !bytes.Equal(r.b, body) {
		t.Fatalf("leader: %d bytes, %v", len(r.b), r.err)
	}
	if r := <-late; r.err != nil || !bytes.Equal(r.b, body) {
		t.Fatalf("the waiter that followed late: %d bytes, %v; want the whole body (the origin sent it all)", len(r.b), r.err)
	}
}
