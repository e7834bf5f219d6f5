package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrRedisUnavailable is wrapped by the error a RedisLimiter made with
// WithFailClosed returns while Redis cannot be reached.
var ErrRedisUnavailable = errors.New("ratelimit: Redis unavailable")

// RedisLimiter is a strict sliding-window limiter shared by every process on
// every machine that uses the same Redis key: at most N requests start in
// any window of Per.
//
// The algorithm is a sliding-window log: a sorted set holds one member per
// admission, scored with the Redis server's clock (TIME), and a Lua script
// removes the members older than Per plus the guard, counts the rest and
// adds the new admission only when fewer than N remain. The script runs
// atomically on one clock, so every admission sees all earlier ones: no
// window of Per ever holds more than N, whatever the machines' clocks say.
//
// Why not GCRA (github.com/go-redis/redis_rate): GCRA limits the average
// rate with a burst allowance. With burst N a client that was idle sends N
// at once and, the bucket refilling continuously, about N more within the
// same second: up to 2N-1 in one window, which is exactly what servers such
// as SEC EDGAR punish. With burst 1 it is strict but spaces requests by
// Per/N, so it cannot start a burst of N parallel requests. The log costs
// N members per key, a few hundred bytes for limits like 10 per second.
//
// Within a process the goroutines take turns, so only one at a time runs
// the script; a refused request sleeps until the oldest admission leaves
// the window (the script says when).
//
// When Redis cannot be reached the limiter falls back, by default, to a
// local SlidingWindow at the same rate and logs a warning: never unlimited,
// though each process then limits itself alone. It tries Redis again every
// second (WithRedisRetryInterval) and goes back to it when it answers. At
// each switch it lets one full window pass after its last admission, so
// that its own requests never exceed the limit across the switch. With
// WithFailClosed it refuses requests instead, with ErrRedisUnavailable.
//
// Through Reserve an admission is recorded a whole period
// ahead on the server's clock and moved back to the server's time when the
// first response byte arrives (one more script call), so the slot counts
// from when the request provably reached the origin, as in SlidingWindow.
//
// The guard (Per/40 by default) keeps the limit where the origin measures
// it, as for SlidingWindow. Keys: the set is "{key}:window" and the pause
// "{key}:pause" (one hash slot, for Redis Cluster); both expire when idle.
// A RedisLimiter is safe for concurrent use.
type RedisLimiter struct {
	err        error // a bad configuration: every Wait fails with it
	rdb        redis.UniversalClient
	keys       []string
	n          int
	per        time.Duration
	span       time.Duration
	cfg        *sharedConfig
	turn       chan struct{}
	local      *SlidingWindow
	member     string
	seq        atomic.Uint64
	st         sharedCounters
	fallbacks  atomic.Int64
	recoveries atomic.Int64
	localAdm   atomic.Int64
	probing    atomic.Bool

	mu        sync.Mutex // guards the fields below
	down      bool       // Redis could not be reached at the last try
	lastProbe time.Time
	holdUntil time.Time // no admission before: a switch just happened
	lastAdmit time.Time
}

var (
	_ Limiter = (*RedisLimiter)(nil)
	_ Pauser  = (*RedisLimiter)(nil)
)

// admitScript is the sliding-window log. KEYS: window set, pause key.
// ARGV: n, span in microseconds, member, and how far ahead of now to record
// the admission (a whole period behind the rate-limit stage, until the
// request settles; see settleScript). It returns {1, 0} when admitted,
// else {0, microseconds to wait}.
var admitScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then
  return {0, pause - now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
local count = redis.call('ZCARD', KEYS[1])
if count < n then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4] or '0'), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], count - n, count - n, 'WITHSCORES')
local wait = math.max(tonumber(oldest[2]) + span - now, 1)
if tonumber(oldest[2]) > now then
  -- recorded ahead and not settled yet: it will move back, so look again soon
  wait = math.min(wait, math.max(math.floor(span / 200), 1000))
end
return {0, wait}
`)

// pauseScript sets the pause key to now+ARGV[1] microseconds, on the
// server's clock, unless it already ends later.
var pauseScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untilT = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilT > cur then
  redis.call('SET', KEYS[1], untilT, 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 1
`)

// WithRedisRetryInterval sets how often a RedisLimiter that lost Redis tries
// it again. Default: 1 second.
func WithRedisRetryInterval(d time.Duration) SharedOption {
	return func(c *sharedConfig) { c.probe = d; c.redisOnly = "WithRedisRetryInterval" }
}

// WithRedisTimeout bounds each call a RedisLimiter makes to Redis; a call
// that takes longer counts as Redis out of reach. (go-redis applies it to
// the connection only when the client's ContextTimeoutEnabled is set;
// otherwise the client's own ReadTimeout applies.) Default: 1 second.
func WithRedisTimeout(d time.Duration) SharedOption {
	return func(c *sharedConfig) { c.opTimeout = d; c.redisOnly = "WithRedisTimeout" }
}

// NewRedisLimiter returns a limiter that lets at most n requests start in
// any window of per across every client of rdb's server that uses key.
// Options: WithSharedGuard, WithSharedMaxWait, WithLogger, WithFailClosed,
// WithRedisRetryInterval, WithRedisTimeout, WithSharedClock.
//
// NewRedisLimiter does not contact Redis. A bad configuration (nil rdb,
// empty key, n < 1, per <= 0, an option out of range) makes a limiter whose
// Wait always fails with the configuration error: never an unlimited one.
// Use NewRedisLimiterChecked to get the error up front.
func NewRedisLimiter(rdb redis.UniversalClient, key string, n int, per time.Duration, opts ...SharedOption) *RedisLimiter {
	l, err := NewRedisLimiterChecked(rdb, key, n, per, opts...)
	if err != nil {
		return &RedisLimiter{err: err, turn: make(chan struct{}, 1), cfg: &sharedConfig{now: time.Now}}
	}
	return l
}

// Err returns the configuration error of a limiter made by NewRedisLimiter
// with a bad configuration, or nil.
func (l *RedisLimiter) Err() error { return l.err }

// NewRedisLimiterChecked is NewRedisLimiter returning an error for a bad
// configuration.
func NewRedisLimiterChecked(rdb redis.UniversalClient, key string, n int, per time.Duration, opts ...SharedOption) (*RedisLimiter, error) {
	if rdb == nil {
		return nil, fmt.Errorf("ratelimit: Redis limiter %q: nil client", key)
	}
	if key == "" {
		return nil, fmt.Errorf("ratelimit: Redis limiter: empty key")
	}
	c, err := newSharedConfig(n, per, opts)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: Redis limiter %q: %w", key, err)
	}
	if c.opTimeout <= 0 {
		return nil, fmt.Errorf("ratelimit: Redis limiter %q: timeout %v: must be positive", key, c.opTimeout)
	}
	local, err := NewSlidingWindow(n, per, WithGuard(c.guard), WithClock(c.now))
	if err != nil {
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	return &RedisLimiter{
		rdb:    rdb,
		keys:   []string{"{" + key + "}:window", "{" + key + "}:pause"},
		n:      n,
		per:    per,
		span:   per + c.guard,
		cfg:    c,
		turn:   make(chan struct{}, 1),
		local:  local,
		member: hex.EncodeToString(id[:]) + ":",
	}, nil
}

// Limit returns the number of requests and the span, guard included, that
// the limiter enforces.
func (l *RedisLimiter) Limit() (n int, per time.Duration) { return l.n, l.span }

// Wait blocks until a request may start, the context ends, or it is clear
// the wait would exceed the maximum wait or the context's deadline. While
// Redis is out of reach it waits for the local fallback, or fails with
// ErrRedisUnavailable when the limiter fails closed. The admission counts
// from now.
func (l *RedisLimiter) Wait(ctx context.Context) error {
	return waitShared(ctx, l.cfg, l.turn, &l.st, func(ctx context.Context) (bool, time.Time, error) {
		ok, at, _, err := l.try(ctx, false)
		return ok, at, err
	})
}

// Reserve is Wait for the rate-limit stage: the admission is recorded a
// whole period ahead on the server's clock and moved back to the server's
// time when the Reservation says the request arrived (see Reserver). host
// is not used.
func (l *RedisLimiter) Reserve(ctx context.Context, host string) (Reservation, error) {
	var res Reservation
	err := waitShared(ctx, l.cfg, l.turn, &l.st, func(ctx context.Context) (ok bool, at time.Time, err error) {
		ok, at, res, err = l.try(ctx, true)
		return ok, at, err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (l *RedisLimiter) try(ctx context.Context, track bool) (ok bool, retryAt time.Time, res Reservation, err error) {
	if l.err != nil {
		return false, time.Time{}, nil, l.err
	}
	now := l.cfg.now()
	l.mu.Lock()
	hold, down := l.holdUntil, l.down
	probeDue := down && now.Sub(l.lastProbe) >= l.cfg.probe
	l.mu.Unlock()
	if now.Before(hold) {
		return false, hold, nil, nil
	}
	if down && !l.cfg.failClosed {
		if probeDue {
			l.probe()
		}
		ok, at := l.tryLocal()
		if ok && track {
			res = noReservation{}
		}
		return ok, at, res, nil
	}
	var ahead time.Duration
	if track {
		ahead = l.per
	}
	member := l.member + strconv.FormatUint(l.seq.Add(1), 36)
	out, err := l.eval(ctx, member, ahead)
	if err != nil {
		if ctx.Err() != nil {
			return false, time.Time{}, nil, ctx.Err()
		}
		l.lost(err)
		if l.cfg.failClosed {
			return false, time.Time{}, nil, fmt.Errorf("%w: %v", ErrRedisUnavailable, err)
		}
		return false, now, nil, nil // the next try holds, then falls back
	}
	if down {
		l.found() // failing closed: no local admissions to wait out
	}
	if out[0] == 1 {
		l.mu.Lock()
		l.lastAdmit = l.cfg.now()
		l.mu.Unlock()
		if track {
			res = &settleOnce{settle: l.settler(member)}
		}
		return true, time.Time{}, res, nil
	}
	return false, now.Add(time.Duration(out[1]) * time.Microsecond), nil, nil
}

// probe checks, in the background, whether Redis answers again; requests
// go on through the local window meanwhile.
func (l *RedisLimiter) probe() {
	l.mu.Lock()
	l.lastProbe = l.cfg.now()
	l.mu.Unlock()
	if !l.probing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer l.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.opTimeout)
		defer cancel()
		if l.rdb.Ping(ctx).Err() == nil {
			l.found()
		}
	}()
}

func (l *RedisLimiter) eval(ctx context.Context, member string, ahead time.Duration) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.opTimeout)
	defer cancel()
	res, err := admitScript.Run(ctx, l.rdb, l.keys, l.n, l.span.Microseconds(), member, ahead.Microseconds()).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected script result %v", res)
	}
	return res, err
}

// settleScript moves a member back to the server's current time when that
// is earlier than its score. KEYS: window set. ARGV: member.
var settleScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not cur then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if now < tonumber(cur) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  return 1
end
return 0
`)

// settler returns the function that moves member back to when its request
// provably reached the server, on the server's clock, in the background:
// the response should not wait for Redis.
func (l *RedisLimiter) settler(member string) func() {
	return func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), l.cfg.opTimeout)
			defer cancel()
			if err := settleScript.Run(ctx, l.rdb, l.keys[:1], member).Err(); err != nil {
				l.cfg.logger.Debug("ratelimit: could not settle an admission in Redis", "key", l.keys[0], "err", err)
			}
		}()
	}
}

// tryLocal admits through the local fallback window. It holds mu so that
// found sees every local admission before it decides how long to hold.
func (l *RedisLimiter) tryLocal() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return false, l.cfg.now() // Redis is back: try again, through it
	}
	ok, next := l.local.allowOrNext()
	if ok {
		l.localAdm.Add(1)
		l.lastAdmit = l.cfg.now()
	}
	return ok, next
}

// lost records that Redis could not be reached.
func (l *RedisLimiter) lost(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastProbe = l.cfg.now()
	if l.down {
		return
	}
	l.down = true
	l.fallbacks.Add(1)
	if l.cfg.failClosed {
		l.cfg.logger.Warn("ratelimit: Redis cannot be reached; refusing requests until it answers",
			"key", l.keys[0], "err", err)
		return
	}
	// Let this process's last Redis admissions leave the window before
	// the fresh local window admits anything.
	l.holdUntil = l.lastAdmit.Add(l.span)
	l.cfg.logger.Warn("ratelimit: Redis cannot be reached; limiting this process alone with a local window at the same rate",
		"key", l.keys[0], "err", err)
}

// found records that Redis answers again. Requests then hold until the
// local window's admissions have left the window.
func (l *RedisLimiter) found() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return
	}
	l.down = false
	l.recoveries.Add(1)
	l.cfg.logger.Info("ratelimit: Redis answers again; back to the shared limit", "key", l.keys[0])
	if !l.cfg.failClosed {
		l.holdUntil = l.lastAdmit.Add(l.span)
	}
}

// Pause holds back every client of the key until the given time (host is
// ignored: the whole limiter pauses). The pause is measured on the Redis
// server's clock from the moment it arrives. When Redis cannot be reached
// the pause is logged and dropped; a Gate in front keeps it in this process.
func (l *RedisLimiter) Pause(host string, until time.Time, reason string) {
	if l.err != nil {
		return
	}
	d := until.Sub(l.cfg.now())
	if d <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.opTimeout)
	defer cancel()
	if err := pauseScript.Run(ctx, l.rdb, l.keys[1:], d.Microseconds()).Err(); err != nil {
		l.cfg.logger.Warn("ratelimit: could not record a pause in Redis", "key", l.keys[1], "reason", reason, "err", err)
	}
}

// Stats returns what the limiter did in this process.
func (l *RedisLimiter) Stats() LimiterStats {
	s := l.st.snapshot()
	s.Fallbacks = l.fallbacks.Load()
	s.Recoveries = l.recoveries.Load()
	s.FallbackAdmitted = l.localAdm.Load()
	return s
}

// allowOrNext admits a request when the window has room, and otherwise
// says when it next will. It ignores the queue of Wait: only a shared
// limiter's fallback, whose callers take turns, uses it.
func (w *SlidingWindow) allowOrNext() (bool, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.admitLocked(w.now(), false); ok {
		return true, time.Time{}
	}
	next, _ := w.nextLocked() // no slot is unsettled without a start signal
	return false, next
}
