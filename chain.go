package throttlecache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
	"github.com/throttlecache/throttlecache/ratelimit"
)

// headerStage is the outermost stage: it refuses requests after Close, adds
// the User-Agent and default headers, counts requests and cache outcomes, and
// for clients made by Wrap carries their base transport down to the network
// stage through the context.
type headerStage struct {
	m    *Manager
	base http.RoundTripper // nil: the Manager's own base
}

var _ http.RoundTripper = (*headerStage)(nil)

type baseKey struct{}

func (h *headerStage) RoundTrip(req *http.Request) (*http.Response, error) {
	m := h.m
	if m.closed.Load() {
		httpbody.CloseRequest(req)
		return nil, ErrClosed
	}
	m.stats.requests.Add(1)
	if h.base != nil || h.needsHeaders(req) {
		ctx := req.Context()
		if h.base != nil {
			ctx = context.WithValue(ctx, baseKey{}, h.base)
		}
		req = req.Clone(ctx) // never modify the caller's request
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		if m.cfg.UserAgent != "" && req.Header.Get("User-Agent") == "" {
			req.Header.Set("User-Agent", m.cfg.UserAgent)
		}
		for k, vs := range m.cfg.Header {
			if _, ok := req.Header[http.CanonicalHeaderKey(k)]; !ok {
				req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
			}
		}
	}
	resp, err := m.cache.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	m.stats.countCache(resp.Header.Get(CacheStatusHeader))
	return resp, nil
}

func (h *headerStage) needsHeaders(req *http.Request) bool {
	if h.m.cfg.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		return true
	}
	for k := range h.m.cfg.Header {
		if _, ok := req.Header[http.CanonicalHeaderKey(k)]; !ok {
			return true
		}
	}
	return false
}

// bypassStage is the Disabled cache mode: it passes every request through
// and marks the response BYPASS.
type bypassStage struct{ next http.RoundTripper }

func (b *bypassStage) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	cachestatus.Set(resp, CacheBypass)
	return resp, nil
}

// networkStage sends requests that passed the limiter to the base transport
// and counts what comes back.
type networkStage struct {
	base  http.RoundTripper
	stats *counters
}

func (n *networkStage) RoundTrip(req *http.Request) (*http.Response, error) {
	base := n.base
	if b, ok := req.Context().Value(baseKey{}).(http.RoundTripper); ok {
		base = b
	}
	n.stats.network.Add(1)
	resp, err := base.RoundTrip(req)
	if err != nil {
		n.stats.networkErrors.Add(1)
		return nil, err
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	} else if resp.StatusCode != http.StatusSwitchingProtocols {
		// A 101's body is the connection itself; leave it as it is.
		resp.Body = &countingBody{rc: resp.Body, stats: n.stats}
	}
	return resp, nil
}

// countingBody counts the bytes read from a network response body.
type countingBody struct {
	rc    io.ReadCloser
	stats *counters
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.stats.bytes.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }

// measuredLimiter counts the waits of the limiter it wraps.
type measuredLimiter struct {
	l     ratelimit.Limiter
	stats *counters
}

func (l *measuredLimiter) Wait(ctx context.Context) error {
	start := time.Now()
	err := l.l.Wait(ctx)
	d := time.Since(start)
	l.stats.waitTime.Add(int64(d))
	if d >= waitThreshold {
		l.stats.waits.Add(1)
	}
	if err != nil {
		l.stats.limiterErrors.Add(1)
	}
	return err
}

// waitThreshold is how long a Wait must take to count as a wait: a limiter
// that lets a request go at once still spends a little time deciding.
const waitThreshold = time.Millisecond

// boundedLimiter gives a custom limiter Config.MaxWait: the wait runs under a
// timeout, and running out of it is reported as ratelimit.ErrMaxWait.
// Limiters that fail fast on a deadline, as *rate.Limiter does, fail at once.
type boundedLimiter struct {
	l   ratelimit.Limiter
	max time.Duration
}

func (b *boundedLimiter) Wait(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, b.max)
	defer cancel()
	err := b.l.Wait(wctx)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: the limiter did not let the request go within the maximum of %v (%v)",
			ratelimit.ErrMaxWait, b.max, err)
	}
	return err
}

// Pause passes a pause on to the wrapped limiter when it can pause.
func (b *boundedLimiter) Pause(host string, until time.Time, reason string) {
	if p, ok := b.l.(ratelimit.Pauser); ok {
		p.Pause(host, until, reason)
	}
}
