package ratelimit

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// SlidingWindow is a strict in-process limiter: at most N requests start in
// any window of Per, across every goroutine that shares it.
//
// Why a sliding window and not a token bucket: a bucket of N tokens refilled
// at N per second lets a full bucket's N requests through at the end of one
// second and N more at the start of the next, 2N in one second; servers such
// as SEC EDGAR count requests in any window, so that is a violation. A bucket
// with burst 1 (rate.NewLimiter(N, 1)) is strict but spaces every request by
// 1/N, so a client that was idle cannot fire a burst of N parallel requests.
// A sliding window remembers the start times of the last N admissions and
// admits a request only when the oldest of them is at least Per (plus a
// guard, see below) in the past: idle bursts of N are allowed, the window
// guarantee holds, and a saturated client sustains N per Per.
//
// Admission times are taken when a request is let go, not planned ahead, so a
// waiter that wakes late never squeezes a later request into its window.
// Requests that cannot start wait in arrival order (FIFO); only the first of
// them sleeps on a timer. A waiter whose context ends leaves the queue at once
// and has reserved nothing, so nothing needs giving back.
//
// Through Reserve (the rate-limit stage calls it), a slot is not counted
// from the moment of admission but from the moment the request provably
// reached the server: its first response byte, a quarter period after it
// was written, or the end of its round trip, whichever comes first (see
// Reserver). Until then the slot holds the window shut. Through Wait a
// slot counts from admission.
//
// The guard: a request admitted at t reaches the origin a little later, and
// that delay varies (a new connection, scheduling). Two requests admitted
// exactly Per apart can therefore arrive less than Per apart. Each admission
// keeps its slot for Per plus a guard (by default Per/40, 25 ms for one
// second) so the limit also holds where the origin measures it; the cost is
// about 2.5% of throughput.
//
// The zero value is not usable; build one with NewSlidingWindow. A
// SlidingWindow is safe for concurrent use.
type SlidingWindow struct {
	n      int
	period time.Duration
	per    time.Duration // period plus guard: the span each admission occupies
	now    func() time.Time

	base time.Time // starts are offsets from base: compact, and monotonic

	mu     sync.Mutex
	starts []time.Duration // ring of the last n admission times, oldest at head
	seqs   []uint64        // admission number of each slot, to match late updates
	seq    uint64
	head   int
	count  int
	queue  list.List // of *waiter, in arrival order
}

type waiter struct {
	wake chan struct{} // buffered: a wake-up is never lost
}

// NewSlidingWindow returns a limiter that starts at most n requests in any
// window of per. n must be at least 1 and per positive; opts may be nil.
func NewSlidingWindow(n int, per time.Duration, opts *Options) (*SlidingWindow, error) {
	if err := checkLimit(n, per); err != nil {
		return nil, fmt.Errorf("ratelimit: sliding window: %w", err)
	}
	w := &SlidingWindow{n: n, period: per, now: opts.now(), starts: make([]time.Duration, n), seqs: make([]uint64, n)}
	w.per = per + opts.guard(per)
	w.base = w.now()
	w.queue.Init()
	return w, nil
}

// limit returns the number of requests and the span, guard included, that
// the limiter enforces.
func (w *SlidingWindow) limit() (n int, per time.Duration) { return w.n, w.per }

// allow reports whether a request may start now, and if so counts it as
// started. It never waits and never jumps the queue of waiting requests.
func (w *SlidingWindow) allow() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.queue.Len() > 0 {
		return false
	}
	_, ok := w.admitLocked(w.now(), false)
	return ok
}

// Wait blocks until a request may start, the context ends, or it is clear the
// wait would pass the context's deadline. Requests are
// let go in the order they called Wait. The admission counts from now.
func (w *SlidingWindow) Wait(ctx context.Context) error {
	_, err := w.admit(ctx, false)
	return err
}

// Reserve is Wait for the rate-limit stage: the admission holds the window
// shut until the Reservation says the request reached the server, and
// counts from then (see Reserver). host is not used.
func (w *SlidingWindow) Reserve(ctx context.Context, host string) (Reservation, error) {
	r, err := w.admit(ctx, true)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// windowReservation is the admission in slot idx, number seq.
type windowReservation struct {
	w   *SlidingWindow
	idx int
	seq uint64
}

func (r *windowReservation) Sent()    { r.w.settle(r.idx, r.seq, r.w.period/4) }
func (r *windowReservation) Arrived() { r.w.settle(r.idx, r.seq, 0) }
func (r *windowReservation) Cancel()  { r.w.settle(r.idx, r.seq, 0) }

// admit is Wait and Reserve: with track, the slot stays unsettled until
// the reservation settles it.
func (w *SlidingWindow) admit(ctx context.Context, track bool) (*windowReservation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w.mu.Lock()
	now := w.now()
	if w.queue.Len() == 0 {
		if r, ok := w.admitLocked(now, track); ok {
			w.mu.Unlock()
			return r, nil
		}
	}
	if err := w.checkWaitLocked(ctx, now); err != nil {
		w.mu.Unlock()
		return nil, err
	}
	me := &waiter{wake: make(chan struct{}, 1)}
	elem := w.queue.PushBack(me)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var tick <-chan time.Time
		if w.queue.Front() == elem {
			now = w.now()
			if r, ok := w.admitLocked(now, track); ok {
				w.queue.Remove(elem)
				w.wakeFrontLocked()
				w.mu.Unlock()
				return r, nil
			}
			// A slot still waiting to settle has no time yet: its settling
			// wakes the front waiter.
			if next, ok := w.nextLocked(); ok {
				d := next.Sub(now)
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				tick = timer.C
			}
		}
		w.mu.Unlock()
		select {
		case <-tick:
		case <-me.wake:
		case <-ctx.Done():
			w.mu.Lock()
			front := w.queue.Front() == elem
			w.queue.Remove(elem)
			if front {
				w.wakeFrontLocked()
			}
			w.mu.Unlock()
			return nil, ctx.Err()
		}
		w.mu.Lock()
	}
}

// checkWaitLocked fails fast when the projected wait passes the context's
// deadline.
func (w *SlidingWindow) checkWaitLocked(ctx context.Context, now time.Time) error {
	at := w.projectLocked(now, w.queue.Len())
	wait := at.Sub(now)
	if dl, ok := ctx.Deadline(); ok && wait > time.Until(dl) {
		return fmt.Errorf("ratelimit: the request would wait %v for the limiter, past its context deadline: %w",
			wait.Round(time.Millisecond), context.DeadlineExceeded)
	}
	return nil
}

// unsettled marks a slot whose request has not yet provably reached the
// server (see start.go): it counts as starting in the future.
const unsettled = time.Duration(math.MaxInt64)

// admitLocked records a start at t when the window has room. With track
// (a Reserve) the slot stays unsettled until its reservation settles it.
func (w *SlidingWindow) admitLocked(t time.Time, track bool) (*windowReservation, bool) {
	now := t.Sub(w.base)
	var idx int
	switch {
	case w.count < w.n:
		idx = (w.head + w.count) % w.n
		w.count++
	case now-w.starts[w.head] < w.per:
		return nil, false
	default:
		idx = w.head
		w.head = (w.head + 1) % w.n
	}
	w.seq++
	w.seqs[idx] = w.seq
	w.starts[idx] = now
	if !track {
		return nil, true
	}
	w.starts[idx] = unsettled
	return &windowReservation{w: w, idx: idx, seq: w.seq}, true
}

// settle records that the request admitted in slot idx (admission number
// seq) reached the server no later than extra from now. Times only move
// earlier, and a slot already reused is left alone.
func (w *SlidingWindow) settle(idx int, seq uint64, extra time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seqs[idx] != seq {
		return
	}
	t := w.now().Sub(w.base) + extra
	if t < w.starts[idx] {
		w.starts[idx] = t
		if idx == w.head {
			w.wakeFrontLocked()
		}
	}
}

// nextLocked returns when the window next has room (the ring is full); ok is
// false while the oldest slot is unsettled.
func (w *SlidingWindow) nextLocked() (time.Time, bool) {
	if w.starts[w.head] == unsettled {
		return time.Time{}, false
	}
	return w.base.Add(w.starts[w.head] + w.per), true
}

// projectLocked estimates when the request behind `ahead` waiting requests
// can start, assuming they all start as early as the window allows.
func (w *SlidingWindow) projectLocked(now time.Time, ahead int) time.Time {
	// Future admission j sits at index count+j of the sequence of starts
	// (history first); it can start Per after the one n places before it.
	idx := w.count + ahead - w.n
	rounds := 0
	for idx >= w.count {
		idx -= w.n
		rounds++
	}
	at := now
	if idx >= 0 && w.starts[(w.head+idx)%w.n] != unsettled {
		at = w.base.Add(w.starts[(w.head+idx)%w.n] + w.per)
		if at.Before(now) {
			at = now
		}
	}
	return at.Add(time.Duration(rounds) * w.per)
}

func (w *SlidingWindow) wakeFrontLocked() {
	if e := w.queue.Front(); e != nil {
		select {
		case e.Value.(*waiter).wake <- struct{}{}:
		default:
		}
	}
}
