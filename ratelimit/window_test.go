package ratelimit

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for admission tests that must not sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.Unix(1_700_000_000, 0).Add(d)
}

// noGuard is the Guard of a window without one.
const noGuard = -1

func newFake(t *testing.T, n int, per time.Duration, guard time.Duration) (*SlidingWindow, *fakeClock) {
	t.Helper()
	c := &fakeClock{}
	c.Set(0)
	w, err := NewSlidingWindow(n, per, &Options{Guard: guard, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return w, c
}

func TestNewSlidingWindowValidates(t *testing.T) {
	tests := []struct {
		name string
		n    int
		per  time.Duration
	}{
		{"zero requests", 0, time.Second},
		{"negative requests", -3, time.Second},
		{"zero period", 10, 0},
		{"negative period", 10, -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSlidingWindow(tt.n, tt.per, nil); err == nil {
				t.Fatal("NewSlidingWindow accepted a bad configuration")
			}
		})
	}
}

func TestSlidingWindowAdmission(t *testing.T) {
	// 3 per second, no guard: a burst of 3, then each slot frees exactly one
	// second after it was taken.
	type step struct {
		at   time.Duration
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"idle burst of n", []step{{0, true}, {0, true}, {0, true}, {0, false}, {999 * time.Millisecond, false}}},
		{"slot frees after per", []step{{0, true}, {0, true}, {0, true}, {time.Second - 1, false}, {time.Second, true}, {time.Second, true}, {time.Second, true}, {time.Second, false}}},
		{"spread starts", []step{
			{0, true}, {300 * time.Millisecond, true}, {600 * time.Millisecond, true},
			{999 * time.Millisecond, false}, {time.Second, true}, {1200 * time.Millisecond, false},
			{1300 * time.Millisecond, true}, {1600 * time.Millisecond, true}, {1700 * time.Millisecond, false},
		}},
		{"long idle resets", []step{{0, true}, {0, true}, {0, true}, {time.Hour, true}, {time.Hour, true}, {time.Hour, true}, {time.Hour, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, c := newFake(t, 3, time.Second, noGuard)
			for i, s := range tt.steps {
				c.Set(s.at)
				if got := w.allow(); got != s.want {
					t.Fatalf("step %d at %v: allow() = %v, want %v", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestSlidingWindowGuard(t *testing.T) {
	w, c := newFake(t, 1, time.Second, 0) // default guard: 25ms
	if !w.allow() {
		t.Fatal("first request refused")
	}
	c.Set(time.Second)
	if w.allow() {
		t.Fatal("admitted exactly one period later: the guard is missing")
	}
	c.Set(time.Second + 25*time.Millisecond)
	if !w.allow() {
		t.Fatal("refused after period plus guard")
	}
	if n, per := w.limit(); n != 1 || per != time.Second+25*time.Millisecond {
		t.Fatalf("limit() = %d, %v", n, per)
	}
}

// TestSlidingWindowNeverExceeds drives random arrival times through the
// admission rule and checks the window guarantee on everything admitted.
func TestSlidingWindowNeverExceeds(t *testing.T) {
	const n, per = 7, time.Second
	w, c := newFake(t, n, per, noGuard)
	var admitted []time.Duration
	at := time.Duration(0)
	seed := uint64(42)
	for i := 0; i < 20000; i++ {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		at += time.Duration(seed % uint64(300*time.Millisecond))
		c.Set(at)
		if w.allow() {
			admitted = append(admitted, at)
		}
	}
	if got := maxInWindow(admitted, per); got > n {
		t.Fatalf("%d admissions in one window of %v, limit %d", got, per, n)
	}
	if len(admitted) < 1000 {
		t.Fatalf("only %d admissions: the limiter refuses too much", len(admitted))
	}
}

func maxInWindow(ts []time.Duration, window time.Duration) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi]-ts[lo] >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestSlidingWindowMaxWait(t *testing.T) {
	sw, _ := newFake(t, 2, time.Second, noGuard)
	w := WithMaxWait(sw, 500*time.Millisecond)
	ctx := context.Background()
	for range 2 {
		if err := w.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err := w.Wait(ctx)
	if !errors.Is(err, ErrMaxWait) {
		t.Fatalf("Wait = %v, want ErrMaxWait", err)
	}
	if time.Since(start) > 400*time.Millisecond {
		t.Fatal("Wait slept before refusing; it should fail at once")
	}
	const want = "ratelimit: wait would exceed the maximum wait of 500ms"
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestSlidingWindowDeadline(t *testing.T) {
	w, _ := newFake(t, 1, time.Hour, noGuard)
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := w.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want a deadline error at once", err)
	}
}

func TestSlidingWindowProjection(t *testing.T) {
	w, c := newFake(t, 2, time.Second, noGuard)
	c.Set(0)
	w.allow()
	c.Set(400 * time.Millisecond)
	w.allow()
	c.Set(500 * time.Millisecond)
	now := c.Now()
	base := now.Add(-500 * time.Millisecond)
	tests := []struct {
		ahead int
		want  time.Duration // from base
	}{
		{0, time.Second},
		{1, 1400 * time.Millisecond},
		{2, 2 * time.Second},
		{3, 2400 * time.Millisecond},
		{4, 3 * time.Second},
	}
	for _, tt := range tests {
		w.mu.Lock()
		got := w.projectLocked(now, tt.ahead).Sub(base)
		w.mu.Unlock()
		if got != tt.want {
			t.Errorf("projection with %d ahead = %v, want %v", tt.ahead, got, tt.want)
		}
	}
}

// TestSlidingWindowCancel checks that a cancelled waiter leaves the queue at
// once and that the waiters behind it still get their turn.
func TestSlidingWindowCancel(t *testing.T) {
	w, err := NewSlidingWindow(1, 150*time.Millisecond, &Options{Guard: noGuard})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- w.Wait(ctx) }()
	waitQueue(t, w, 1)
	second := make(chan error, 1)
	go func() { second <- w.Wait(context.Background()) }()
	waitQueue(t, w, 2)

	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait = %v", err)
		}
	case <-time.After(100 * time.Millisecond):
		t.Fatal("cancelled Wait did not return promptly")
	}
	select {
	case err := <-second:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter behind a cancelled one never got its turn")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.queue.Len() != 0 || w.count != 1 {
		t.Fatalf("queue %d, count %d after all waits: the cancelled waiter kept a slot", w.queue.Len(), w.count)
	}
}

func waitQueue(t *testing.T, w *SlidingWindow, n int) {
	t.Helper()
	for range 1000 {
		w.mu.Lock()
		l := w.queue.Len()
		w.mu.Unlock()
		if l == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("queue never reached %d waiters", n)
}

// TestSlidingWindowConcurrent checks, in real time, that admissions from many
// goroutines respect the window. The times are taken just after Wait
// returns, a little after the admission itself, so the limiter gets a guard
// of 20 ms and the check uses the bare period: the guard absorbs that delay.
func TestSlidingWindowConcurrent(t *testing.T) {
	const n, per = 4, 100 * time.Millisecond
	w, err := NewSlidingWindow(n, per, &Options{Guard: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now()
	var mu sync.Mutex
	var admitted []time.Duration
	var wg sync.WaitGroup
	var done atomic.Int32
	for range 20 {
		wg.Go(func() {
			if err := w.Wait(context.Background()); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			admitted = append(admitted, time.Since(base))
			mu.Unlock()
			done.Add(1)
		})
	}
	wg.Wait()
	if done.Load() != 20 {
		t.Fatalf("%d of 20 admitted", done.Load())
	}
	if got := maxInWindow(admitted, per); got > n {
		t.Fatalf("%d admissions within %v, limit %d", got, per, n)
	}
}

func BenchmarkSlidingWindowAllow(b *testing.B) {
	w, err := NewSlidingWindow(1<<12, time.Millisecond, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Wait(context.Background())
		}
	})
}

// TestSlidingWindowSustainsItsRate drives a saturated window with a fake
// clock: every request goes at the first moment the window allows, and in
// 100 periods exactly n per period go, with no time lost between them.
func TestSlidingWindowSustainsItsRate(t *testing.T) {
	const n = 5
	for _, guard := range []time.Duration{noGuard, 25 * time.Millisecond} {
		w, c := newFake(t, n, time.Second, guard)
		origin := time.Unix(1_700_000_000, 0)
		span := time.Second + max(guard, 0)
		admitted, at := 0, time.Duration(0)
		for at <= 100*span {
			c.Set(at)
			for w.allow() {
				admitted++
			}
			w.mu.Lock()
			next, ok := w.nextLocked()
			w.mu.Unlock()
			if !ok {
				t.Fatal("a slot admitted without a start signal is unsettled")
			}
			at = next.Sub(origin)
		}
		if want := n * 101; admitted != want {
			t.Fatalf("guard %v: %d admitted in 100 periods, want %d", guard, admitted, want)
		}
	}
}
