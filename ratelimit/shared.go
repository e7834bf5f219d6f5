package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// SharedOption configures a limiter shared between processes or machines:
// a FileLimiter or a RedisLimiter.
type SharedOption func(*sharedConfig)

type sharedConfig struct {
	guard      time.Duration
	guardSet   bool
	maxWait    time.Duration
	logger     *slog.Logger
	now        func() time.Time
	poll       time.Duration
	failClosed bool
	redisOnly  string // the name of a Redis-only option given, for the FileLimiter's error
	probe      time.Duration
	opTimeout  time.Duration
}

// WithSharedGuard sets the extra time each admission keeps its place in the
// window, as WithGuard does for a SlidingWindow: the window then also holds
// at the origin, where arrivals are a little less regular than admissions.
// Default: per/40. WithSharedGuard(0) removes it.
func WithSharedGuard(d time.Duration) SharedOption {
	return func(c *sharedConfig) { c.guard, c.guardSet = d, true }
}

// WithSharedMaxWait makes Wait fail, with an error wrapping ErrMaxWait, when
// a request would wait longer than d, as WithMaxWait does for a
// SlidingWindow. Wait fails as soon as the shared state shows the wait
// would be longer. Default: no maximum; 0 keeps the default.
func WithSharedMaxWait(d time.Duration) SharedOption {
	return func(c *sharedConfig) { c.maxWait = d }
}

// WithLogger sends the limiter's warnings (a corrupt state file reset, Redis
// lost and found again) to l. Default: slog.Default().
func WithLogger(l *slog.Logger) SharedOption {
	return func(c *sharedConfig) { c.logger = l }
}

// WithSharedClock replaces time.Now, for tests. Waits still sleep on real
// timers. A RedisLimiter's window runs on the Redis server's clock and uses
// this one only for its local fallback.
func WithSharedClock(now func() time.Time) SharedOption {
	return func(c *sharedConfig) { c.now = now }
}

func newSharedConfig(n int, per time.Duration, opts []SharedOption) (*sharedConfig, error) {
	if n < 1 {
		return nil, fmt.Errorf("ratelimit: limit of %d requests: need at least 1", n)
	}
	if per <= 0 {
		return nil, fmt.Errorf("ratelimit: period %v: must be positive", per)
	}
	c := &sharedConfig{now: time.Now, poll: 2 * time.Millisecond, probe: time.Second, opTimeout: time.Second}
	for _, o := range opts {
		o(c)
	}
	switch {
	case !c.guardSet:
		c.guard = per / 40
	case c.guard < 0:
		return nil, fmt.Errorf("ratelimit: negative guard %v", c.guard)
	}
	if c.maxWait < 0 {
		return nil, fmt.Errorf("ratelimit: negative maximum wait %v", c.maxWait)
	}
	if c.probe <= 0 {
		return nil, fmt.Errorf("ratelimit: Redis retry interval %v: must be positive", c.probe)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
}

// sharedCounters are the statistics every shared limiter keeps.
type sharedCounters struct {
	admitted, waits, waitTime, refused atomic.Int64
}

// LimiterStats counts what a shared limiter did in this process.
type LimiterStats struct {
	// Admitted is the number of requests let go.
	Admitted int64
	// Waits is the number of requests held back a millisecond or more.
	Waits int64
	// WaitTime is the total time requests spent waiting.
	WaitTime time.Duration
	// Refused is the number of Waits that failed: the maximum wait, the
	// context, or (failing closed) Redis out of reach.
	Refused int64
	// Resets is the number of corrupt state files a FileLimiter reset.
	Resets int64
	// Fallbacks is the number of times a RedisLimiter lost Redis and turned
	// to its local fallback (or, failing closed, started refusing).
	Fallbacks int64
	// FallbackAdmitted is the number of requests its local fallback let go.
	FallbackAdmitted int64
	// Recoveries is the number of times it found Redis again.
	Recoveries int64
}

func (s *sharedCounters) snapshot() LimiterStats {
	return LimiterStats{
		Admitted: s.admitted.Load(),
		Waits:    s.waits.Load(),
		WaitTime: time.Duration(s.waitTime.Load()),
		Refused:  s.refused.Load(),
	}
}

// tryFunc makes one attempt at a shared window: it admits the request
// (ok), or says when to try again.
type tryFunc func(ctx context.Context) (ok bool, retryAt time.Time, err error)

// waitShared runs the wait loop of a shared limiter. The goroutines of one
// process take turns (turn is a semaphore of one), so only one of them at a
// time talks to the shared state and the others wait in line instead of
// hammering the lock or the server.
func waitShared(ctx context.Context, c *sharedConfig, turn chan struct{}, st *sharedCounters, try tryFunc) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	defer func() {
		d := time.Since(start)
		st.waitTime.Add(int64(d))
		if d >= time.Millisecond {
			st.waits.Add(1)
		}
		if err != nil {
			st.refused.Add(1)
		} else {
			st.admitted.Add(1)
		}
	}()
	var limit <-chan time.Time
	if c.maxWait > 0 {
		t := time.NewTimer(c.maxWait)
		defer t.Stop()
		limit = t.C
	}
	select {
	case turn <- struct{}{}:
	default:
		select {
		case turn <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-limit:
			return fmt.Errorf("%w: the request waited %v for its turn at the shared limiter",
				ErrMaxWait, c.maxWait)
		}
	}
	defer func() { <-turn }()

	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		ok, at, err := try(ctx)
		if err != nil || ok {
			return err
		}
		now := c.now()
		wait := at.Sub(now)
		waited := time.Since(start)
		if c.maxWait > 0 && waited+wait > c.maxWait {
			return fmt.Errorf("%w: the request would wait %v for the limiter, more than the maximum of %v",
				ErrMaxWait, (waited + wait).Round(time.Millisecond), c.maxWait)
		}
		if dl, ok := ctx.Deadline(); ok && wait > time.Until(dl) {
			return fmt.Errorf("ratelimit: the request would wait %v for the limiter, past its context deadline: %w",
				wait.Round(time.Millisecond), context.DeadlineExceeded)
		}
		wait = max(wait, 0)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WithFailClosed makes a RedisLimiter refuse requests, with an error wrapping
// ErrUnavailable, while Redis cannot be reached, instead of falling back to
// a local limiter. Default: fall back.
func WithFailClosed() SharedOption {
	return func(c *sharedConfig) { c.failClosed = true; c.redisOnly = "WithFailClosed" }
}
