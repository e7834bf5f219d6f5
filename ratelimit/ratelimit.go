// Package ratelimit holds the rate-limit stage of a throttlecache chain: an
// http.RoundTripper that makes every request wait for a Limiter before it
// reaches the network, and the limiters behind it.
//
// The stage sits next to the network on purpose: cache hits above it never
// spend a token, and every retry below a retry stage does.
//
//	l, err := ratelimit.NewSlidingWindow(10, time.Second, nil) // SEC EDGAR's limit
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: ratelimit.New(nil, l)}
//
// The limiters: SlidingWindow (one process), a SharedWindow made by
// NewFileLimiter (the processes of one machine) or NewRedisLimiter (every
// machine that shares a Redis), and PerHost, which routes hosts to
// limiters and holds back the hosts a server asked to pause. Each is
// configured by one Options value (a RedisOptions for Redis); WithMaxWait
// bounds the wait of any of them. A *rate.Limiter from
// golang.org/x/time/rate satisfies Limiter too, for callers who prefer a
// token bucket; see Reserver for what it does not get.
package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/throttlecache/throttlecache/internal/httpbody"
)

// A Limiter decides when a request may start. Wait blocks until the request
// may go ahead, or returns an error when it may not (the context ended, or
// the wait would be too long). Implementations are safe for concurrent use.
// *rate.Limiter from golang.org/x/time/rate satisfies it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Options configures what every limiter of this package shares. The zero
// value, and a nil *Options, give the defaults.
type Options struct {
	// Guard is the extra time each admission keeps its place in the
	// window, so that the limit also holds where the origin measures it,
	// where arrivals are a little less regular than admissions (see
	// SlidingWindow). Zero means per/40 (25 ms for one second); a negative
	// value means no guard.
	Guard time.Duration
	// Logger receives the limiter's warnings: a pause that starts, a
	// corrupt state file reset, Redis lost and found again.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now replaces time.Now, for tests. Waits still sleep on real timers.
	// A Redis limiter's window runs on the Redis server's clock and uses
	// this one only for its local fallback.
	Now func() time.Time
}

// guard returns the guard for a period of per.
func (o *Options) guard(per time.Duration) time.Duration {
	switch {
	case o == nil || o.Guard == 0:
		return per / 40
	case o.Guard < 0:
		return 0
	}
	return o.Guard
}

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

func (o *Options) now() func() time.Time {
	if o == nil || o.Now == nil {
		return time.Now
	}
	return o.Now
}

// checkLimit rejects a limit that admits nothing.
func checkLimit(n int, per time.Duration) error {
	if n < 1 {
		return fmt.Errorf("limit of %d requests: need at least 1", n)
	}
	if per <= 0 {
		return fmt.Errorf("period %v: must be positive", per)
	}
	return nil
}

// ErrMaxWait is wrapped by the error a limiter made by WithMaxWait returns
// when a request would have to wait longer than its maximum.
var ErrMaxWait = errors.New("ratelimit: wait would exceed the maximum wait")

// New returns the rate-limit stage: each request waits for l (nil means no
// limit) before next (nil means http.DefaultTransport) sends it. A Reserver
// is asked with the request's host and told when the request reached the
// server (see Reserver); any other Limiter is waited on with the request's
// context. When the wait fails the stage closes the request body and
// returns the limiter's error, wrapped in one whose Timeout reports whether
// a deadline ended the wait. The stage is safe for concurrent use.
func New(next http.RoundTripper, l Limiter) http.RoundTripper {
	if l == nil {
		l = unlimited{}
	}
	return &transport{next: cmp.Or[http.RoundTripper](next, http.DefaultTransport), limiter: l}
}

type transport struct {
	next    http.RoundTripper
	limiter Limiter
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := reserve(req.Context(), t.limiter, requestHost(req))
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &waitError{req: req.Method + " " + redact(req), err: err}
	}
	return send(t.next, req, t.limiter, requestHost(req), res)
}

// CloseIdleConnections closes the idle connections of the transport below,
// when it has any.
func (t *transport) CloseIdleConnections() { httpbody.CloseIdle(t.next) }

// waitError is the stage's error for a request the limiter did not let
// go. It is a net.Error whose Timeout reports whether a deadline ended the
// wait (or would have, had the limiter waited), so that http.Client and
// callers that test Timeout() see a timeout, as they would from the
// network.
type waitError struct {
	req string
	err error
}

func (e *waitError) Error() string   { return "ratelimit: " + e.req + ": " + e.err.Error() }
func (e *waitError) Unwrap() error   { return e.err }
func (e *waitError) Timeout() bool   { return errors.Is(e.err, context.DeadlineExceeded) }
func (e *waitError) Temporary() bool { return e.Timeout() }

func redact(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.Redacted()
}

// requestHost returns the host a request is sent to: the URL's, or the Host
// field for a URL without one.
func requestHost(req *http.Request) string {
	if req.URL != nil && req.URL.Host != "" {
		return req.URL.Host
	}
	return req.Host
}

// unlimited is the limiter of a nil Limiter: it never makes a request wait.
type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }
