package ratelimit

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// SharedWindow is a strict sliding-window limiter whose state lives outside
// the process, so that every process that shares it keeps one limit: a
// state file for the processes of one machine (NewFileLimiter), a Redis
// key for every machine that reaches the server (NewRedisLimiter).
//
// As in a SlidingWindow, at most N requests start in any window of Per
// plus a guard, and through Reserve (the rate-limit stage calls it) each
// admission counts from when its request provably reached the server: it
// is recorded a whole period ahead, an upper bound that only a request
// taking longer than that to reach the server could break, and moved back
// to its first response byte, or the end of its round trip, in the
// background; a waiter that finds the oldest slot still ahead looks again
// soon. Through Wait an admission counts from its start.
//
// Within a process the goroutines take turns, so only one of them at a time
// talks to the shared state and the others wait in line instead of
// hammering the lock or the server. A pause (see Pause) is kept in the
// shared state too: every process holds back.
//
// The processes must agree on N and Per. A SharedWindow is safe for
// concurrent use.
type SharedWindow struct {
	store windowStore
	now   func() time.Time
	turn  chan struct{}
	st    sharedCounters

	mu      sync.Mutex
	nextAt  time.Time     // when the request holding the turn may go next; zero: unknown
	changed chan struct{} // closed when nextAt changes
}

// A windowStore keeps a SharedWindow's state.
type windowStore interface {
	// try makes one attempt to admit a request: it admits it (ok), or says
	// when to try again. With track the admission is recorded ahead and
	// settled by the returned reservation.
	try(ctx context.Context, track bool) (ok bool, retryAt time.Time, res Reservation, err error)
	// pause records a pause every user of the state obeys.
	pause(until time.Time, reason string)
	// stats adds the store's own counters.
	stats(*Stats)
}

var (
	_ Reserver = (*SharedWindow)(nil)
	_ Pauser   = (*SharedWindow)(nil)
)

func newShared(s windowStore, opts *Options) *SharedWindow {
	return &SharedWindow{store: s, now: opts.now(), turn: make(chan struct{}, 1)}
}

// Wait blocks until a request may start, the context ends, or it is clear
// the wait would pass the context's deadline. The admission counts from
// now.
func (l *SharedWindow) Wait(ctx context.Context) error {
	_, err := l.admit(ctx, false)
	return err
}

// Reserve is Wait for the rate-limit stage: the admission is recorded a
// whole period ahead, an upper bound of when the request reaches the
// server, and moved back when the Reservation says it arrived (see
// Reserver). host is not used: the window is shared by every host.
func (l *SharedWindow) Reserve(ctx context.Context, host string) (Reservation, error) {
	return l.admit(ctx, true)
}

// Pause holds back every user of the shared state until the given time
// (host is ignored: the whole limiter pauses). When the state cannot be
// reached the pause is logged and dropped; a PerHost in front keeps it in
// this process.
func (l *SharedWindow) Pause(host string, until time.Time, reason string) {
	if until.After(l.now()) {
		l.store.pause(until, reason)
	}
}

// Stats returns what the limiter did in this process.
func (l *SharedWindow) Stats() Stats {
	s := Stats{
		Admitted: l.st.admitted.Load(),
		Waits:    l.st.waits.Load(),
		WaitTime: time.Duration(l.st.waitTime.Load()),
		Refused:  l.st.refused.Load(),
	}
	l.store.stats(&s)
	return s
}

// admit runs the wait loop: one attempt at a time per process, each
// saying when the next may succeed.
func (l *SharedWindow) admit(ctx context.Context, track bool) (res Reservation, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	defer func() {
		d := time.Since(start)
		l.st.waitTime.Add(int64(d))
		if d >= time.Millisecond {
			l.st.waits.Add(1)
		}
		if err != nil {
			l.st.refused.Add(1)
		} else {
			l.st.admitted.Add(1)
		}
	}()
	if err := l.takeTurn(ctx); err != nil {
		return nil, err
	}
	defer func() {
		l.setNext(time.Time{})
		<-l.turn
	}()

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		ok, at, res, err := l.store.try(ctx, track)
		if err != nil {
			return nil, err
		}
		if ok {
			if res == nil {
				res = noReservation{}
			}
			return res, nil
		}
		wait := max(at.Sub(l.now()), 0)
		l.setNext(time.Now().Add(wait))
		if dl, ok := ctx.Deadline(); ok && wait > time.Until(dl) {
			return nil, pastDeadline(wait)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func pastDeadline(wait time.Duration) error {
	return fmt.Errorf("ratelimit: the request would wait %v for the limiter, past its context deadline: %w",
		wait.Round(time.Millisecond), context.DeadlineExceeded)
}

// takeTurn waits for the process's turn at the shared state, failing at
// once when the request holding it may not go before ctx's deadline (this
// one comes after it), as SlidingWindow refuses from its queue.
func (l *SharedWindow) takeTurn(ctx context.Context) error {
	dl, hasDeadline := ctx.Deadline()
	for {
		l.mu.Lock()
		next, changed := l.nextAt, l.changed
		if changed == nil {
			changed = make(chan struct{})
			l.changed = changed
		}
		l.mu.Unlock()
		if hasDeadline && !next.IsZero() && next.After(dl) {
			return pastDeadline(time.Until(next))
		}
		select {
		case l.turn <- struct{}{}:
			return nil
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setNext records when the request holding the turn may go next.
func (l *SharedWindow) setNext(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nextAt = at
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// sharedCounters are the statistics every shared window keeps.
type sharedCounters struct {
	admitted, waits, waitTime, refused atomic.Int64
}

// Stats counts what a limiter did in this process. Each limiter fills the
// fields of what it does: a SharedWindow its admissions (and a Redis
// one its fallbacks), a PerHost its pauses.
type Stats struct {
	// Admitted is the number of requests let go.
	Admitted int64
	// Waits is the number of requests held back a millisecond or more.
	Waits int64
	// WaitTime is the total time requests spent waiting.
	WaitTime time.Duration
	// Refused is the number of waits that failed: the context, or
	// (failing closed) Redis out of reach.
	Refused int64
	// Resets is the number of times the shared state was found lost: a
	// corrupt state file reset, or a Redis window that lost admissions
	// (a restart, a failover), after which every client holds back one
	// period.
	Resets int64
	// Fallbacks is the number of times a Redis limiter lost Redis and
	// turned to its local fallback (or, failing closed, started refusing).
	Fallbacks int64
	// FallbackAdmitted is the number of requests its local fallback let go.
	FallbackAdmitted int64
	// Recoveries is the number of times it found Redis again.
	Recoveries int64
	// Pauses is the number of Pause calls that started or extended a
	// pause, and PauseReasons counts them by their reason.
	Pauses       int64
	PauseReasons map[string]int64
	// PauseWaits is the number of requests a pause held back, and
	// PauseWaitTime the time they spent held.
	PauseWaits    int64
	PauseWaitTime time.Duration
}

func (s Stats) clone() Stats {
	s.PauseReasons = maps.Clone(s.PauseReasons)
	return s
}

// settleOnce is the Reservation of the shared windows: "written" is
// ignored (the period recorded ahead already bounds it), and the first
// report that the request arrived, or will not be sent, settles the slot.
type settleOnce struct {
	once   sync.Once
	settle func()
}

func (s *settleOnce) Sent()    {}
func (s *settleOnce) Arrived() { s.once.Do(s.settle) }
func (s *settleOnce) Cancel()  { s.once.Do(s.settle) }
