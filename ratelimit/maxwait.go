package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WithMaxWait returns l with a maximum wait: a request that would wait
// longer than d for l fails with an error wrapping ErrMaxWait (the
// original Python package's max_delay). d of zero or less returns l
// unchanged.
//
// The wait runs under a context whose deadline is d away. The limiters of
// this package, and *rate.Limiter, fail at once when they can see that
// the wait would pass the deadline, so an over-long wait fails at the
// start, not after d; a limiter that cannot see ahead fails after d. When
// the caller's own deadline comes first, the error is the caller's
// (wrapping context.DeadlineExceeded), not ErrMaxWait. The result is a
// Reserver and a Pauser that hand on to l, when l is one.
func WithMaxWait(l Limiter, d time.Duration) Limiter {
	if d <= 0 {
		return l
	}
	if l == nil {
		l = unlimited{}
	}
	return &maxWait{l: l, d: d}
}

type maxWait struct {
	l Limiter
	d time.Duration
}

var (
	_ Reserver = (*maxWait)(nil)
	_ Pauser   = (*maxWait)(nil)
)

func (m *maxWait) Wait(ctx context.Context) error {
	return m.bounded(ctx, func(ctx context.Context) error { return m.l.Wait(ctx) })
}

func (m *maxWait) Reserve(ctx context.Context, host string) (res Reservation, err error) {
	err = m.bounded(ctx, func(ctx context.Context) (err error) {
		res, err = reserve(ctx, m.l, host)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// bounded runs wait under the maximum wait, unless ctx's own deadline
// comes first, and reports a wait that the maximum cut short as
// ErrMaxWait.
func (m *maxWait) bounded(ctx context.Context, wait func(context.Context) error) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= m.d {
		return wait(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, m.d)
	defer cancel()
	err := wait(wctx)
	if err != nil && ctx.Err() == nil && deadlineRefusal(wctx, err) {
		return fmt.Errorf("%w of %v", ErrMaxWait, m.d)
	}
	return err
}

// deadlineRefusal reports whether err is a limiter's refusal to wait past
// ctx's deadline: the deadline passed, or the limiter saw that it would.
// This package's limiters wrap context.DeadlineExceeded; *rate.Limiter
// returns an error of its own saying the wait "would exceed context
// deadline", which only its text tells apart.
func deadlineRefusal(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil ||
		strings.Contains(err.Error(), "exceed context deadline")
}

func (m *maxWait) Pause(host string, until time.Time, reason string) {
	if p, ok := m.l.(Pauser); ok {
		p.Pause(host, until, reason)
	}
}
