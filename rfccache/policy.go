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

// Invalidated returns the URL of an unsafe request, and the Location and
// Content-Location of its response when they have the same origin (RFC
// 9111 §4.4). It does so whatever the response, and also when there was
// none: the request may have reached the origin.
func (policy) Invalidated(req *http.Request, resp *http.Response) []*url.URL {
	out := []*url.URL{req.URL}
	if resp == nil {
		return out
	}
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

// freshness returns the freshness lifetime and current age of m: from the
// rule when one applies, otherwise from m's own headers (RFC 9111 §4.2).
func (r *request) freshness(m *cache.Meta, now time.Time) (lifetime, age time.Duration, respCC directives) {
	if r.rule.OK && ruleStatuses[m.Status] {
		// A rule counts from when the entry was fetched or last confirmed.
		return r.rule.MaxAge, max(now.Sub(m.Fetched), 0), nil
	}
	h := headersOf(m)
	return h.lifetime, h.age(now), h.cc
}

func (r *request) Fresh(m *cache.Meta, now time.Time) bool {
	life, a, respCC := r.freshness(m, now)
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
	if s, ok := r.cc["max-stale"]; ok && !respCC.has("must-revalidate") && !respCC.has("no-cache") {
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

// Stale reports whether m may answer when the origin failed: within the
// entry's or the request's stale-if-error, or always with
// Options.StaleIfError unless the entry says must-revalidate.
func (r *request) Stale(m *cache.Meta, now time.Time, _ *http.Response) bool {
	life, a, respCC := r.freshness(m, now)
	staleness := a - life
	for _, cc := range []directives{r.cc, respCC} {
		if v, ok := cc.seconds("stale-if-error"); ok && staleness <= v {
			return true
		}
	}
	return r.sie && !respCC.has("must-revalidate")
}

func (r *request) OnlyIfCached() bool { return r.cc.has("only-if-cached") }

func (*request) Age(m *cache.Meta, now time.Time) time.Duration { return headersOf(m).age(now) }
