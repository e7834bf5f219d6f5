package retry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestCheckRetryErrorEndsTheRequest: a CheckRetry error ends the request
// with it (CheckRetry's doc), the response closed.
func TestCheckRetryErrorEndsTheRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, "busy")
	}))
	defer srv.Close()
	stop := errors.New("policy says stop")
	rt, _ := newFake(t, nil, Options{CheckRetry: func(ctx context.Context, req *http.Request, resp *http.Response, err error) (bool, error) {
		return false, stop
	}})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	if !errors.Is(err, stop) {
		t.Fatalf("RoundTrip returned (resp %v, err %v); want the CheckRetry error %q", resp != nil, err, stop)
	}
}

// TestBodyWithoutGetBodyNotRetried: only requests that can be sent again
// are retried (package doc): a CheckRetry that says yes for a POST whose
// body cannot be replayed does not make the stage send the consumed body
// again, which the origin would get empty.
func TestBodyWithoutGetBodyNotRetried(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(201)
	}))
	defer srv.Close()
	rt, _ := newFake(t, nil, Options{CheckRetry: func(ctx context.Context, req *http.Request, resp *http.Response, err error) (bool, error) {
		return resp != nil && resp.StatusCode == 503, nil // "retry a POST on 503", as ExampleCheckRetry does
	}})
	// A body without GetBody (not a bytes/strings reader).
	req, _ := http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("form=important")))
	if req.GetBody != nil {
		t.Fatal("test setup: want no GetBody")
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	for i, b := range bodies {
		if b != "form=important" {
			t.Fatalf("attempt %d reached the origin with body %q (all: %q); a body that cannot be replayed must not be retried", i+1, b, bodies)
		}
	}
}
