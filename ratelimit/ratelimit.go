// Package ratelimit holds the rate-limit stage of a throttlecache chain: an
// http.RoundTripper that makes every request wait for a Limiter before it
// reaches the network, and the limiters behind it.
//
// The stage sits next to the network on purpose: cache hits above it never
// spend a token, and every retry below a retry stage does.
//
//	l, err := ratelimit.NewSlidingWindow(10, time.Second) // SEC EDGAR's limit
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: ratelimit.New(nil, l)}
//
// A *rate.Limiter from golang.org/x/time/rate satisfies Limiter too, for
// callers who prefer a token bucket.
package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"net/http"
)

// A Limiter decides when a request may start. Wait blocks until the request
// may go ahead, or returns an error when it may not (the context ended, or
// the wait would be too long). Implementations are safe for concurrent use.
// *rate.Limiter from golang.org/x/time/rate satisfies it.
type Limiter interface {
	Wait(ctx context.Context) error
}

// ErrMaxWait is wrapped by the error a limiter returns when a request would
// have to wait longer than the limiter's maximum wait.
var ErrMaxWait = errors.New("ratelimit: wait would exceed the maximum wait")

// Transport is the rate-limit stage: each request waits for Limiter before
// Next sends it. It is safe for concurrent use.
type Transport struct {
	// Next sends the request once the limiter lets it go.
	// Default: http.DefaultTransport.
	Next http.RoundTripper
	// Limiter is waited on before every request. Default: Unlimited.
	Limiter Limiter
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns the rate-limit stage: next (nil means http.DefaultTransport)
// behind l (nil means Unlimited).
func New(next http.RoundTripper, l Limiter) http.RoundTripper {
	return &Transport{Next: next, Limiter: l}
}

// RoundTrip waits for the limiter, then sends the request. A Reserver is
// asked with the request's host and told when the request reached the
// server (see Reserver); any other Limiter is waited on with the request's
// context. When the wait fails it closes the request body and returns the
// limiter's error, wrapped.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	l := t.Limiter
	if l == nil {
		l = Unlimited()
	}
	res, err := reserve(req.Context(), l, requestHost(req))
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &waitError{req: req.Method + " " + redact(req), err: err}
	}
	return send(cmp.Or[http.RoundTripper](t.Next, http.DefaultTransport), req, res)
}

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

type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }

// Unlimited returns a Limiter that never makes a request wait. Its Wait only
// reports an already ended context.
func Unlimited() Limiter { return unlimited{} }
