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
	"fmt"
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

// RoundTrip waits for the limiter with the request's context, to which it adds
// the request's host (see WithHost) so that per-host limiters can route, then
// sends the request. A SlidingWindow behind it counts the request from the
// moment it provably reached the server (see SlidingWindow). When the wait fails it closes the request body
// and returns the limiter's error, wrapped.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	l := t.Limiter
	if l == nil {
		l = Unlimited()
	}
	ctx, sig := withStartSignal(WithHost(req.Context(), requestHost(req)))
	if err := l.Wait(ctx); err != nil {
		// A composite limiter may have admitted the request in one part
		// and refused it in another: the request never went out, so its
		// slot is released now rather than held shut for ever.
		sig.release()
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("ratelimit: %s %s: %w", req.Method, redact(req), err)
	}
	return sig.send(cmp.Or[http.RoundTripper](t.Next, http.DefaultTransport), req)
}

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
