package ratelimit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// TestUnsettledSlotBlocks drives the admission rule with a fake clock: a slot
// whose request has not provably reached the server blocks the window past
// the period, and counts from when it settles.
func TestUnsettledSlotBlocks(t *testing.T) {
	w, c := newFake(t, 1, time.Second, noGuard)
	sig, err := w.Reserve(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	c.Set(5 * time.Second)
	if w.allow() {
		t.Fatal("admitted while the only slot is unsettled")
	}
	sig.Arrived() // reached the server at 5s
	c.Set(5*time.Second + 999*time.Millisecond)
	if w.allow() {
		t.Fatal("admitted less than a period after the request settled")
	}
	c.Set(6 * time.Second)
	if !w.allow() {
		t.Fatal("refused a period after the request settled")
	}
	// A late report for a reused slot changes nothing.
	w.settle(sig.(*windowReservation).idx, sig.(*windowReservation).seq, -time.Hour)
	c.Set(6*time.Second + 500*time.Millisecond)
	if w.allow() {
		t.Fatal("a stale settle moved another request's slot")
	}
}

// TestUnsettledWaiterWakes checks that a waiter blocked by an unsettled slot
// is let go when the slot settles and the period has passed.
func TestUnsettledWaiterWakes(t *testing.T) {
	w, err := NewSlidingWindow(1, 50*time.Millisecond, &Options{Guard: noGuard})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := w.Reserve(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan time.Time, 1)
	go func() {
		w.Wait(context.Background())
		done <- time.Now()
	}()
	select {
	case <-done:
		t.Fatal("admitted while the slot was unsettled")
	case <-time.After(200 * time.Millisecond):
	}
	settled := time.Now()
	sig.Arrived()
	select {
	case at := <-done:
		if at.Sub(settled) < 50*time.Millisecond {
			t.Fatalf("admitted %v after the slot settled, want a full period", at.Sub(settled))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter never woke after the slot settled")
	}
}

// delayFirst holds back the first n requests before sending them, as a slow
// dial or a busy scheduler would.
type delayFirst struct {
	n     int32
	delay time.Duration
	seen  atomic.Int32
	next  http.RoundTripper
}

func (d *delayFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if d.seen.Add(1) <= d.n {
		time.Sleep(d.delay)
	}
	return d.next.RoundTrip(r)
}

// TestWindowHoldsWhenRequestsAreHeldUp is the case a limiter that counts from
// admission gets wrong: the first burst is delayed on its way to the server,
// the next is not, and both would land in one window at the origin.
func TestWindowHoldsWhenRequestsAreHeldUp(t *testing.T) {
	const n, per, delay = 5, 400 * time.Millisecond, 150 * time.Millisecond
	var mu sync.Mutex
	var arrivals []time.Duration
	base := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Since(base))
		mu.Unlock()
	}))
	defer srv.Close()
	l, err := NewSlidingWindow(n, per, &Options{Guard: noGuard})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: New(&delayFirst{n: n, delay: delay, next: http.DefaultTransport}, l)}
	var wg sync.WaitGroup
	for range 3 * n {
		wg.Go(func() {
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	if got := maxInWindow(arrivals, per); got > n {
		t.Fatalf("%d requests reached the origin within %v, limit %d", got, per, n)
	}
}

// TestSharedLimitersSettle checks that the file and Redis limiters record an
// admission behind the stage a period ahead, and move it back when the
// request's first byte arrives.
func TestSharedLimitersSettle(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		c := &fakeClock{}
		c.Set(0)
		l, err := NewFileLimiter(t.TempDir()+"/state", 1, time.Second, &Options{Guard: noGuard, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		sig, err := l.Reserve(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		start := func() int64 {
			var got int64
			fileOf(l).withState(context.Background(), func(s *fileState) bool { got = s.Starts[0]; return false })
			return got
		}
		if got, want := start(), c.Now().Add(time.Second).UnixNano(); got != want {
			t.Fatalf("recorded %d, want a period ahead (%d)", got, want)
		}
		c.Set(10 * time.Millisecond)
		sig.Sent()    // "written": ignored
		sig.Arrived() // first byte: in the background
		want := c.Now().UnixNano()
		for i := 0; start() != want; i++ {
			if i == 500 {
				t.Fatalf("after settling: %d, want %d", start(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		sig.Arrived() // a second report changes nothing and does not fail
		sig.Cancel()
	})
	t.Run("redis", func(t *testing.T) {
		m := miniredis.RunT(t)
		rdb := newClient(t, m.Addr())
		t0 := time.Unix(1_700_000_000, 0)
		m.SetTime(t0)
		l, err := NewRedisLimiter(rdb, testKey(t), 1, time.Second, &RedisOptions{Options: Options{Guard: noGuard}})
		if err != nil {
			t.Fatal(err)
		}
		sig, err := l.Reserve(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		score := func() float64 {
			z, err := rdb.ZRangeWithScores(context.Background(), redisOf(l).keys[0], 0, -1).Result()
			if err != nil || len(z) != 1 {
				t.Fatalf("window set %v, %v", z, err)
			}
			return z[0].Score
		}
		if got, want := score(), float64(t0.Add(time.Second).UnixMicro()); got != want {
			t.Fatalf("recorded %v, want a period ahead (%v)", got, want)
		}
		m.SetTime(t0.Add(10 * time.Millisecond))
		sig.Arrived() // in the background
		want := float64(t0.Add(10 * time.Millisecond).UnixMicro())
		for i := 0; score() != want; i++ {
			if i == 500 {
				t.Fatalf("after settling: %v, want %v", score(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}

// refuseAfter admits through a window and then refuses, as a composite
// limiter whose second part says no would: it cancels the admission.
type refuseAfter struct{ w *SlidingWindow }

func (r refuseAfter) Wait(ctx context.Context) error {
	_, err := r.Reserve(ctx, "")
	return err
}

func (r refuseAfter) Reserve(ctx context.Context, host string) (Reservation, error) {
	res, err := r.w.Reserve(ctx, host)
	if err != nil {
		return nil, err
	}
	res.Cancel()
	return nil, ErrMaxWait
}

type panicking struct{}

func (panicking) RoundTrip(*http.Request) (*http.Response, error) { panic("base transport panics") }

// TestSlotReleasedOnFailure checks that a slot reserved for a request that
// never went out, because a later limiter refused it (and cancelled the
// reservation) or the base transport panicked, does not keep the window
// shut.
func TestSlotReleasedOnFailure(t *testing.T) {
	tests := []struct {
		name string
		rt   func(w *SlidingWindow) http.RoundTripper
	}{
		{"refused after admission", func(w *SlidingWindow) http.RoundTripper { return New(http.DefaultTransport, refuseAfter{w}) }},
		{"base transport panics", func(w *SlidingWindow) http.RoundTripper { return New(panicking{}, w) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewSlidingWindow(1, 50*time.Millisecond, &Options{Guard: noGuard})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/x", nil)
			func() {
				defer func() { recover() }()
				tt.rt(w).RoundTrip(req)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := w.Wait(ctx); err != nil {
				t.Fatalf("the window stayed shut after the failed request: %v", err)
			}
		})
	}
}
