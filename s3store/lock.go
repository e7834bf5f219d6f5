package s3store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// WithRedis makes the machines sharing the bucket and rdb fetch each
// missing or stale entry once: the leader takes a lock in Redis
// (bsm/redislock) before it asks the origin, and the others wait for it,
// then serve the committed entry. The lock is a lease of LockLease, renewed
// while the download makes progress; when the leader dies or stalls, a
// waiter takes over once it runs out.
//
// Redis failing never fails a request: each call is bounded by a second, a
// request that cannot reach Redis goes on alone, and for a second after a
// failure Redis is not tried again (logged, and counted in
// Stats.LockErrors). Default: misses are coalesced per process.
func WithRedis(rdb redis.UniversalClient) Option {
	return func(s *Store) {
		s.rdb = rdb
	}
}

// Lock timing: a slow leader keeps its lease; a dead one's waiters take
// over soon.
const (
	LockLease     = 5 * time.Second       // renewed every third of it
	lockPoll      = 50 * time.Millisecond // how often a waiter tries the lock
	lockCallLimit = time.Second           // bounds each call to Redis
	lockBackoff   = time.Second           // no Redis after a failure, for this long
)

// locker takes the entries' locks in Redis.
type locker struct {
	client *redislock.Client
	log    *slog.Logger
	lease  time.Duration // LockLease; shorter in tests

	waits, errors atomic.Int64

	mu        sync.Mutex
	downUntil time.Time // Redis failed: go alone until then
	down      bool      // a failure was logged and not yet followed by a success
}

// lockedEntries is the streaming store of a Store with WithRedis.
type lockedEntries struct{ *entries }

var _ cache.Locker = lockedEntries{}

func (e lockedEntries) Lock(ctx context.Context, k cache.Key, alive func() bool) (func(), error) {
	s := (*Store)(e.entries)
	return s.lock.lock(ctx, s.lockName(k), alive)
}

// lockName is the Redis key of k's lock, per bucket, prefix and entry.
func (s *Store) lockName(k cache.Key) string {
	sum := sha256.Sum256([]byte(s.bucket + "\x00" + s.prefix + "\x00" + k.String()))
	return "throttlecache:lock:" + hex.EncodeToString(sum[:])
}

// lock takes the lock named key, waiting while another machine holds it.
// It fails only with ctx's error; without Redis, the caller goes on alone.
func (l *locker) lock(ctx context.Context, key string, alive func() bool) (func(), error) {
	waited := false
	for {
		if l.skipping() {
			return func() {}, nil
		}
		cctx, cancel := context.WithTimeout(ctx, lockCallLimit)
		lk, err := l.client.Obtain(cctx, key, l.lease, nil)
		cancel()
		switch {
		case err == nil:
			l.up()
			return l.hold(lk, alive), nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !errors.Is(err, redislock.ErrNotObtained):
			l.failed(err)
			return func() {}, nil
		}
		l.up()
		if !waited {
			waited = true
			l.waits.Add(1)
		}
		select { // an unstopped timer is collected since Go 1.23
		case <-time.After(lockPoll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// hold renews lk while alive until the returned release releases it.
func (l *locker) hold(lk *redislock.Lock, alive func() bool) func() {
	return cache.Renew(l.lease/3, alive, func() {
		ctx, cancel := context.WithTimeout(context.Background(), lockCallLimit)
		defer cancel()
		if err := lk.Refresh(ctx, l.lease, nil); err != nil {
			l.log.Warn("s3store: could not renew an entry's lock in Redis; another machine may fetch it too",
				"key", lk.Key(), "err", err)
		}
	}, func() {
		l.log.Warn("s3store: the download of a locked entry stalled; its lock in Redis lapses so that another machine can fetch it",
			"key", lk.Key())
	}, func() {
		ctx, cancel := context.WithTimeout(context.Background(), lockCallLimit)
		defer cancel()
		if err := lk.Release(ctx); err != nil && !errors.Is(err, redislock.ErrLockNotHeld) {
			l.log.Warn("s3store: could not release an entry's lock in Redis; it expires on its own",
				"key", lk.Key(), "err", err)
		}
	})
}

// skipping reports whether a recent failure says not to try Redis now.
func (l *locker) skipping() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.downUntil)
}

// failed records that Redis could not be reached.
func (l *locker) failed(err error) {
	l.errors.Add(1)
	l.mu.Lock()
	l.downUntil = time.Now().Add(lockBackoff)
	first := !l.down
	l.down = true
	l.mu.Unlock()
	if first {
		l.log.Warn("s3store: Redis cannot be reached; misses are coalesced in this process only until it answers",
			"err", err)
	}
}

// up records that Redis answered.
func (l *locker) up() {
	l.mu.Lock()
	was := l.down
	l.down = false
	l.mu.Unlock()
	if was {
		l.log.Info("s3store: Redis answers again; misses are coordinated across machines")
	}
}
