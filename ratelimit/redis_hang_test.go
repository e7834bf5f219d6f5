package ratelimit

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// blackhole accepts connections and never answers: a hung Redis (a
// network partition, a server stuck in a long command).
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// TestRedisHangFoundWithShortDeadlines: a hung Redis is found down even
// when every request's deadline is shorter than the limiter's Redis timeout
// (1 s by default; with go-redis's default ContextTimeoutEnabled=false a
// call runs for the client's ReadTimeout whatever the caller's deadline):
// the call runs on to its own timeout after its request gave up, and the
// requests after fall back to the local window (DESIGN: a failing Redis
// degrades to per-process limiting, never to an error for ever).
func TestRedisHangFoundWithShortDeadlines(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: blackhole(t), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer rdb.Close()
	l := newRedis(t, rdb, testKey(t), 10, time.Second, &RedisOptions{RetryInterval: 100 * time.Millisecond})
	var errs []error
	for i := 0; i < 4; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		errs = append(errs, l.Wait(ctx))
		cancel()
	}
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	s := l.Stats()
	t.Logf("errs %v stats %+v", errs, s)
	if failed == len(errs) || s.Fallbacks == 0 {
		t.Fatalf("Redis hung: %d of %d requests (300ms deadlines, limit 10/s, nothing else waiting) failed, Fallbacks=%d; first error %v; want a fallback to the local window",
			failed, len(errs), s.Fallbacks, errors.Join(errs[0]))
	}
}
