package ratelimit

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/throttlecache/throttlecache/rules"
)

// A Pauser stops a limiter from letting requests go for a while, because a
// server asked for it (Retry-After) or blocked the client. Gate, PerHost,
// FileLimiter and RedisLimiter implement it; the retry stage calls it.
type Pauser interface {
	// Pause holds back the requests to host until the given time; reason
	// says why, in a few words, for logs and statistics. A pause never
	// shortens one already in force.
	Pause(host string, until time.Time, reason string)
}

// HostLimit routes the requests whose host matches Pattern to Limiter.
type HostLimit struct {
	// Pattern is a regular expression on the host name, lower-cased and
	// without port (see Hostname). As in the rules package it matches at
	// the start of the host, like Python's re.match: `.*\.sec\.gov`
	// matches "www.sec.gov" but not "sec.gov"; add `$` to anchor the end.
	Pattern string
	// Limiter is shared by every host that matches. Default: Unlimited.
	Limiter Limiter
}

// PerHost is a Limiter that routes each Reserve to the limiter of the
// first HostLimit whose pattern matches the request's host, and to a
// default limiter for every other host and for Wait, which names none. The routed limiters can be of
// any kind: a SlidingWindow, a FileLimiter, a RedisLimiter, a Gate.
//
//	sec, _ := ratelimit.NewSlidingWindow(9, time.Second)
//	other, _ := ratelimit.NewSlidingWindow(50, time.Second)
//	l, err := ratelimit.NewPerHost([]ratelimit.HostLimit{
//		{Pattern: `(.*\.)?sec\.gov$`, Limiter: sec},
//	}, other) // every other host shares 50 per second
//
// Build one with NewPerHost. A PerHost is safe for concurrent use.
type PerHost struct {
	routes []hostRoute
	other  Limiter
}

type hostRoute struct {
	pattern string
	re      *regexp.Regexp
	l       Limiter
}

var (
	_ Reserver = (*PerHost)(nil)
	_ Pauser   = (*PerHost)(nil)
)

// NewPerHost returns a PerHost that tries limits in order and uses other
// (nil means Unlimited) for the hosts none of them matches. It fails when a
// pattern does not compile.
func NewPerHost(limits []HostLimit, other Limiter) (*PerHost, error) {
	p := &PerHost{other: other}
	if p.other == nil {
		p.other = Unlimited()
	}
	for i, hl := range limits {
		re, err := rules.CompilePattern(hl.Pattern)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: host limit %d, pattern %q: %w", i, hl.Pattern, err)
		}
		l := hl.Limiter
		if l == nil {
			l = Unlimited()
		}
		p.routes = append(p.routes, hostRoute{pattern: hl.Pattern, re: re, l: l})
	}
	return p, nil
}

// For returns the limiter that host's requests wait for. host may carry a
// port and capital letters.
func (p *PerHost) For(host string) Limiter {
	h := Hostname(host)
	for i := range p.routes {
		if p.routes[i].re.MatchString(h) {
			return p.routes[i].l
		}
	}
	return p.other
}

// Wait waits for the default limiter: a Wait names no host. The
// rate-limit stage calls Reserve, which routes.
func (p *PerHost) Wait(ctx context.Context) error { return p.other.Wait(ctx) }

// Reserve waits for the limiter of host (through its Reserve when it is a
// Reserver).
func (p *PerHost) Reserve(ctx context.Context, host string) (Reservation, error) {
	return reserve(ctx, p.For(host), host)
}

// Pause pauses the limiter host is routed to, when that limiter is a Pauser
// (a Gate, FileLimiter or RedisLimiter); otherwise it does nothing.
func (p *PerHost) Pause(host string, until time.Time, reason string) {
	if pz, ok := p.For(host).(Pauser); ok {
		pz.Pause(host, until, reason)
	}
}
