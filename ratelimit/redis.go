package ratelimit

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrRedisUnavailable is wrapped by the error a Redis limiter that fails
// closed returns while Redis cannot be reached.
var ErrRedisUnavailable = errors.New("ratelimit: Redis unavailable")

// RedisOptions configures a Redis limiter. The zero value, and a nil
// *RedisOptions, give the defaults.
type RedisOptions struct {
	Options
	// FailClosed makes the limiter refuse requests, with an error wrapping
	// ErrRedisUnavailable, while Redis cannot be reached, instead of
	// falling back to a local window. Default: false, fall back.
	FailClosed bool
	// RetryInterval is how often a limiter that lost Redis tries it
	// again. Default: 1 second.
	RetryInterval time.Duration
	// Timeout bounds each call the limiter makes to Redis; a call that
	// takes longer counts as Redis out of reach. (go-redis applies it to
	// the connection only when the client's ContextTimeoutEnabled is set;
	// otherwise the client's own ReadTimeout applies.) Default: 1 second.
	Timeout time.Duration
}

// redisStore keeps a SharedWindow's state in Redis, for every machine
// that reaches the server.
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
// When Redis cannot be reached the limiter falls back, by default, to a
// local SlidingWindow at the same rate and logs a warning: never unlimited,
// though each process then limits itself alone. It tries Redis again every
// RetryInterval and goes back to it when it answers. At each switch it
// lets one full window pass after its last admission, so that its own
// requests never exceed the limit across the switch. With FailClosed it
// refuses requests instead, with ErrRedisUnavailable.
//
// A Redis that lost the window (restarted empty, flushed, or failed over
// to a replica that missed the latest writes) would look empty and admit a
// full burst while the lost admissions still count at the origin. go-redis
// retries hide a short restart, so the limiter does not rely on seeing an
// error: the script keeps an admission count that only grows, each client
// remembers the highest it saw, and a count below that means admissions
// are missing. The first client to see it pauses the key for one full
// period on the server (every client, new ones too, holds back), logs a
// warning and counts it in Stats.Resets. A new process has seen no count,
// so the script also looks at a key that has none: when the server has
// been up for less than a period (INFO's uptime, in whole seconds, so
// taken one second short), admissions it lost may still count at the
// origin, and the key pauses until a period has passed since the server
// started. The cost is one such hold for a key first used within a period
// and a second of the server's start. Periods over maxStartHold are not
// held so: the server's uptime cannot tell a key used for the first time
// from a lost one, and the hold would stop a new deployment of an hourly
// limit for up to an hour. (A replica promoted behind, long up, still
// holds back only clients that saw a higher count.)
//
// Keys: the set is "{key}:window", the pause "{key}:pause" and the count
// "{key}:count" (one hash slot, for Redis Cluster); the set and the pause
// expire when idle, the count (a few bytes) does not, so that an idle key
// is not mistaken for a lost one.
type redisStore struct {
	rdb        redis.UniversalClient
	keys       []string
	n          int
	per        time.Duration
	span       time.Duration
	now        func() time.Time
	logger     *slog.Logger
	failClosed bool
	probeEvery time.Duration
	opTimeout  time.Duration
	local      *SlidingWindow
	member     string
	seq        atomic.Uint64
	fallbacks  atomic.Int64
	recoveries atomic.Int64
	localAdm   atomic.Int64
	resets     atomic.Int64 // losses of the window detected
	seen       atomic.Int64 // the highest admission count Redis reported
	probing    atomic.Bool

	mu        sync.Mutex    // guards the fields below
	down      bool          // Redis could not be reached at the last try
	wentDown  chan struct{} // closed when down becomes true; nil: not made yet
	switches  uint64        // changes of down so far
	lastProbe time.Time
	holdUntil time.Time // no admission before: a switch just happened
	lastAdmit time.Time
}

// admitScript is the sliding-window log. KEYS: window set, pause key,
// admission count. ARGV: n, span in microseconds, member, how far ahead of
// now to record the admission (a whole period behind the rate-limit stage,
// until the request settles; see settleScript), the highest admission
// count this client has seen, and the start hold in microseconds (the
// span, or 0 for spans over maxStartHold). It returns {1, 0, count, lost}
// when admitted, else {0, microseconds to wait, count, lost}; lost is 1
// when the count went back, 2 when a server up for less than the start
// hold has no count for the key.
//
// The count detects a server that lost the window: restarted empty, or a
// replica promoted before it had the latest admissions. The count only
// grows, so a count below one a client saw means admissions are missing
// from the set, and a window that looks empty may not be. The script then
// pauses the key for one full span (every admission it lost is older than
// that once the pause ends), takes the client's count as its own so that
// other clients do not each detect the same loss, and reports lost = 1.
var admitScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local raw = redis.call('GET', KEYS[3])
local count = tonumber(raw or '0')
local seen = tonumber(ARGV[5] or '0')
local lost = 0
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local hold = 0
if count < seen then
  lost = 1
  count = seen
  redis.call('SET', KEYS[3], count)
  hold = now + span
elseif not raw then
  -- no count at all: a key never used, or a server that just started
  -- empty; lost admissions are as old as it has been up, which INFO
  -- gives in whole seconds of its clock, up to one more than it was
  local info = redis.pcall('INFO', 'server')
  local up = type(info) == 'string' and tonumber(string.match(info, 'uptime_in_seconds:(%d+)'))
  local startHold = tonumber(ARGV[6] or '0')
  if up then
    up = math.max(up - 1, 0) * 1000000
    if up < startHold then
      lost = 2
      redis.call('SET', KEYS[3], 0)
      hold = now + startHold - up
    end
  end
end
if hold > pause then
  pause = hold
  redis.call('SET', KEYS[2], pause, 'PX', math.ceil(span / 1000) + 1000)
end
if pause > now then
  return {0, pause - now, count, lost}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
local size = redis.call('ZCARD', KEYS[1])
if size < n then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4] or '0'), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
  count = redis.call('INCR', KEYS[3])
  return {1, 0, count, lost}
end
local oldest = redis.call('ZRANGE', KEYS[1], size - n, size - n, 'WITHSCORES')
local wait = math.max(tonumber(oldest[2]) + span - now, 1)
if tonumber(oldest[2]) > now then
  -- recorded ahead and not settled yet: it will move back, so look again soon
  wait = math.min(wait, math.max(math.floor(span / 200), 1000))
end
return {0, wait, count, lost}
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

// NewRedisLimiter returns a limiter that lets at most n requests start in
// any window of per across every client of rdb's server that uses key (see
// SharedWindow). It does not contact Redis; opts may be nil.
func NewRedisLimiter(rdb redis.UniversalClient, key string, n int, per time.Duration, opts *RedisOptions) (*SharedWindow, error) {
	if rdb == nil {
		return nil, fmt.Errorf("ratelimit: Redis limiter %q: nil client", key)
	}
	if key == "" {
		return nil, fmt.Errorf("ratelimit: Redis limiter: empty key")
	}
	if err := checkLimit(n, per); err != nil {
		return nil, fmt.Errorf("ratelimit: Redis limiter %q: %w", key, err)
	}
	if opts == nil {
		opts = &RedisOptions{}
	}
	if opts.RetryInterval < 0 {
		return nil, fmt.Errorf("ratelimit: Redis limiter %q: retry interval %v: must not be negative", key, opts.RetryInterval)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("ratelimit: Redis limiter %q: timeout %v: must not be negative", key, opts.Timeout)
	}
	guard := opts.guard(per)
	local, err := NewSlidingWindow(n, per, &Options{Guard: cmp.Or(guard, -1), Now: opts.Now})
	if err != nil {
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	return newShared(&redisStore{
		rdb:        rdb,
		keys:       []string{"{" + key + "}:window", "{" + key + "}:pause", "{" + key + "}:count"},
		n:          n,
		per:        per,
		span:       per + guard,
		now:        opts.now(),
		logger:     opts.logger(),
		failClosed: opts.FailClosed,
		probeEvery: cmp.Or(opts.RetryInterval, time.Second),
		opTimeout:  cmp.Or(opts.Timeout, time.Second),
		local:      local,
		member:     hex.EncodeToString(id[:]) + ":",
	}, &opts.Options), nil
}

func (l *redisStore) try(ctx context.Context, track bool) (ok bool, retryAt time.Time, res Reservation, err error) {
	now := l.now()
	l.mu.Lock()
	hold, down := l.holdUntil, l.down
	probeDue := down && now.Sub(l.lastProbe) >= l.probeEvery
	if l.wentDown == nil {
		l.wentDown = make(chan struct{})
	}
	wentDown, switches := l.wentDown, l.switches
	l.mu.Unlock()
	if now.Before(hold) {
		return false, hold, nil, nil
	}
	if down && !l.failClosed {
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
	// The call runs to its own timeout, so that a Redis that hangs is found
	// down even by requests with shorter deadlines, which give up waiting
	// for it; a request waiting for it falls back once another finds it so.
	if down {
		wentDown = nil // failing closed: wait for the answer
	}
	type answer struct {
		out []int64
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		out, err := l.eval(context.WithoutCancel(ctx), member, ahead)
		ch <- answer{out, err}
	}()
	late := func() { // a failure after Redis was lost and found again since says nothing new
		if a := <-ch; a.err != nil {
			l.lostSince(switches, a.err)
		}
	}
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		go late()
		return false, time.Time{}, nil, ctx.Err()
	case <-wentDown:
		go late()
		return false, now, nil, nil // the next try falls back
	}
	out, err := a.out, a.err
	if err != nil {
		l.lost(err)
		if l.failClosed {
			return false, time.Time{}, nil, fmt.Errorf("%w: %v", ErrRedisUnavailable, err)
		}
		return false, now, nil, nil // the next try holds, then falls back
	}
	if down {
		l.found() // failing closed: no local admissions to wait out
	}
	if out[0] == 1 {
		l.mu.Lock()
		l.lastAdmit = l.now()
		if l.down && !l.failClosed { // a late failure switched to the local window meanwhile: it waits this one out too
			if h := l.lastAdmit.Add(l.span); h.After(l.holdUntil) {
				l.holdUntil = h
			}
		}
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
func (l *redisStore) probe() {
	l.mu.Lock()
	l.lastProbe = l.now()
	l.mu.Unlock()
	if !l.probing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer l.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), l.opTimeout)
		defer cancel()
		if l.rdb.Ping(ctx).Err() == nil {
			l.found()
		}
	}()
}

func (l *redisStore) eval(ctx context.Context, member string, ahead time.Duration) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	res, err := admitScript.Run(ctx, l.rdb, l.keys, l.n, l.span.Microseconds(), member, ahead.Microseconds(), l.seen.Load(), l.startHold().Microseconds()).Int64Slice()
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("unexpected script result %v", res)
	}
	if err != nil {
		return nil, err
	}
	for {
		seen := l.seen.Load()
		if res[2] <= seen || l.seen.CompareAndSwap(seen, res[2]) {
			break
		}
	}
	switch res[3] {
	case 1:
		l.resets.Add(1)
		l.logger.Warn("ratelimit: Redis lost the limiter's recent admissions (restarted empty, or failed over to a replica behind); holding every client of the key back for one period",
			"key", l.keys[0], "period", l.span)
	case 2:
		l.resets.Add(1)
		l.logger.Warn("ratelimit: Redis started less than a period ago and has no admissions of the key: it may have lost them; holding every client of the key back until a period has passed since it started",
			"key", l.keys[0], "period", l.span)
	}
	return res, nil
}

// maxStartHold is the longest span for which a key with no count on a
// server that just started is held (see redisStore).
const maxStartHold = time.Minute

// startHold is how long after the server's start a key with no count is
// held.
func (l *redisStore) startHold() time.Duration {
	if l.span > maxStartHold {
		return 0
	}
	return l.span
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
func (l *redisStore) settler(member string) func() {
	return func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), l.opTimeout)
			defer cancel()
			if err := settleScript.Run(ctx, l.rdb, l.keys[:1], member).Err(); err != nil {
				l.logger.Debug("ratelimit: could not settle an admission in Redis", "key", l.keys[0], "err", err)
			}
		}()
	}
}

// tryLocal admits through the local fallback window. It holds mu so that
// found sees every local admission before it decides how long to hold.
func (l *redisStore) tryLocal() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return false, l.now() // Redis is back: try again, through it
	}
	ok, next := l.local.allowOrNext()
	if ok {
		l.localAdm.Add(1)
		l.lastAdmit = l.now()
	}
	return ok, next
}

// lost records that Redis could not be reached.
func (l *redisStore) lost(err error) { l.lostSince(anySwitches, err) }

// anySwitches makes lostSince count a failure whenever its call was made.
const anySwitches = ^uint64(0)

// lostSince is lost for a call made when down had changed switches times,
// which counts only if it has not changed since.
func (l *redisStore) lostSince(switches uint64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if switches != anySwitches && switches != l.switches {
		return
	}
	l.lastProbe = l.now()
	if l.down {
		return
	}
	l.down = true
	l.switches++
	if l.wentDown != nil {
		close(l.wentDown)
		l.wentDown = nil
	}
	l.fallbacks.Add(1)
	if l.failClosed {
		l.logger.Warn("ratelimit: Redis cannot be reached; refusing requests until it answers",
			"key", l.keys[0], "err", err)
		return
	}
	// Let this process's last Redis admissions leave the window before
	// the fresh local window admits anything.
	l.holdUntil = l.lastAdmit.Add(l.span)
	l.logger.Warn("ratelimit: Redis cannot be reached; limiting this process alone with a local window at the same rate",
		"key", l.keys[0], "err", err)
}

// found records that Redis answers again. Requests then hold until the
// local window's admissions have left the window.
func (l *redisStore) found() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return
	}
	l.down = false
	l.switches++
	l.recoveries.Add(1)
	l.logger.Info("ratelimit: Redis answers again; back to the shared limit", "key", l.keys[0])
	if !l.failClosed {
		l.holdUntil = l.lastAdmit.Add(l.span)
	}
}

// pause holds back every client of the key until the given time,
// measured on the Redis server's clock from the moment it arrives.
func (l *redisStore) pause(until time.Time, reason string) {
	d := until.Sub(l.now())
	if d <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opTimeout)
	defer cancel()
	if err := pauseScript.Run(ctx, l.rdb, l.keys[1:2], d.Microseconds()).Err(); err != nil {
		l.logger.Warn("ratelimit: could not record a pause in Redis", "key", l.keys[1], "reason", reason, "err", err)
	}
}

func (l *redisStore) stats(s *Stats) {
	s.Resets = l.resets.Load()
	s.Fallbacks = l.fallbacks.Load()
	s.Recoveries = l.recoveries.Load()
	s.FallbackAdmitted = l.localAdm.Load()
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
