package ratelimit

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptrace"
	"sync"

	"github.com/throttlecache/throttlecache/internal/httpbody"
)

// When is a request "started"? A limiter that records the moment it lets a
// request go is exact about admissions, but the origin counts arrivals, and
// between the two lie a dial, a TLS handshake, a scheduler that is busy:
// if the request admitted N places earlier was held up longer than this one,
// both can land in one window at the origin. So a limiter that is a
// Reserver keeps each admission's slot open until the rate-limit stage
// tells its Reservation that the request has provably reached the server,
// and counts the window from there:
//
//   - the first response byte arrived (the server had the request), or
//   - the request was written plus a quarter of the period (arrival later
//     than that would need a network delay that varies by more than it), or
//   - the round trip ended, with a response or an error,
//
// whichever comes first. Until one of these happens the slot blocks the
// window. A saturated client therefore sustains N per (period + the time to
// the first byte, at most a quarter period more), and the window holds at
// the origin by construction rather than by a margin.
//
// The stage learns of the written request and the first byte through
// net/http's httptrace; a base transport that reports neither (not an
// *http.Transport) settles each slot when its round trip returns.

// A Reserver is a Limiter that admits a request for a known host and is
// told, through the returned Reservation, when the request reached the
// server. The rate-limit stage calls Reserve, with the request's host, on
// a limiter that has it, and Wait on one that does not: a plain Limiter
// (a *rate.Limiter, say) never learns the host and counts each request
// from its admission, so requests that a slow dial or TLS handshake held
// back can arrive at the origin bunched closer than it allowed.
// SlidingWindow, SharedWindow, PerHost and WithMaxWait's limiter are
// Reservers.
type Reserver interface {
	Limiter
	// Reserve blocks as Wait does until a request to host (as the request
	// names it, port and case included; "" when unknown) may start, and
	// returns its admission. The caller must end the reservation with
	// Arrived, or Cancel when the request is not sent.
	Reserve(ctx context.Context, host string) (Reservation, error)
}

// A Reservation is one admission of a Reserver, modelled on x/time/rate's
// Reservation: the rate-limit stage tells it when its request was written
// and when it reached the server, or that it will not be sent. Its methods
// are safe to call more than once and from any goroutine.
type Reservation interface {
	// Sent reports that the request was written to the connection.
	Sent()
	// Arrived reports that the request reached the server: its first
	// response byte arrived, or its round trip ended.
	Arrived()
	// Cancel reports that the request will not be sent. The built-in
	// limiters count it as a request that reached the server at once: a
	// strict window never gives a slot back.
	Cancel()
}

// reserve admits a request to host through l: by Reserve when l is a
// Reserver, else by Wait, with a Reservation that does nothing.
func reserve(ctx context.Context, l Limiter, host string) (Reservation, error) {
	if r, ok := l.(Reserver); ok {
		return r.Reserve(ctx, host)
	}
	if err := l.Wait(ctx); err != nil {
		return nil, err
	}
	return noReservation{}, nil
}

type noReservation struct{}

func (noReservation) Sent()    {}
func (noReservation) Arrived() {}
func (noReservation) Cancel()  {}

// send passes req to next, telling res when it reaches the server.
//
// net/http resends an idempotent HTTP/1 request inside its round trip when
// a reused connection closes after the request was written, and the server
// may have had it. The resend asks for a connection again (httptrace's
// GetConn, where HTTP/1 holds no lock and no connection yet) and waits
// there for l as a request of its own; if l refuses it, it is cancelled
// and the round trip ends with l's error. (net/http may still pick an idle
// connection for it in the same instant; it then races the cancellation.) A new connection asked
// for before anything was written is not a resend, and neither is an
// HTTP/2 retry (REFUSED_STREAM, GOAWAY: the server did not process it;
// HTTP/2 asks for connections under its pool's lock, where nothing may
// wait).
func send(next http.RoundTripper, req *http.Request, l Limiter, host string, res Reservation) (*http.Response, error) {
	if _, ok := l.(unlimited); ok {
		return next.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	var mu sync.Mutex
	cur, wrote, h2 := res, false, !hiddenResends(next, req)
	current := func() Reservation {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
	trace := &httptrace.ClientTrace{
		GetConn: func(string) {
			mu.Lock()
			prev, again := cur, wrote && !h2
			wrote = false
			mu.Unlock()
			if !again {
				return
			}
			prev.Arrived()
			r, err := reserve(ctx, l, host)
			if err != nil {
				cancel(&waitError{req: req.Method + " " + redact(req) + " (sent again by net/http)", err: err})
				return
			}
			mu.Lock()
			cur = r
			mu.Unlock()
		},
		GotConn: func(info httptrace.GotConnInfo) {
			tc, ok := info.Conn.(interface{ ConnectionState() tls.ConnectionState })
			mu.Lock()
			h2 = h2 || (ok && tc.ConnectionState().NegotiatedProtocol == "h2")
			mu.Unlock()
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				mu.Lock()
				wrote = true
				mu.Unlock()
			}
			current().Sent()
		},
		GotFirstResponseByte: func() { current().Arrived() },
	}
	defer func() { current().Arrived() }() // also when next panics: a slot must never stay shut
	resp, err := next.RoundTrip(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	if err != nil {
		if we, ok := context.Cause(ctx).(*waitError); ok {
			err = we
		}
		cancel(nil)
		return nil, err
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		cancel(nil)
	} else {
		resp.Body = httpbody.OnClose(resp.Body, func() { cancel(nil) })
	}
	return resp, nil
}

// hiddenResends reports whether next may resend req over HTTP/1 inside its
// round trip: only an *http.Transport does, found through stages that
// offer Unwrap() http.RoundTripper. A request it may send as unencrypted
// HTTP/2 (whose connection GotConn cannot tell from HTTP/1's) is treated
// as HTTP/2, since HTTP/2 asks for connections under its pool's lock, where
// nothing may wait.
func hiddenResends(next http.RoundTripper, req *http.Request) bool {
	for {
		u, ok := next.(interface{ Unwrap() http.RoundTripper })
		if !ok {
			break
		}
		next = u.Unwrap()
	}
	t, ok := next.(*http.Transport)
	if !ok {
		return false
	}
	h2c := t.Protocols != nil && t.Protocols.UnencryptedHTTP2() && req.URL != nil && req.URL.Scheme == "http"
	return !h2c
}
