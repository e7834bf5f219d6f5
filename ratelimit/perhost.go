package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/throttlecache/throttlecache/rules"
)

// A Pauser stops a limiter from letting requests go for a while, because a
// server asked for it (Retry-After) or blocked the client. PerHost and
// SharedWindow implement it; the retry stage calls it.
type Pauser interface {
	// Pause holds back the requests to host until the given time; reason
	// says why, in a few words, for logs and statistics. A pause never
	// shortens one already in force.
	Pause(host string, until time.Time, reason string)
}

// ErrPaused is wrapped by the error a PerHost returns when a request cannot
// wait out a pause: its context's deadline comes first.
var ErrPaused = errors.New("ratelimit: paused")

// HostLimit routes the requests whose host matches Pattern to Limiter.
type HostLimit struct {
	// Pattern is a regular expression on the host name, lower-cased and
	// without port, IPv6 brackets or trailing dot (see rules.Hostname). As
	// in the rules package it matches at the start of the host, like
	// Python's re.match: `.*\.sec\.gov` matches "www.sec.gov" but not
	// "sec.gov"; add `$` to anchor the end.
	Pattern string
	// Limiter is shared by every host that matches. Default: no limit
	// (the hosts still share pauses).
	Limiter Limiter
}

// PerHost is a Limiter that routes each request to the limiter of the first
// HostLimit whose pattern matches its host, and to a default limiter for
// every other host, and that can be paused. The routed limiters can be of
// any kind: a SlidingWindow, a SharedWindow, a *rate.Limiter.
//
//	sec, _ := ratelimit.NewSlidingWindow(9, time.Second, nil)
//	other, _ := ratelimit.NewSlidingWindow(50, time.Second, nil)
//	l, err := ratelimit.NewPerHost([]ratelimit.HostLimit{
//		{Pattern: `(.*\.)?sec\.gov$`, Limiter: sec},
//	}, other, nil) // every other host shares 50 per second
//
// A pause (see Pause; the retry stage calls it on a Retry-After or a
// server's block) holds back every request of the route it falls in: all
// the hosts of a HostLimit together, since they share a limiter, and each
// host of the default route alone. It is handed on to the route's limiter
// when that is a Pauser (a SharedWindow), so that other processes sharing
// it hold back too. A pause is checked before the limiter is waited on and
// again after: a request that the limiter admits while a pause is in force
// gives its admission back and queues again when the pause ends, so a
// pause neither lets requests out nor piles admitted requests up behind it
// (which would break the limiter's window when it ends).
//
// Build one with NewPerHost. A PerHost is safe for concurrent use.
type PerHost struct {
	routes []hostRoute
	other  Limiter
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	pauses  map[string]pauseEntry // by route; see route
	changed chan struct{}         // closed when a pause starts or grows
	stats   Stats
}

type hostRoute struct {
	re *regexp.Regexp
	l  Limiter
}

type pauseEntry struct {
	until  time.Time
	reason string
}

var (
	_ Reserver = (*PerHost)(nil)
	_ Pauser   = (*PerHost)(nil)
)

// NewPerHost returns a PerHost that tries limits in order and uses other
// (nil means no limit) for the hosts none of them matches. It fails when a
// pattern does not compile. opts may be nil; its Guard is not used.
func NewPerHost(limits []HostLimit, other Limiter, opts *Options) (*PerHost, error) {
	p := &PerHost{other: other, logger: opts.logger(), now: opts.now()}
	if p.other == nil {
		p.other = unlimited{}
	}
	for i, hl := range limits {
		re, err := rules.CompilePattern(hl.Pattern)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: host limit %d, pattern %q: %w", i, hl.Pattern, err)
		}
		l := hl.Limiter
		if l == nil {
			l = unlimited{}
		}
		p.routes = append(p.routes, hostRoute{re: re, l: l})
	}
	return p, nil
}

// route returns the limiter host's requests wait for and the key of the
// pauses that hold them back: the HostLimit's index, or the host name in
// the default route (a NUL keeps the two apart).
func (p *PerHost) route(host string) (key string, l Limiter) {
	h := rules.Hostname(host)
	for i := range p.routes {
		if p.routes[i].re.MatchString(h) {
			return "\x00" + strconv.Itoa(i), p.routes[i].l
		}
	}
	return h, p.other
}

// Wait is Reserve for a request to no known host, whose admission counts
// from now: it waits for the default limiter and obeys the pauses given
// for host "".
func (p *PerHost) Wait(ctx context.Context) error {
	res, err := p.Reserve(ctx, "")
	if err != nil {
		return err
	}
	res.Arrived()
	return nil
}

// Reserve blocks while a pause holds back requests to host, then waits for
// host's limiter (through its Reserve when it is a Reserver), then checks
// the pause again: a request that was queued in the limiter when a pause
// began waits it out too instead of going out during it. It fails at once,
// with an error wrapping ErrPaused and context.DeadlineExceeded, when the
// pause ends after the context's deadline, and returns ctx.Err() when the
// context ends while it waits.
func (p *PerHost) Reserve(ctx context.Context, host string) (Reservation, error) {
	key, l := p.route(host)
	for {
		if err := p.waitPause(ctx, key); err != nil {
			return nil, err
		}
		res, err := reserve(ctx, l, host)
		if err != nil {
			return nil, err
		}
		if !p.paused(key) {
			return res, nil
		}
		// A pause began while the request was queued. It gives its
		// admission back (counted as a start now, which the pause
		// outlasts) and queues again once the pause is over: going out now
		// would ignore the pause, and holding the admission through it
		// would pile requests up for the moment it ends.
		res.Cancel()
	}
}

// Pause holds back the requests of host's route until the given time, and
// hands the pause on to the route's limiter when it is a Pauser. It never
// shortens a pause in force. Reason is counted in Stats and logged.
func (p *PerHost) Pause(host string, until time.Time, reason string) {
	now := p.now()
	if !until.After(now) {
		return
	}
	key, l := p.route(host)
	p.mu.Lock()
	if p.pauses == nil {
		p.pauses = make(map[string]pauseEntry)
		p.stats.PauseReasons = make(map[string]int64)
	}
	for k, e := range p.pauses { // forget pauses that ended; bounded by the hosts paused
		if !e.until.After(now) {
			delete(p.pauses, k)
		}
	}
	grew := false
	if e, ok := p.pauses[key]; !ok || until.After(e.until) {
		p.pauses[key] = pauseEntry{until: until, reason: reason}
		p.stats.Pauses++
		p.stats.PauseReasons[reason]++
		grew = true
		if p.changed != nil {
			close(p.changed)
			p.changed = nil
		}
	}
	p.mu.Unlock()
	if grew {
		p.logger.Warn("ratelimit: pausing requests", "host", rules.Hostname(host),
			"for", until.Sub(now).Round(time.Millisecond), "until", until, "reason", reason)
	}
	if pz, ok := l.(Pauser); ok {
		pz.Pause(host, until, reason)
	}
}

// Stats returns the pauses the PerHost kept and the waits they caused.
func (p *PerHost) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats.clone()
}

// paused reports whether a pause holds back the route key now.
func (p *PerHost) paused(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pauses[key].until.After(p.now())
}

// waitPause blocks while a pause holds back the route key.
func (p *PerHost) waitPause(ctx context.Context, key string) error {
	var start time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		p.mu.Lock()
		e := p.pauses[key]
		now := p.now()
		if !e.until.After(now) {
			p.mu.Unlock()
			break
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		changed := p.changed
		p.mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
		d := e.until.Sub(now)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			p.addWait(start)
			return fmt.Errorf("%w until %s (%s), past the request's deadline: %w",
				ErrPaused, e.until.Format(time.RFC3339), e.reason, context.DeadlineExceeded)
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
		case <-changed:
		case <-ctx.Done():
			p.addWait(start)
			return ctx.Err()
		}
	}
	if !start.IsZero() {
		p.addWait(start)
	}
	return nil
}

func (p *PerHost) addWait(start time.Time) {
	p.mu.Lock()
	p.stats.PauseWaits++
	p.stats.PauseWaitTime += time.Since(start)
	p.mu.Unlock()
}
