package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/testing/storetest"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// testRedisAddr returns the address of the Redis server the tests use:
// the real one the environment names, or an in-process miniredis (see
// storetest.RedisAddr).
func testRedisAddr(t *testing.T) string {
	addr, _ := storetest.RedisAddr(t)
	return addr
}

func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// testKey returns a key no other test or run uses on a shared server.
func testKey(t *testing.T) string {
	var b [6]byte
	rand.Read(b[:])
	return "throttlecache-test:" + t.Name() + ":" + hex.EncodeToString(b[:])
}

// redisOf returns the Redis store of a limiter made by NewRedisLimiter.
func redisOf(l *SharedWindow) *redisStore { return l.store.(*redisStore) }

func newRedis(t *testing.T, rdb redis.UniversalClient, key string, n int, per time.Duration, opts *RedisOptions) *SharedWindow {
	t.Helper()
	l, err := NewRedisLimiter(rdb, key, n, per, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewRedisLimiterValidates(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	tests := []struct {
		name string
		rdb  redis.UniversalClient
		key  string
		n    int
		per  time.Duration
		opts *RedisOptions
		want string
	}{
		{"nil client", nil, "k", 10, time.Second, nil, `ratelimit: Redis limiter "k": nil client`},
		{"empty key", c, "", 10, time.Second, nil, "ratelimit: Redis limiter: empty key"},
		{"zero requests", c, "k", 0, time.Second, nil, `ratelimit: Redis limiter "k": limit of 0 requests: need at least 1`},
		{"zero period", c, "k", 10, 0, nil, `ratelimit: Redis limiter "k": period 0s: must be positive`},
		{"negative retry interval", c, "k", 10, time.Second, &RedisOptions{RetryInterval: -1}, `ratelimit: Redis limiter "k": retry interval -1ns: must not be negative`},
		{"negative timeout", c, "k", 10, time.Second, &RedisOptions{Timeout: -time.Second}, `ratelimit: Redis limiter "k": timeout -1s: must not be negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewRedisLimiter(tt.rdb, tt.key, tt.n, tt.per, tt.opts)
			if err == nil || err.Error() != tt.want || l != nil {
				t.Fatalf("NewRedisLimiter = %v, %v; want the error %q", l, err, tt.want)
			}
		})
	}
}

// TestRedisLimiterWindow checks admissions and refusals on the server's
// clock, without sleeping: miniredis's TIME is set by hand.
func TestRedisLimiterWindow(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := newClient(t, m.Addr())
	t0 := time.Unix(1_700_000_000, 0)
	m.SetTime(t0)
	l, err := NewRedisLimiter(rdb, testKey(t), 3, time.Second, &RedisOptions{Options: Options{Guard: noGuard}})
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		at   time.Duration
		want bool
		wait time.Duration
	}
	steps := []step{
		{0, true, 0}, {300 * time.Millisecond, true, 0}, {600 * time.Millisecond, true, 0},
		{999 * time.Millisecond, false, time.Millisecond}, {time.Second, true, 0},
		{1200 * time.Millisecond, false, 100 * time.Millisecond}, {1300 * time.Millisecond, true, 0},
		{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, false, time.Second},
	}
	for i, s := range steps {
		m.SetTime(t0.Add(s.at))
		res, err := redisOf(l).eval(context.Background(), "m"+strconv.Itoa(i), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0] == 1; got != s.want || (!got && time.Duration(res[1])*time.Microsecond != s.wait) {
			t.Fatalf("step %d at %v: %v; want admitted %v, wait %v", i, s.at, res, s.want, s.wait)
		}
	}
	if keys := m.Keys(); len(keys) != 2 || !strings.HasSuffix(keys[0], "}:count") || !strings.HasSuffix(keys[1], "}:window") {
		t.Fatalf("keys %v: want the window set and the admission count", keys)
	}
}

// TestRedisLimiterDetectsLoss empties the server under two clients: the
// first to call again finds the admission count below the one it saw,
// pauses the key for one span and says so once; a client that saw less
// does not detect it again, and a new client of the emptied server is
// held by the same pause.
func TestRedisLimiterDetectsLoss(t *testing.T) {
	m := miniredis.RunT(t)
	t0 := time.Unix(1_700_000_000, 0)
	m.SetTime(t0)
	key := testKey(t)
	var logs syncBuffer
	opts := &RedisOptions{Options: Options{Guard: noGuard, Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
	a := redisOf(newRedis(t, newClient(t, m.Addr()), key, 3, time.Second, opts))
	b := redisOf(newRedis(t, newClient(t, m.Addr()), key, 3, time.Second, opts))
	ctx := context.Background()
	for i, l := range []*redisStore{a, a, b} {
		if res, err := l.eval(ctx, "m"+strconv.Itoa(i), 0); err != nil || res[0] != 1 {
			t.Fatalf("admission %d: %v, %v", i, res, err)
		}
	}
	if a.seen.Load() != 2 || b.seen.Load() != 3 {
		t.Fatalf("seen %d and %d, want 2 and 3", a.seen.Load(), b.seen.Load())
	}
	m.FlushAll() // a restart that lost everything
	m.SetTime(t0.Add(100 * time.Millisecond))
	res, err := b.eval(ctx, "after", 0)
	if err != nil || res[0] != 0 || time.Duration(res[1])*time.Microsecond != time.Second || res[3] != 1 {
		t.Fatalf("first call after the loss: %v, %v; want a refusal for one span, lost", res, err)
	}
	if res, _ := a.eval(ctx, "a-after", 0); res[0] != 0 || res[3] != 0 {
		t.Fatalf("the client that saw less: %v; want held by the same pause, no second detection", res)
	}
	c := redisOf(newRedis(t, newClient(t, m.Addr()), key, 3, time.Second, opts))
	if res, _ := c.eval(ctx, "c", 0); res[0] != 0 {
		t.Fatalf("a new client during the hold: %v; want it held", res)
	}
	m.SetTime(t0.Add(1100 * time.Millisecond))
	if res, _ := c.eval(ctx, "c2", 0); res[0] != 1 || res[2] != 4 {
		t.Fatalf("after the hold: %v; want admitted, count 4", res)
	}
	if a.resets.Load()+b.resets.Load()+c.resets.Load() != 1 || strings.Count(logs.String(), "lost the limiter's recent admissions") != 1 {
		t.Fatalf("losses %d %d %d, log %q: want one, logged once", a.resets.Load(), b.resets.Load(), c.resets.Load(), logs.String())
	}
}

// TestRedisLimiterPause checks that a pause recorded by one client holds
// back another, on the server's clock.
func TestRedisLimiterPause(t *testing.T) {
	addr := testRedisAddr(t)
	key := testKey(t)
	a := newRedis(t, newClient(t, addr), key, 10, time.Second, nil)
	b := newRedis(t, newClient(t, addr), key, 10, time.Second, nil)
	a.Pause("www.sec.gov", time.Now().Add(200*time.Millisecond), "test")
	start := time.Now()
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("Wait returned after %v; the pause was ignored", d)
	}
}

func TestRedisLimiterMaxWaitAndCancel(t *testing.T) {
	addr := testRedisAddr(t)
	key := testKey(t)
	l := WithMaxWait(newRedis(t, newClient(t, addr), key, 1, time.Hour, nil), time.Second)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(context.Background()); !errors.Is(err, ErrMaxWait) {
		t.Fatalf("Wait = %v, want ErrMaxWait", err)
	}
	l2 := newRedis(t, newClient(t, addr), testKey(t), 1, 2*time.Second, &RedisOptions{Options: Options{Guard: noGuard}})
	l2.Wait(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if err := l2.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancellation took %v", d)
	}
}

// TestRedisLimiterFallback stops the server and starts it again. It always
// runs on miniredis, which can be stopped without disturbing anyone.
func TestRedisLimiterFallback(t *testing.T) {
	m := miniredis.RunT(t)
	var logs syncBuffer
	const n, per = 5, 200 * time.Millisecond
	l := newRedis(t, newClient(t, m.Addr()), testKey(t), n, per, &RedisOptions{
		Options:       Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		RetryInterval: 50 * time.Millisecond,
		Timeout:       200 * time.Millisecond,
	})
	ctx := context.Background()
	// Each admission happened at some instant of its Wait call: Redis
	// scored it on its own clock, and the call may be descheduled before
	// or after the script runs. So the test keeps each call's start and
	// end and counts only admissions that surely fell in one window.
	var admitted []span
	base := time.Now()
	wait := func(k int) {
		t.Helper()
		for range k {
			start := time.Since(base)
			if err := l.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			admitted = append(admitted, span{start, time.Since(base)})
		}
	}
	wait(n)
	m.Close()
	wait(2 * n)
	s := l.Stats()
	if s.Fallbacks != 1 || s.FallbackAdmitted != 2*n || !strings.Contains(logs.String(), "local window") {
		t.Fatalf("after stopping Redis: stats %+v, log %q", s, logs.String())
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	wait(2 * n)
	s = l.Stats()
	if s.Recoveries != 1 || s.FallbackAdmitted > 3*n || s.Admitted-s.FallbackAdmitted < n {
		t.Fatalf("after restarting Redis: stats %+v, log %q", s, logs.String())
	}
	if !strings.Contains(logs.String(), "answers again") {
		t.Fatalf("log %q does not say Redis is back", logs.String())
	}
	// Across both switches this process kept its own limit.
	if got := maxSurelyInWindow(admitted, per); got > n {
		t.Fatalf("%d admissions surely within %v across the switches, limit %d: %v", got, per, n, admitted)
	}
}

// span is when a call started and returned, from the test's start.
type span struct{ start, end time.Duration }

// maxSurelyInWindow returns the largest number of consecutive calls, made
// one after another, whose admissions all fell within one window whatever
// instant of its call each happened at: the last call ended less than
// window after the first one started.
func maxSurelyInWindow(calls []span, window time.Duration) int {
	best, lo := 0, 0
	for hi := range calls {
		for lo < hi && calls[hi].end-calls[lo].start >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestRedisLimiterFailClosed(t *testing.T) {
	m := miniredis.RunT(t)
	l := newRedis(t, newClient(t, m.Addr()), testKey(t), 5, time.Second, &RedisOptions{
		Options:    Options{Logger: slog.New(slog.DiscardHandler)},
		FailClosed: true,
	})
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := l.Wait(ctx); !errors.Is(err, ErrRedisUnavailable) {
		t.Fatalf("Wait with Redis down = %v, want ErrRedisUnavailable", err)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait after Redis came back = %v", err)
	}
	if s := l.Stats(); s.Fallbacks != 1 || s.Recoveries != 1 || s.FallbackAdmitted != 0 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestPrecisionRedisClients runs 3 clients (3 connections pools, as 3
// machines would have), 3 goroutines each, on one key against an origin.
func TestPrecisionRedisClients(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	addr := testRedisAddr(t)
	const n, per = 20, 2 * time.Second
	srv := testserver.New()
	defer srv.Close()
	key := testKey(t)
	stop := time.Now().Add(2*per + 200*time.Millisecond)
	var wg sync.WaitGroup
	for range 3 {
		l := newRedis(t, newClient(t, addr), key, n, per, nil)
		wg.Go(func() {
			if err := hammer(context.Background(), l, srv.URL+"/x", 3, stop); err != nil {
				t.Error(err)
			}
			if s := l.Stats(); s.Fallbacks != 0 {
				t.Errorf("a client fell back: %+v", s)
			}
		})
	}
	wg.Wait()
	_, rate := report(t, "3 Redis clients × 3 goroutines, one key", arrivals(srv, "/x"), n, per)
	// Each request makes two script calls; miniredis runs them in an
	// interpreted Lua that the race detector slows down so much that the
	// rate measures miniredis, not the limiter. The window is still checked.
	if os.Getenv(storetest.EnvRedis) == "" && raceEnabled {
		t.Logf("sustained rate not checked on miniredis under -race")
	} else {
		checkSustained(t, rate, n, per)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
