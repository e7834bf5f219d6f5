package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/internal/testserver"
	"github.com/throttlecache/throttlecache/ratelimit"
)

// Processes that open the same state file share one limit.
func ExampleNewFileLimiter() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	l, err := ratelimit.NewFileLimiter(filepath.Join(dir, "edgar.limit"), 3, time.Hour)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for i := range 4 {
		err := l.Wait(ctx)
		fmt.Println(i, err == nil)
	}
	// Output:
	// 0 true
	// 1 true
	// 2 true
	// 3 false
}

// Machines that share a Redis key share one limit. The example runs an
// in-process Redis server; use a real one in production.
func ExampleNewRedisLimiter() {
	srv := miniredis.NewMiniRedis()
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()

	l := ratelimit.NewRedisLimiter(rdb, "edgar", 2, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for i := range 3 {
		err := l.Wait(ctx)
		fmt.Println(i, err == nil)
	}
	fmt.Println("fell back:", l.Stats().Fallbacks)
	// Output:
	// 0 true
	// 1 true
	// 2 false
	// fell back: 0
}

// One limit for the SEC's hosts, another for everything else.
func ExampleNewPerHost() {
	origin := testserver.New()
	defer origin.Close()

	sec, _ := ratelimit.NewSlidingWindow(9, time.Second)
	l, err := ratelimit.NewPerHost([]ratelimit.HostLimit{
		{Pattern: `(.*\.)?sec\.gov$`, Limiter: sec},
	}, nil) // other hosts: unlimited
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: ratelimit.New(nil, l)}
	for range 20 { // the test origin is not a SEC host: no waiting
		resp, err := client.Get(origin.URL + "/page")
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	fmt.Println(origin.TotalHits(), l.For("www.sec.gov") == ratelimit.Limiter(sec))
	// Output:
	// 20 true
}

// A pause holds back every request through the gate.
func ExampleGate() {
	g := ratelimit.NewGate(nil)
	g.Pause("www.sec.gov", time.Now().Add(time.Hour), "blocked")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := g.Reserve(ctx, "data.sec.gov")
	fmt.Println(err != nil, g.Stats().Reasons["blocked"])
	// Output:
	// true 1
}

// The EDGAR preset: the limiter for the rate-limit stage and the Pauser for
// the retry stage in one value.
func ExampleNewEDGARLimiter() {
	l, err := ratelimit.NewEDGARLimiter(nil, nil)
	if err != nil {
		panic(err)
	}
	w := l.For("www.sec.gov").(*ratelimit.Gate).Next.(*ratelimit.SlidingWindow)
	n, per := w.Limit()
	fmt.Println(n, per)
	// Output:
	// 9 1.025s
}

func ExampleHostname() {
	fmt.Println(ratelimit.Hostname("WWW.SEC.GOV:443"))
	// Output:
	// www.sec.gov
}
