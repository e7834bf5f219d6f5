// Command quickstart shows the library's main job offline: it starts an
// embedded origin, fetches 25 documents through a Manager limited to 10
// requests per second, and prints what the limiter did.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func main() {
	if err := run(os.Stdout, 25); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, n int) error {
	srv := testserver.New()
	defer srv.Close()
	urls := make([]string, n)
	for i := range urls {
		path := fmt.Sprintf("/Archives/edgar/data/%d/filing.txt", 1000+i)
		srv.Handle(path, testserver.NewResource([]byte(fmt.Sprintf("filing %d\n", i))))
		urls[i] = srv.URL + path
	}

	m, err := throttlecache.New(throttlecache.Config{
		UserAgent:         "Example Corp admin@example.com", // SEC EDGAR requires one
		RequestsPerSecond: 10,
	})
	if err != nil {
		return err
	}
	defer m.Close()

	fmt.Fprintf(w, "fetching %d documents at no more than 10 requests per second...\n", n)
	start := time.Now()
	results := m.GetBatch(context.Background(), urls, throttlecache.WithConcurrency(10))
	elapsed := time.Since(start)
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			fmt.Fprintln(w, "failed:", r.Err)
		}
	}
	s := m.Stats()
	busiest := testserver.MaxInWindow(srv.ArrivalTimes(), time.Second)
	fmt.Fprintf(w, "%d fetched, %d failed in %v\n", n-failed, failed, elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "busiest second at the origin: %d requests (limit 10)\n", busiest)
	fmt.Fprintf(w, "limiter held back %d requests for %v in total\n", s.Limiter.Waits, s.Limiter.WaitTime.Round(time.Millisecond))
	if failed > 0 {
		return fmt.Errorf("%d of %d failed", failed, n)
	}
	return nil
}
