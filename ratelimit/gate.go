package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// ErrPaused is wrapped by the error a Gate returns when a request cannot
// wait out a pause: its context's deadline comes first.
var ErrPaused = errors.New("ratelimit: paused")

// Gate is a Limiter that can be paused: while a pause is in force every Wait
// blocks, whichever goroutine asked for the pause, and then waits for Next.
// The retry stage pauses it when a server answers with Retry-After or blocks
// the client, so that every request to that server holds back, not only the
// one that was told.
//
// A pause covers every request that passes the Gate, whatever its host;
// route hosts to separate Gates with PerHost, or set EachHost to keep one
// pause per host. A pause is also handed on to Next when Next is a Pauser
// (a FileLimiter or RedisLimiter), so that other processes sharing it hold
// back too.
//
// A pause is checked before Next is waited on and again after: a request
// that Next admits while a pause is in force gives its admission back and
// queues again when the pause ends, so a pause neither lets requests out
// nor piles admitted requests up behind it (which would break Next's
// window when it ends).
//
// The zero value is a Gate over Unlimited with nothing paused. Set the
// fields before the first use. A Gate is safe for concurrent use.
type Gate struct {
	// Next is waited on once no pause holds the request back.
	// Default: Unlimited.
	Next Limiter
	// EachHost keeps a separate pause for every host (the host given to
	// Reserve), for a Gate in front of unrelated servers.
	// Default: false, one pause for everything.
	EachHost bool
	// Logger receives a warning for every pause that starts or grows.
	// Default: discarded.
	Logger *slog.Logger
	// Now replaces time.Now, for tests. Pauses still end on real timers.
	Now func() time.Time

	mu      sync.Mutex
	pauses  map[string]pauseEntry
	changed chan struct{} // closed when a pause starts or grows
	stats   gateCounters
}

type pauseEntry struct {
	until  time.Time
	reason string
}

type gateCounters struct {
	pauses   int64
	reasons  map[string]int64
	waits    int64
	waitTime time.Duration
}

// GateStats counts what a Gate did since it was made.
type GateStats struct {
	// Pauses is the number of Pause calls that started or extended a pause.
	Pauses int64
	// Reasons counts those pauses by their reason.
	Reasons map[string]int64
	// Waits is the number of requests a pause held back.
	Waits int64
	// WaitTime is the total time requests spent held back by pauses.
	WaitTime time.Duration
}

var (
	_ Reserver = (*Gate)(nil)
	_ Pauser   = (*Gate)(nil)
)

// NewGate returns a Gate over next (nil means Unlimited).
func NewGate(next Limiter) *Gate { return &Gate{Next: next} }

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Gate) key(host string) string {
	if g.EachHost {
		return Hostname(host)
	}
	return ""
}

// Pause holds back every request through the Gate (with EachHost, every
// request to host) until the given time. It never shortens a pause in
// force. Reason is counted in Stats and logged.
func (g *Gate) Pause(host string, until time.Time, reason string) {
	now := g.now()
	if !until.After(now) {
		return
	}
	k := g.key(host)
	g.mu.Lock()
	if g.pauses == nil {
		g.pauses = make(map[string]pauseEntry)
		g.stats.reasons = make(map[string]int64)
	}
	for h, p := range g.pauses { // forget pauses that ended; bounded by the hosts paused
		if !p.until.After(now) {
			delete(g.pauses, h)
		}
	}
	grew := false
	if p, ok := g.pauses[k]; !ok || until.After(p.until) {
		g.pauses[k] = pauseEntry{until: until, reason: reason}
		g.stats.pauses++
		g.stats.reasons[reason]++
		grew = true
		if g.changed != nil {
			close(g.changed)
			g.changed = nil
		}
	}
	g.mu.Unlock()
	if grew && g.Logger != nil {
		g.Logger.Warn("ratelimit: pausing requests", "host", Hostname(host),
			"for", until.Sub(now).Round(time.Millisecond), "until", until, "reason", reason)
	}
	if pz, ok := g.Next.(Pauser); ok {
		pz.Pause(host, until, reason)
	}
}

// PausedUntil reports when the pause that holds back host's requests ends,
// and why it was set; a zero time when none is in force.
func (g *Gate) PausedUntil(host string) (until time.Time, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pauses[g.key(host)]
	if !p.until.After(g.now()) {
		return time.Time{}, ""
	}
	return p.until, p.reason
}

// Wait is Reserve for a request to no known host, whose admission counts
// from now: with EachHost it obeys only the pauses given for host "".
func (g *Gate) Wait(ctx context.Context) error {
	res, err := g.Reserve(ctx, "")
	if err != nil {
		return err
	}
	res.Arrived()
	return nil
}

// Reserve blocks while a pause holds back requests to host, then waits for
// Next (through Reserve when Next is a Reserver), then checks the pause
// again: a request that was queued in Next when a pause began (a 429 or
// the SEC's block arrived meanwhile) waits it out too instead of going out
// during it. It fails at once, with an error wrapping ErrPaused and
// context.DeadlineExceeded, when the pause ends after the context's
// deadline, and returns ctx.Err() when the context ends while it waits.
func (g *Gate) Reserve(ctx context.Context, host string) (Reservation, error) {
	for {
		if err := g.waitPause(ctx, host); err != nil {
			return nil, err
		}
		if g.Next == nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return noReservation{}, nil
		}
		res, err := reserve(ctx, g.Next, host)
		if err != nil {
			return nil, err
		}
		if !g.paused(host) {
			return res, nil
		}
		// A pause began while the request was queued in Next. It gives its
		// admission back (counted as a start now, which the pause outlasts)
		// and queues again once the pause is over: going out now would
		// ignore the pause, and holding the admission through it would
		// pile requests up for the moment it ends.
		res.Cancel()
	}
}

// paused reports whether a pause holds back requests to host now.
func (g *Gate) paused(host string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pauses[g.key(host)].until.After(g.now())
}

// waitPause blocks while a pause holds back requests to host.
func (g *Gate) waitPause(ctx context.Context, host string) error {
	var start time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		g.mu.Lock()
		p := g.pauses[g.key(host)]
		now := g.now()
		if !p.until.After(now) {
			g.mu.Unlock()
			break
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		changed := g.changed
		g.mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
		d := p.until.Sub(now)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			g.addWait(start)
			return fmt.Errorf("%w until %s (%s), past the request's deadline: %w",
				ErrPaused, p.until.Format(time.RFC3339), p.reason, context.DeadlineExceeded)
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
			g.addWait(start)
			return ctx.Err()
		}
	}
	if !start.IsZero() {
		g.addWait(start)
	}
	return nil
}

func (g *Gate) addWait(start time.Time) {
	g.mu.Lock()
	g.stats.waits++
	g.stats.waitTime += time.Since(start)
	g.mu.Unlock()
}

// Stats returns what the Gate did since it was made.
func (g *Gate) Stats() GateStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GateStats{
		Pauses:   g.stats.pauses,
		Reasons:  maps.Clone(g.stats.reasons),
		Waits:    g.stats.waits,
		WaitTime: g.stats.waitTime,
	}
}
