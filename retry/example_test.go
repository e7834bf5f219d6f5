package retry_test

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/throttlecache/throttlecache/internal/testserver"
	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/retry"
)

func Example() {
	srv := testserver.New()
	defer srv.Close()
	// The origin is busy once, and says when to come back.
	srv.Handle("/report", testserver.Sequence(
		testserver.Status(503, "busy", "Retry-After", "0"),
		testserver.Status(200, "the report"),
	))

	w, err := ratelimit.NewSlidingWindow(10, time.Second)
	if err != nil {
		panic(err)
	}
	gate := ratelimit.NewGate(w) // every request waits out a pause
	rt, err := retry.New(ratelimit.New(nil, gate), retry.Options{Pauser: gate})
	if err != nil {
		panic(err)
	}
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL + "/report")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println("attempts:", rt.Stats().Attempts, "origin hits:", srv.Hits("/report"))
	// Output:
	// 200 the report
	// attempts: 2 origin hits: 2
}

func ExampleRetryAfter() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"120", "Sat, 01 Mar 2025 12:00:30 GMT", "soon"} {
		d, ok := retry.RetryAfter(v, now)
		fmt.Println(d, ok)
	}
	// Output:
	// 2m0s true
	// 30s true
	// 0s false
}

// The SEC's block page is recognised on EDGAR hosts; any other 403 is
// returned as it is.
func ExampleOptions_block() {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/denied", testserver.Status(403, "Undeclared automated tool"))

	gate := ratelimit.NewGate(nil)
	rt, err := retry.New(nil, retry.Options{
		Pauser:     gate,
		BlockHosts: `127\.0\.0\.1$`, // the test origin stands in for www.sec.gov
	})
	if err != nil {
		panic(err)
	}
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL + "/denied")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	until, _ := gate.PausedUntil("127.0.0.1")
	fmt.Println(resp.StatusCode, string(body), "paused:", !until.IsZero())
	// Output:
	// 403 Undeclared automated tool paused: false
}
