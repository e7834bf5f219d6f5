package rfccache

import (
	"net/http"
	"net/url"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// policy is RFC 9111's for a private cache, with rules overriding.
type policy struct{ staleIfError bool }

func (p policy) Request(req *http.Request, rule cache.Rule) (cache.Request, string) {
	return &request{cc: parseCacheControl(req.Header), rule: rule, sie: p.staleIfError,
		noCache: cache.HasDirective(req.Header, "no-cache")}, ""
}

func (policy) Vary() bool { return true }

// Invalidated returns, when an unsafe request succeeded (a 2xx or 3xx:
// RFC 9111 §4.4), its URL and the Location and Content-Location of its
// response that have the same origin. A request that failed, or got no
// response, changed nothing the cache can know of.
func (policy) Invalidated(req *http.Request, resp *http.Response) []*url.URL {
	if resp == nil || resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return nil
	}
	out := []*url.URL{req.URL}
	for _, k := range []string{"Location", "Content-Location"} {
		v := resp.Header.Get(k)
		if v == "" {
			continue
		}
		if u, err := req.URL.Parse(v); err == nil && u.Scheme == req.URL.Scheme && u.Host == req.URL.Host {
			out = append(out, u)
		}
	}
	return out
}

// request is a cacheable request with its directives.
type request struct {
	cc      directives
	rule    cache.Rule
	sie     bool
	noCache bool // no-cache, or Pragma: no-cache without Cache-Control
}

// freshness returns the freshness lifetime and current age of m, its
// directives and whether it may never be served stale: from the rule when
// one applies, otherwise from m's own headers (RFC 9111 §4.2).
func (r *request) freshness(m *cache.Meta, now time.Time) (lifetime, age time.Duration, respCC directives, noStale bool) {
	if r.rule.OK && ruleStatuses[m.Status] {
		// A rule counts from when the entry was fetched or last confirmed,
		// whatever the headers say.
		return r.rule.MaxAge, max(now.Sub(m.Fetched), 0), nil, false
	}
	h := headersOf(m)
	return h.lifetime, h.age(now), h.cc, h.noStale
}

func (r *request) Fresh(m *cache.Meta, now time.Time) bool {
	life, a, _, noStale := r.freshness(m, now)
	if r.noCache {
		return false
	}
	if v, ok := r.cc.seconds("max-age"); ok && a > v {
		return false
	}
	if v, ok := r.cc.seconds("min-fresh"); ok {
		a += v
	}
	if a < life {
		return true
	}
	if s, ok := r.cc["max-stale"]; ok && !noStale {
		if s == "" {
			return true
		}
		v, _ := r.cc.seconds("max-stale")
		return a-life <= v
	}
	return false
}

// Storable reports whether resp may be stored: a rule for its URL and
// status, or RFC 9111 §3 on its headers.
func (r *request) Storable(resp *http.Response) bool {
	if r.rule.OK && ruleStatuses[resp.StatusCode] {
		return true
	}
	return storableByHeaders(resp, parseCacheControl(resp.Header))
}

// Shareable is false: a response that may not be stored is not handed to
// other requests either.
func (*request) Shareable(*http.Response) bool { return false }

// Stale reports whether m may answer when the origin failed: never when
// its directives forbid stale answers (must-revalidate, proxy-revalidate,
// no-cache, s-maxage); otherwise within the entry's or the request's
// stale-if-error, or always with Options.StaleIfError.
func (r *request) Stale(m *cache.Meta, now time.Time, _ *http.Response) bool {
	life, a, respCC, noStale := r.freshness(m, now)
	if noStale {
		return false
	}
	staleness := a - life
	for _, cc := range []directives{r.cc, respCC} {
		if v, ok := cc.seconds("stale-if-error"); ok && staleness <= v {
			return true
		}
	}
	return r.sie
}

func (r *request) OnlyIfCached() bool { return r.cc.has("only-if-cached") }

// Revalidating reports whether the stale m may be served at once while it
// is revalidated in the background: within the response's
// stale-while-revalidate (RFC 5861 §3), unless its directives forbid
// stale answers or the request asks for a fresh one (no-cache, max-age).
// An entry whose freshness comes from a rule never is: the rule says when
// to ask the origin.
func (r *request) Revalidating(m *cache.Meta, now time.Time) bool {
	life, a, respCC, noStale := r.freshness(m, now)
	if noStale || r.noCache || r.cc.has("max-age") || r.cc.has("min-fresh") {
		return false
	}
	v, ok := respCC.seconds("stale-while-revalidate")
	return ok && a-life <= v
}

func (*request) Age(m *cache.Meta, now time.Time) time.Duration { return headersOf(m).age(now) }
