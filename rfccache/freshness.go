package rfccache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// cacheableByDefault holds the statuses RFC 9110 §15.1 makes heuristically
// cacheable, less 206: this stage does not store partial content.
var cacheableByDefault = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// ruleStatuses are the statuses a rule's freshness applies to. Other
// statuses of a URL with a rule follow their own headers, so that, say, a
// 404 for a filing not yet published is not kept for ever.
var ruleStatuses = map[int]bool{200: true, 203: true}

// understood reports whether a status is final, known to this cache and
// storable at all: never 1xx, 206 (partial), 304 or an unknown code.
func understood(code int) bool {
	return code >= 200 && code != http.StatusPartialContent && code != http.StatusNotModified &&
		http.StatusText(code) != ""
}

// storableByHeaders reports whether RFC 9111 §3 lets a private cache store
// resp: a final status it understands, no no-store, and either a status
// cacheable by default or explicit freshness (max-age, Expires, public).
func storableByHeaders(resp *http.Response, cc directives) bool {
	if !understood(resp.StatusCode) || cc.has("no-store") {
		return false
	}
	return cacheableByDefault[resp.StatusCode] || cc.has("max-age") || cc.has("public") ||
		len(resp.Header.Values("Expires")) > 0
}

// lifetimeOf returns the freshness lifetime an entry's own headers give it
// (RFC 9111 §4.2.1): max-age, else Expires minus Date, else a heuristic of
// 10% of the time since Last-Modified for statuses cacheable by default.
// s-maxage is for shared caches and is ignored.
func lifetimeOf(m *cache.Meta, cc directives) time.Duration {
	if d, ok := cc.seconds("max-age"); ok {
		return d
	}
	date := dateOf(m)
	if vs := m.Header.Values("Expires"); len(vs) > 0 {
		exp, err := http.ParseTime(vs[0])
		if err != nil {
			return 0 // an invalid Expires means already expired
		}
		return max(exp.Sub(date), 0)
	}
	if lm, err := http.ParseTime(m.Header.Get("Last-Modified")); err == nil && cacheableByDefault[m.Status] {
		return max(date.Sub(lm)/10, 0)
	}
	return 0
}

// dateOf returns the Date of the entry, or the time it was received when it
// has no valid Date (RFC 9110 §6.6.1).
func dateOf(m *cache.Meta) time.Time {
	if d, err := http.ParseTime(m.Header.Get("Date")); err == nil {
		return d
	}
	return m.Fetched
}

// ageOf returns the entry's current age at now (RFC 9111 §4.2.3): the Age the
// origin or upstream caches reported, corrected for the request's delay and
// the clock skew Date shows, plus the time the entry has spent here.
func ageOf(m *cache.Meta, now time.Time) time.Duration {
	apparent := max(m.Fetched.Sub(dateOf(m)), 0)
	var ageValue time.Duration
	if s := strings.TrimSpace(m.Header.Get("Age")); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			ageValue = time.Duration(min(n, 1<<31)) * time.Second
		}
	}
	corrected := ageValue + max(m.Fetched.Sub(m.Requested), 0)
	return max(apparent, corrected) + max(now.Sub(m.Fetched), 0)
}
