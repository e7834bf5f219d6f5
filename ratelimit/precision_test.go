package ratelimit

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// report logs the largest number of arrivals in any window of per and the
// sustained rate, and fails the test when the window holds more than n.
// The sustained rate leaves out the first window's burst: (count-n) arrivals
// over the time from the first to the last.
func report(t *testing.T, what string, times []time.Time, n int, per time.Duration) (largest int, sustained float64) {
	t.Helper()
	if len(times) <= n {
		t.Fatalf("%s: only %d arrivals at the origin, need more than %d", what, len(times), n)
	}
	largest = testserver.MaxInWindow(times, per)
	span := times[len(times)-1].Sub(times[0])
	sustained = float64(len(times)-n) / span.Seconds() * per.Seconds()
	t.Logf("%s: %d requests at the origin over %v; largest count in any %v window: %d (limit %d); sustained %.2f per %v = %.1f%% of the limit",
		what, len(times), span.Round(time.Millisecond), per, largest, n, sustained, per, 100*sustained/float64(n))
	if largest > n {
		t.Errorf("%s: %d requests reached the origin within %v; limit %d", what, largest, per, n)
	}
	return largest, sustained
}

// hammer sends requests through l from workers goroutines until stop.
func hammer(ctx context.Context, l Limiter, url string, workers int, stop time.Time) error {
	return testserver.Hammer(ctx, func(base http.RoundTripper) http.RoundTripper { return New(base, l) }, url, workers, stop)
}

// arrivals returns the arrival times of the requests for path.
func arrivals(srv *testserver.Server, path string) []time.Time {
	var ts []time.Time
	for _, r := range srv.Requests() {
		if r.Path == path {
			ts = append(ts, r.At)
		}
	}
	return ts
}

// TestPrecisionGoroutines measures, at an origin, a SlidingWindow shared by
// 12 goroutines.
func TestPrecisionGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const n, per = 20, 2 * time.Second
	srv := testserver.New()
	defer srv.Close()
	l, err := NewSlidingWindow(n, per, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hammer(context.Background(), l, srv.URL+"/x", 12, time.Now().Add(2*per+200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, rate := report(t, "12 goroutines, one SlidingWindow", arrivals(srv, "/x"), n, per)
	checkSustained(t, rate, n, per)
}

// checkSustained fails a limiter that holds requests back far below its
// rate. The goal of at least 95% is a speed figure, measured by make bench
// (scripts/benchtable) where noise cannot fail the build; this floor only
// catches a limiter that is broken, not one on a busy machine.
func checkSustained(t *testing.T, rate float64, n int, per time.Duration) {
	t.Helper()
	if rate < 0.6*float64(n) {
		t.Errorf("sustained %.2f per %v, far below the limit of %d: the limiter holds requests back", rate, per, n)
	}
}
