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

// Invalidated returns, when an unsafe request succeeded (RFC 9111 §4.4), its
// URL and its response's same-origin Location and Content-Location.
func (policy) Invalidated(req *http.Request, resp *http.Response) []*url.URL {
	if resp == nil || resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return nil
	}
	out := []*url.URL{req.URL}
	for _, v := range []string{resp.Header.Get("Location"), resp.Header.Get("Content-Location")} {
		if u, err := req.URL.Parse(v); v != "" && err == nil && u.Scheme == req.URL.Scheme && u.Host == req.URL.Host {
			out = append(out, u)
		}
	}
	return out
}

type request struct {
	cc           directives
	rule         cache.Rule
	sie, noCache bool // noCache: no-cache, or Pragma: no-cache without Cache-Control
}

// freshness returns m's freshness lifetime, age, directives and whether it
// may never be served stale: from the rule if any, else its headers (§4.2).
func (r *request) freshness(m *cache.Meta, now time.Time) (lifetime, age time.Duration, respCC directives, noStale bool) {
	if r.rule.OK && ruleStatuses[m.Status] {
		// A rule counts from the fetch or last confirmation, whatever the headers say.
		return r.rule.MaxAge, max(now.Sub(m.Fetched), 0), nil, false
	}
	h := headersOf(m)
	return h.lifetime, h.age(now), h.cc, h.noStale
}

func (r *request) Fresh(m *cache.Meta, now time.Time) bool {
	life, a, _, noStale := r.freshness(m, now)
	if v, ok := r.cc.seconds("max-age"); r.noCache || ok && a > v {
		return false
	}
	minFresh, _ := r.cc.seconds("min-fresh")
	a += minFresh
	maxStale, ok := r.cc["max-stale"]
	return a < life || ok && !noStale && (maxStale == "" || a-life <= deltaSeconds(maxStale))
}

// Storable reports whether a rule applies to resp or RFC 9111 §3 lets a
// private cache store it: a final status but 206 or 304; no no-store,
// unless must-understand and the status is known (§5.2.2.3); and a status
// cacheable by default, or explicit freshness or permission.
func (r *request) Storable(resp *http.Response) bool {
	code := resp.StatusCode
	if r.rule.OK && ruleStatuses[code] {
		return true
	}
	cc := parseCacheControl(resp.Header)
	if mu := cc.has("must-understand"); code < 200 || code == http.StatusPartialContent || code == http.StatusNotModified ||
		mu && http.StatusText(code) == "" || !mu && cc.has("no-store") {
		return false
	}
	return cacheableByDefault[code] || cc.has("max-age") || cc.has("public") || cc.has("private") ||
		len(resp.Header["Expires"]) > 0
}

// Shareable is false: what may not be stored is not handed to others either.
func (*request) Shareable(*http.Response) bool { return false }

// Stale reports whether m may answer an origin failure: within either side's
// stale-if-error or with Options.StaleIfError, unless m forbids stale answers.
func (r *request) Stale(m *cache.Meta, now time.Time, _ *http.Response) bool {
	life, a, respCC, noStale := r.freshness(m, now)
	req, reqOK := r.cc.seconds("stale-if-error")
	resp, respOK := respCC.seconds("stale-if-error")
	return !noStale && (r.sie || reqOK && a-life <= req || respOK && a-life <= resp)
}

func (r *request) OnlyIfCached() bool { return r.cc.has("only-if-cached") }

// Revalidating reports whether stale m may be served while revalidated: within
// its stale-while-revalidate (RFC 5861 §3), unless m forbids stale answers or
// the request wants a fresh one; never under a rule, which says when to ask.
func (r *request) Revalidating(m *cache.Meta, now time.Time) bool {
	life, a, respCC, noStale := r.freshness(m, now)
	v, ok := respCC.seconds("stale-while-revalidate")
	return ok && a-life <= v && !noStale && !r.noCache && !r.cc.has("max-age") && !r.cc.has("min-fresh")
}

func (*request) Age(m *cache.Meta, now time.Time) time.Duration { return headersOf(m).age(now) }
