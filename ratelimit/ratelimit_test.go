package ratelimit

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

var _ Limiter = (*rate.Limiter)(nil)
var _ Limiter = (*SlidingWindow)(nil)

type refuse struct{ err error }

func (r refuse) Wait(context.Context) error { return r.err }

type trackBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackBody) Close() error { b.closed.Store(true); return nil }

func TestTransportRefusedClosesBody(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()

	rt := New(nil, refuse{ErrMaxWait})
	body := &trackBody{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x", body)
	resp, err := rt.RoundTrip(req)
	if resp != nil || !errors.Is(err, ErrMaxWait) {
		t.Fatalf("RoundTrip = %v, %v; want the limiter's error", resp, err)
	}
	if !strings.Contains(err.Error(), "POST "+srv.URL+"/x") {
		t.Errorf("error %q does not name the request", err)
	}
	if !body.closed.Load() {
		t.Error("request body not closed after the limiter refused")
	}
	if hits.Load() != 0 {
		t.Error("a refused request reached the origin")
	}
}

func TestTransportRedactsCredentials(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://user:secret@127.0.0.1:1/x", nil)
	_, err := New(nil, refuse{errors.New("no")}).RoundTrip(req)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v leaks the password", err)
	}
}

func TestTransportDefaults(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	// nil next and nil limiter: http.DefaultTransport, no limit.
	resp, err := (&http.Client{Transport: New(nil, nil)}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
}

// TestNilLimiter checks that the stage over a nil Limiter never makes a
// request wait but still reports an ended context.
func TestNilLimiter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	client := &http.Client{Transport: New(nil, nil)}
	for range 100 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	if _, err := client.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("a request with a cancelled context = %v", err)
	}
}

// TestTransportWindowAtOrigin measures arrivals at a real origin: with 10 per
// second and 35 concurrent requests, no one-second window may hold more
// than 10.
func TestTransportWindowAtOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	arrivals := make(chan time.Time, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrivals <- time.Now()
	}))
	defer srv.Close()
	l, err := NewSlidingWindow(10, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: New(nil, l)}
	const total = 35
	errs := make(chan error, total)
	for range total {
		go func() {
			resp, err := client.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range total {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(arrivals)
	var ts []time.Duration
	for a := range arrivals {
		ts = append(ts, time.Duration(a.UnixNano()))
	}
	got := maxInWindow(ts, time.Second)
	span := time.Duration(ts[len(ts)-1] - ts[0])
	t.Logf("%d requests, largest count in any 1s window: %d, span %v (3 full windows after the burst)", total, got, span)
	if got > 10 {
		t.Fatalf("%d requests reached the origin within one second; limit 10", got)
	}
}
