package testserver

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(req)
}

// Hammer sends every measured request through wrap, the warm-up ones
// around it, and stops at the deadline without calling that an error.
func TestHammer(t *testing.T) {
	s := newServer(t)
	s.Handle("/x", NewResource([]byte("x")))
	s.Handle("/x-warm", NewResource([]byte("w")))
	var ct *countingTransport
	wrap := func(base http.RoundTripper) http.RoundTripper {
		ct = &countingTransport{next: base}
		return ct
	}
	if err := Hammer(context.Background(), wrap, s.URL+"/x", 3, time.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// The requests cut short by the deadline went through wrap without
	// reaching the origin, at most one per worker.
	if n, w := s.Hits("/x"), ct.n.Load(); n == 0 || n > w || w > n+3 {
		t.Fatalf("origin saw %d, wrap saw %d", n, w)
	}
	if n := s.Hits("/x-warm"); n != 3 {
		t.Fatalf("%d warm-up requests, want 3", n)
	}
}
