package retry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache/retry"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func Example() {
	srv := testserver.New()
	defer srv.Close()
	// The origin is busy once, and says when to come back.
	srv.Handle("/report", testserver.Sequence(
		testserver.Status(503, "busy", "Retry-After", "0"),
		testserver.Status(200, "the report"),
	))
	rt, err := retry.New(nil, retry.Options{})
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

// A policy of one's own: also retry a POST on 503, as an API that
// de-duplicates requests allows.
func ExampleCheckRetry() {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/submit", testserver.Sequence(testserver.Status(503, "busy", "Retry-After", "0"), testserver.Status(201, "created")))
	rt, err := retry.New(nil, retry.Options{CheckRetry: func(ctx context.Context, req *http.Request, resp *http.Response, err error) (bool, error) {
		if req.Method == http.MethodPost && resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			return true, nil
		}
		return retry.DefaultCheckRetry(ctx, req, resp, err)
	}})
	if err != nil {
		panic(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/submit", strings.NewReader("form"))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "after", srv.Hits("/submit"), "attempts")
	// Output:
	// 201 after 2 attempts
}
