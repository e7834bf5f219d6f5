package rfccache

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// storableByHeaders reports whether RFC 9111 §3 lets a private cache store
// resp: a final status, never 206 (this cache stores no partial content)
// or 304; no no-store, unless must-understand is present and the status
// is one this cache knows (§5.2.2.3), in which case an unknown status is
// not stored; and either a status cacheable by default (heuristic
// freshness) or explicit freshness or permission: max-age, Expires,
// public, private (this cache is private). An unknown status with explicit
// freshness is stored.
func storableByHeaders(resp *http.Response, cc directives) bool {
	code := resp.StatusCode
	if code < 200 || code == http.StatusPartialContent || code == http.StatusNotModified {
		return false
	}
	if cc.has("must-understand") {
		if http.StatusText(code) == "" {
			return false
		}
	} else if cc.has("no-store") {
		return false
	}
	return cacheableByDefault[code] || cc.has("max-age") || cc.has("public") || cc.has("private") ||
		len(resp.Header.Values("Expires")) > 0
}

// headers is what an entry's own fields say of its freshness, worked out
// once per entry.
type headers struct {
	cc       directives
	lifetime time.Duration // RFC 9111 §4.2.1; 0 with no-cache
	initial  time.Duration // corrected initial age (§4.2.3)
	fetched  time.Time
	noStale  bool // never served stale: must-revalidate, proxy-revalidate, no-cache, s-maxage
}

// age returns the entry's current age at now.
func (h *headers) age(now time.Time) time.Duration { return h.initial + max(now.Sub(h.fetched), 0) }

// memo keeps the headers of the entries a store hands out again and again
// (the file store's are shared and never modified), bounded.
var memo struct {
	sync.Mutex
	m map[*cache.Meta]*headers
}

// maxAge is the age beyond which nothing is fresh (RFC 9111 §1.2.2: 2^31
// seconds).
const maxAge = time.Duration(1<<31) * time.Second

// ageValue returns the Age of h (RFC 9111 §5.1) as the HTTP cache
// conformance suite reads it: the first field line, its first member,
// without parameters. A value that is not a non-negative integer (letters,
// a sign, a fraction) is ignored; one of 2^31 seconds or more is the
// largest age there is, stale for any lifetime.
func ageValue(h http.Header) time.Duration {
	vs := h.Values("Age")
	if len(vs) == 0 {
		return 0
	}
	s, _, _ := strings.Cut(vs[0], ",")
	s, _, _ = strings.Cut(s, ";")
	if s = strings.TrimSpace(s); s == "" || strings.Trim(s, "0123456789") != "" {
		return 0
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n < 1<<31 {
		return time.Duration(n) * time.Second
	}
	return maxAge
}

// dateLayouts are the three forms of an HTTP date (RFC 9110 §5.6.7).
var dateLayouts = []string{http.TimeFormat, "Monday, 02-Jan-06 15:04:05 GMT", time.ANSIC}

// parseDate parses an HTTP date strictly: one of the three forms, exactly
// (no extra spaces, two-digit hours, GMT as the only zone), but in any case
// and whatever its weekday. ok is false otherwise, and for more than one
// field line.
func parseDate(vs []string) (t time.Time, ok bool) {
	if len(vs) != 1 {
		return t, false
	}
	s := vs[0]
	if n := len(s); n > 3 && strings.EqualFold(s[n-3:], "GMT") {
		s = s[:n-3] + "GMT"
	}
	for _, layout := range dateLayouts {
		// The weekday is not checked: a wrong one says nothing the rest
		// does not.
		_, rest, _ := strings.Cut(s, " ")
		if t, err := time.Parse(layout, s); err == nil && strings.HasSuffix(strings.ToLower(t.Format(layout)), " "+strings.ToLower(rest)) {
			return t, true
		}
	}
	return t, false
}

func headersOf(m *cache.Meta) *headers {
	memo.Lock()
	h := memo.m[m]
	memo.Unlock()
	if h != nil {
		return h
	}
	h = &headers{cc: parseCacheControl(m.Header), fetched: m.Fetched}
	date := m.Fetched // without a valid Date, the time it was received (RFC 9110 §6.6.1)
	if d, ok := parseDate(m.Header.Values("Date")); ok {
		date = d
	}
	// Lifetime: max-age, else Expires minus Date, else 10% of the time
	// since Last-Modified for statuses cacheable by default. s-maxage is
	// for shared caches.
	if d, ok := h.cc.seconds("max-age"); ok {
		h.lifetime = d
	} else if vs := m.Header.Values("Expires"); len(vs) > 0 {
		if exp, ok := parseDate(vs); ok { // an invalid Expires, or two, means already expired
			h.lifetime = max(exp.Sub(date), 0)
		}
	} else if lm, ok := parseDate(m.Header.Values("Last-Modified")); ok && cacheableByDefault[m.Status] {
		h.lifetime = max(date.Sub(lm)/10, 0)
	}
	if h.cc.has("no-cache") {
		h.lifetime = 0
	}
	// s-maxage implies proxy-revalidate for shared caches; read
	// conservatively, it forbids stale answers here too.
	h.noStale = h.cc.has("must-revalidate") || h.cc.has("proxy-revalidate") || h.cc.has("no-cache") || h.cc.has("s-maxage")
	// Age: what the origin or upstream caches reported, corrected for the
	// request's delay and the clock skew Date shows.
	h.initial = max(m.Fetched.Sub(date), ageValue(m.Header)+max(m.Fetched.Sub(m.Requested), 0), 0)
	memo.Lock()
	if memo.m == nil || len(memo.m) >= 4096 {
		memo.m = make(map[*cache.Meta]*headers)
	}
	memo.m[m] = h
	memo.Unlock()
	return h
}
