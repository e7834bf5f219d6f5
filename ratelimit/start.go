package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// When is a request "started"? A limiter that records the moment it lets a
// request go is exact about admissions, but the origin counts arrivals, and
// between the two lie a dial, a TLS handshake, a scheduler that is busy:
// if the request admitted N places earlier was held up longer than this one,
// both can land in one window at the origin. So a SlidingWindow behind the
// rate-limit stage keeps each admission's slot open until the request has
// provably reached the server, and counts the window from there:
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

type startKey struct{}

// startSignal links one admission to the request it let go. The rate-limit
// stage puts one in the context of every Wait; the limiter that admits the
// request binds it to the slot it recorded, and the stage reports through
// it when the request reached the server.
type startSignal struct {
	mu      sync.Mutex
	settle  func(extra time.Duration) // moves the slot to no later than now+extra
	quarter time.Duration             // a quarter of the limiter's period
}

func withStartSignal(ctx context.Context) (context.Context, *startSignal) {
	s := new(startSignal)
	return context.WithValue(ctx, startKey{}, s), s
}

// startSignalFrom returns the signal of ctx, or nil outside the stage.
func startSignalFrom(ctx context.Context) *startSignal {
	s, _ := ctx.Value(startKey{}).(*startSignal)
	return s
}

// bind claims the signal for a slot; only the first limiter to admit the
// request gets it. A nil signal binds nothing.
func (s *startSignal) bind(period time.Duration, settle func(extra time.Duration)) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.settle != nil {
		return false
	}
	s.settle, s.quarter = settle, period/4
	return true
}

func (s *startSignal) bound() (func(time.Duration), time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settle, s.quarter
}

// send passes req to next, reporting to the limiter when it reaches the
// server.
func (s *startSignal) send(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	settle, quarter := s.bound()
	if settle == nil {
		return next.RoundTrip(req)
	}
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { settle(quarter) },
		GotFirstResponseByte: func() { settle(0) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	defer settle(0) // also when next panics: a slot must never stay shut
	return next.RoundTrip(req)
}

// reset settles the bound slot, if any, at once and unbinds it, so that the
// request can be admitted again later with a slot of its own.
func (s *startSignal) reset() {
	if s == nil {
		return
	}
	s.mu.Lock()
	settle := s.settle
	s.settle = nil
	s.mu.Unlock()
	if settle != nil {
		settle(0)
	}
}

// release settles the bound slot, if any, at once: for a request that was
// admitted but never sent.
func (s *startSignal) release() {
	if settle, _ := s.bound(); settle != nil {
		settle(0)
	}
}
