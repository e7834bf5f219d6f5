package rfccache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
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

// varyStar reports whether h has Vary: *, which no request ever matches.
func varyStar(h http.Header) bool {
	for _, name := range varyNames(h) {
		if name == "*" {
			return true
		}
	}
	return false
}

// varyNames returns the canonical field names listed in h's Vary.
func varyNames(h http.Header) []string {
	var names []string
	for _, v := range h.Values("Vary") {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				names = append(names, http.CanonicalHeaderKey(part))
			}
		}
	}
	return names
}

// lifetime returns the freshness lifetime an entry's own headers give it
// (RFC 9111 §4.2.1): max-age, else Expires minus Date, else a heuristic of
// 10% of the time since Last-Modified for statuses cacheable by default.
// s-maxage is for shared caches and is ignored.
func (e *entry) lifetime(cc directives) time.Duration {
	if d, ok := cc.seconds("max-age"); ok {
		return d
	}
	date := e.date()
	if vs := e.header.Values("Expires"); len(vs) > 0 {
		exp, err := http.ParseTime(vs[0])
		if err != nil {
			return 0 // an invalid Expires means already expired
		}
		return max(exp.Sub(date), 0)
	}
	if lm, err := http.ParseTime(e.header.Get("Last-Modified")); err == nil && cacheableByDefault[e.status] {
		return max(date.Sub(lm)/10, 0)
	}
	return 0
}

// date returns the Date of the entry, or the time it was received when it
// has no valid Date (RFC 9110 §6.6.1).
func (e *entry) date() time.Time {
	if d, err := http.ParseTime(e.header.Get("Date")); err == nil {
		return d
	}
	return e.respTime
}

// age returns the entry's current age at now (RFC 9111 §4.2.3): the Age the
// origin or upstream caches reported, corrected for the request's delay and
// the clock skew Date shows, plus the time the entry has spent here.
func (e *entry) age(now time.Time) time.Duration {
	apparent := max(e.respTime.Sub(e.date()), 0)
	var ageValue time.Duration
	if s := strings.TrimSpace(e.header.Get("Age")); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			ageValue = time.Duration(min(n, 1<<31)) * time.Second
		}
	}
	corrected := ageValue + max(e.respTime.Sub(e.reqTime), 0)
	return max(apparent, corrected) + max(now.Sub(e.respTime), 0)
}
