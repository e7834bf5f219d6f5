package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// Processes that open the same state file share one limit.
func ExampleNewFileLimiter() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	l, err := ratelimit.NewFileLimiter(filepath.Join(dir, "edgar.limit"), 3, time.Hour, nil)
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

	l, err := ratelimit.NewRedisLimiter(rdb, "edgar", 2, time.Hour, nil)
	if err != nil {
		panic(err)
	}
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

	sec, _ := ratelimit.NewSlidingWindow(9, time.Second, nil)
	l, err := ratelimit.NewPerHost([]ratelimit.HostLimit{
		{Pattern: `(.*\.)?sec\.gov$`, Limiter: sec},
	}, nil, nil) // other hosts: unlimited
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
	fmt.Println(origin.TotalHits())
	// Output:
	// 20
}

// A pause of one SEC host holds back every SEC host, and no other.
func ExamplePerHost_Pause() {
	l, err := ratelimit.NewEDGARLimiter(nil, nil)
	if err != nil {
		panic(err)
	}
	l.Pause("www.sec.gov", time.Now().Add(time.Hour), "blocked")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = l.Reserve(ctx, "data.sec.gov")
	fmt.Println(errors.Is(err, ratelimit.ErrPaused), l.Stats().PauseReasons["blocked"])
	res, err := l.Reserve(ctx, "example.com")
	fmt.Println(err)
	res.Arrived()
	// Output:
	// true 1
	// <nil>
}

// WithMaxWait makes a request fail at once when the limiter would hold it
// back too long.
func ExampleWithMaxWait() {
	w, _ := ratelimit.NewSlidingWindow(1, time.Hour, nil)
	l := ratelimit.WithMaxWait(w, time.Second)
	fmt.Println(l.Wait(context.Background()))
	fmt.Println(l.Wait(context.Background()))
	// Output:
	// <nil>
	// ratelimit: wait would exceed the maximum wait of 1s
}
