package s3store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/testing/storetest"
)

func lockedStore(t *testing.T, rdb redis.UniversalClient, prefix string) (*Store, cache.Locker) {
	t.Helper()
	s := New(nil, "bucket", prefix, WithRedis(rdb))
	l, ok := s.CacheStore().(cache.Locker)
	if !ok {
		t.Fatal("the streaming store of a Store WithRedis is not a cache.Locker")
	}
	return s, l
}

func newRedis(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWithoutRedisNoLocker(t *testing.T) {
	if _, ok := New(nil, "bucket", "").CacheStore().(cache.Locker); ok {
		t.Fatal("a Store without WithRedis locks: every miss would pay for a second lookup")
	}
}

// TestLockWaitsAndReleases: a second machine waits while the first holds
// an entry's lock, and gets it once the first releases it; another entry
// is not held back.
func TestLockWaitsAndReleases(t *testing.T) {
	addr, _ := storetest.RedisAddr(t)
	prefix := "lock-" + time.Now().Format("150405.000000") + "/"
	a, la := lockedStore(t, newRedis(t, addr), prefix)
	b, lb := lockedStore(t, newRedis(t, addr), prefix)
	k := cache.KVKey("https://www.sec.gov/x")
	unlock, err := la.Lock(context.Background(), k, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := lb.Lock(ctx, k, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while another machine holds it = %v, want it to wait until the deadline", err)
	}
	other, err := lb.Lock(context.Background(), cache.KVKey("https://www.sec.gov/y"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other()
	released := time.Now()
	go func() { time.Sleep(100 * time.Millisecond); unlock() }()
	unlockB, err := lb.Lock(context.Background(), k, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	if d := time.Since(released); d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("got the lock %v after the holder let go at 100ms", d)
	}
	if sa, sb := a.Stats(), b.Stats(); sa.LockWaits != 0 || sb.LockWaits != 2 || sa.LockErrors+sb.LockErrors != 0 {
		t.Fatalf("stats %+v and %+v", sa, sb)
	}
}

// TestLockTakeoverAfterDeadLeader: a leader that died holds a lock it no
// longer renews; a waiter gets it when the lease runs out.
func TestLockTakeoverAfterDeadLeader(t *testing.T) {
	addr, mini := storetest.RedisAddr(t)
	rdb := newRedis(t, addr)
	prefix := "takeover-" + time.Now().Format("150405.000000") + "/"
	s, l := lockedStore(t, rdb, prefix)
	k := cache.KVKey("https://www.sec.gov/dead")
	if _, err := redislock.New(rdb).Obtain(context.Background(), s.lockName(k), 300*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if mini != nil { // a miniredis expires keys only when told
		time.AfterFunc(300*time.Millisecond, func() { mini.FastForward(300 * time.Millisecond) })
	}
	start := time.Now()
	unlock, err := l.Lock(context.Background(), k, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("took over after %v; the dead leader's lease had 300ms left", d)
	}
}

// TestLockRenewedWhileHeld: a lock held longer than its lease stays held.
func TestLockRenewedWhileHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a lease")
	}
	addr, mini := storetest.RedisAddr(t)
	if mini != nil {
		t.Skip("a miniredis never expires keys on its own: renewal needs a real Redis server")
	}
	prefix := "renew-" + time.Now().Format("150405.000000") + "/"
	_, la := lockedStore(t, newRedis(t, addr), prefix)
	_, lb := lockedStore(t, newRedis(t, addr), prefix)
	k := cache.KVKey("https://www.sec.gov/long")
	unlock, err := la.Lock(context.Background(), k, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), LockLease+time.Second)
	defer cancel()
	if _, err := lb.Lock(ctx, k, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock = %v: the holder's lock ran out while it was held", err)
	}
}

// TestLockRedisDown: with Redis out of reach a request goes on alone at
// once, counted; for a second after, Redis is not asked again.
func TestLockRedisDown(t *testing.T) {
	s, l := lockedStore(t, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), "")
	for i := range 5 {
		start := time.Now()
		unlock, err := l.Lock(context.Background(), cache.KVKey("https://www.sec.gov/x"), nil)
		if err != nil {
			t.Fatalf("Lock %d with Redis down = %v, want to go on alone", i, err)
		}
		unlock()
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Fatalf("Lock %d with Redis down took %v", i, d)
		}
	}
	if st := s.Stats(); st.LockErrors != 1 {
		t.Fatalf("LockErrors = %d after 5 locks within the backoff, want 1", st.LockErrors)
	}
}

// TestPartSize: every body S3 takes fits its 10,000 parts, none smaller
// than minPart (but the last) or larger than S3's 5 GiB.
func TestPartSize(t *testing.T) {
	for _, size := range []int64{minPart + 1, 100 << 20, 80 << 30, MaxObjectBytes} {
		p := partSize(size)
		if p < minPart || p > maxPart {
			t.Errorf("size %d: parts of %d bytes, outside [%d, %d]", size, p, minPart, maxPart)
		}
		if parts := (size + p - 1) / p; parts > maxParts {
			t.Errorf("size %d: %d parts, more than %d", size, parts, maxParts)
		}
	}
}

// TestLockLapsesWhenStalled: the holder's lease is renewed while alive
// says its download makes progress, and lapses once it does not, so that
// a machine waiting for the entry takes over from a stalled leader.
func TestLockLapsesWhenStalled(t *testing.T) {
	addr, mini := storetest.RedisAddr(t)
	for _, tt := range []struct {
		name    string
		stalled bool
	}{{"progressing leader keeps the lock", false}, {"stalled leader loses it", true}} {
		t.Run(tt.name, func(t *testing.T) {
			prefix := "stall-" + time.Now().Format("150405.000000") + "/"
			a, la := lockedStore(t, newRedis(t, addr), prefix)
			a.lock.lease = 300 * time.Millisecond
			_, lb := lockedStore(t, newRedis(t, addr), prefix)
			k := cache.KVKey("https://www.sec.gov/stalled")
			start := time.Now()
			alive := func() bool { return !tt.stalled || time.Since(start) < 150*time.Millisecond }
			unlock, err := la.Lock(context.Background(), k, alive)
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			if mini != nil && tt.stalled { // a miniredis expires keys only when told
				time.AfterFunc(600*time.Millisecond, func() { mini.FastForward(time.Second) })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			unlockB, err := lb.Lock(ctx, k, nil)
			switch {
			case tt.stalled && err != nil:
				t.Fatalf("waiting for a stalled leader's lock: %v, want it once the lease lapsed", err)
			case !tt.stalled && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("Lock while a progressing leader holds it = %v, want it to wait until the deadline", err)
			}
			if unlockB != nil {
				unlockB()
			}
		})
	}
}

// TestStreamedPartsStayWithinBounds: parts handed over while a body of
// unknown length downloads leave room for the last one, and a body too
// long for the parts left is not completed by that upload (its commit
// uploads it again, in larger parts).
func TestStreamedPartsStayWithinBounds(t *testing.T) {
	u := &upload{size: -1, part: minPart, next: make(chan [2]int64, 3)}
	u.ready(minPart)
	<-u.next // sent meanwhile
	u.ready(10 * minPart)
	if n := 1 + len(u.next); n != 2 {
		t.Fatalf("%d parts handed over with room for 3, want 2", n)
	}
	for n, want := range map[int64]bool{3 * minPart: true, 3*minPart + 1: false, 2*minPart + 1: true} {
		if u.fits(n) != want {
			t.Errorf("unknown length: fits(%d) = %v, want %v", n, !want, want)
		}
	}
	known := &upload{size: 3 * minPart, part: minPart, next: make(chan [2]int64, 3)}
	known.ready(3 * minPart)
	if len(known.next) != 2 || known.fits(3*minPart-1) || !known.fits(3*minPart) {
		t.Errorf("known length: %d parts handed over (want 2, the last at commit); fits other length %v",
			len(known.next), known.fits(3*minPart-1))
	}
}
