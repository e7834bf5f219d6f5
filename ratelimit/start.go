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

// startSignal links one admission of a SlidingWindow to the request it let
// go. The rate-limit stage puts one in the context of every Wait; a
// SlidingWindow that admits the request binds it to its slot.
type startSignal struct {
	mu  sync.Mutex
	w   *SlidingWindow
	idx int
	seq uint64
}

func withStartSignal(ctx context.Context) (context.Context, *startSignal) {
	s := new(startSignal)
	return context.WithValue(ctx, startKey{}, s), s
}

// bind claims the signal for slot idx of w; only the first limiter to admit
// the request gets it.
func (s *startSignal) bind(w *SlidingWindow, idx int, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		return false
	}
	s.w, s.idx, s.seq = w, idx, seq
	return true
}

// settle tells the window that the request reached the server no later
// than extra from now.
func (s *startSignal) settle(extra time.Duration) {
	s.mu.Lock()
	w, idx, seq := s.w, s.idx, s.seq
	s.mu.Unlock()
	if w != nil {
		w.settle(idx, seq, extra)
	}
}

func (s *startSignal) window() *SlidingWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w
}

// send passes req to next, reporting to the window when it reaches the server.
func (s *startSignal) send(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	w := s.window()
	if w == nil {
		return next.RoundTrip(req)
	}
	quarter := w.period / 4
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { s.settle(quarter) },
		GotFirstResponseByte: func() { s.settle(0) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := next.RoundTrip(req)
	s.settle(0)
	return resp, err
}
