package throttlecache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestFaultRedisDownAndBack stops the Redis server behind a Manager's limiter
// in the middle of a batch and starts it again: every request still
// succeeds, the limiter falls back to a local window at the same rate and
// returns to Redis, and the origin never sees more than the limit in any
// window. It stops and restarts an in-process server: a shared real server
// cannot be stopped by a test (the ratelimit package tests the real one).
func TestFaultRedisDownAndBack(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const n, per = 10, 500 * time.Millisecond
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	l, err := ratelimit.NewRedisLimiter(rdb, "fault-test", n, per,
		&ratelimit.RedisOptions{RetryInterval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.New()
	defer srv.Close()
	srv.HandlePrefix("/doc/", testserver.Status(200, "ok"))
	m := newManager(t, Config{Limiter: l})

	batch := func(from, count int) {
		t.Helper()
		urls := make([]string, count)
		for i := range urls {
			urls[i] = fmt.Sprintf("%s/doc/%d", srv.URL, from+i)
		}
		for _, r := range m.GetBatch(context.Background(), urls, WithConcurrency(6)) {
			if r.Err != nil || string(r.Body) != "ok" {
				t.Fatalf("%s: %v", r.URL, r.Err)
			}
		}
	}
	batch(0, 2*n)
	mr.Close() // Redis goes away
	batch(100, 2*n)
	if s := l.Stats(); s.Fallbacks != 1 || s.FallbackAdmitted == 0 {
		t.Fatalf("after Redis went down: %+v", s)
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the background probe notices
	batch(200, 2*n)
	s := l.Stats()
	if s.Recoveries != 1 {
		t.Fatalf("after Redis came back: %+v", s)
	}
	got := testserver.MaxInWindow(srv.ArrivalTimes(), per)
	t.Logf("60 requests across Redis going down and back: largest count in any %v window %d (limit %d); limiter %+v", per, got, n, s)
	if got > n {
		t.Fatalf("%d requests reached the origin within %v, limit %d", got, per, n)
	}
}
