package rfccache

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// cacheableByDefault holds the statuses RFC 9110 §15.1 makes heuristically
// cacheable, less 206: this stage stores no partial content.
var cacheableByDefault = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// ruleStatuses are those a rule's freshness applies to; others follow their
// headers, so that a 404 for a filing not yet published is not kept for ever.
var ruleStatuses = map[int]bool{200: true, 203: true}

// headers is what an entry's own fields say of its freshness.
type headers struct {
	cc       directives
	lifetime time.Duration // RFC 9111 §4.2.1; 0 with no-cache
	initial  time.Duration // corrected initial age (§4.2.3)
	fetched  time.Time
	noStale  bool // must-revalidate, proxy-revalidate, no-cache or s-maxage
}

func (h *headers) age(now time.Time) time.Duration { return h.initial + max(now.Sub(h.fetched), 0) }

// memo keeps the headers of entries a store hands out again and again (the
// file store's are shared and never modified), bounded.
var memo struct {
	sync.Mutex
	m map[*cache.Meta]*headers
}

// ageValue returns the Age of h (RFC 9111 §5.1) as the HTTP cache conformance
// suite reads it: the first member of the first line, without parameters.
func ageValue(h http.Header) time.Duration {
	s, _, _ := strings.Cut(h.Get("Age"), ",")
	s, _, _ = strings.Cut(s, ";")
	return deltaSeconds(strings.TrimSpace(s))
}

// dateLayouts are the three forms of an HTTP date (RFC 9110 §5.6.7).
var dateLayouts = []string{http.TimeFormat, "Monday, 02-Jan-06 15:04:05 GMT", time.ANSIC}

// parseDate parses one HTTP date strictly (a form exactly, GMT the only zone)
// but in any case and whatever its weekday, which the rest makes redundant.
func parseDate(vs []string) (t time.Time, ok bool) {
	if len(vs) != 1 {
		return t, false
	}
	s := vs[0]
	if n := len(s); n > 3 && strings.EqualFold(s[n-3:], "GMT") {
		s = s[:n-3] + "GMT"
	}
	_, rest, _ := strings.Cut(s, " ")
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil && strings.HasSuffix(strings.ToLower(t.Format(layout)), " "+strings.ToLower(rest)) {
			if layout == dateLayouts[1] { // a two-digit year: within 50 years ahead, else the latest past (§5.6.7)
				now := time.Now().Year()
				y := now - now%100 + t.Year()%100
				if y > now+50 {
					y -= 100
				}
				t = t.AddDate(y-t.Year(), 0, 0)
			}
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
	date := m.Fetched // without a valid Date, when it was received (RFC 9110 §6.6.1)
	if d, ok := parseDate(m.Header["Date"]); ok {
		date = d
	}
	// s-maxage is for shared caches: it gives no lifetime, but read
	// conservatively it forbids stale answers here too.
	if d, ok := h.cc.seconds("max-age"); ok {
		h.lifetime = d
	} else if vs := m.Header["Expires"]; len(vs) > 0 {
		if exp, ok := parseDate(vs); ok { // an invalid Expires, or two, is already expired
			h.lifetime = max(exp.Sub(date), 0)
		}
	} else if lm, ok := parseDate(m.Header["Last-Modified"]); ok && cacheableByDefault[m.Status] {
		h.lifetime = max(date.Sub(lm)/10, 0)
	}
	if h.cc.has("no-cache") {
		h.lifetime = 0
	}
	h.noStale = h.cc.has("must-revalidate") || h.cc.has("proxy-revalidate") || h.cc.has("no-cache") || h.cc.has("s-maxage")
	// Corrected for the request's delay and the clock skew Date shows.
	h.initial = max(m.Fetched.Sub(date), ageValue(m.Header)+max(m.Fetched.Sub(m.Requested), 0), 0)
	memo.Lock()
	if memo.m == nil || len(memo.m) >= 4096 {
		memo.m = make(map[*cache.Meta]*headers)
	}
	memo.m[m] = h
	memo.Unlock()
	return h
}
