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

// headers is what an entry's own fields say of its freshness, worked out
// once per entry.
type headers struct {
	cc       directives
	lifetime time.Duration // RFC 9111 §4.2.1; 0 with no-cache
	initial  time.Duration // corrected initial age (§4.2.3)
	fetched  time.Time
}

// age returns the entry's current age at now.
func (h *headers) age(now time.Time) time.Duration { return h.initial + max(now.Sub(h.fetched), 0) }

// memo keeps the headers of the entries a store hands out again and again
// (the file store's are shared and never modified), bounded.
var memo struct {
	sync.Mutex
	m map[*cache.Meta]*headers
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
	if d, err := http.ParseTime(m.Header.Get("Date")); err == nil {
		date = d
	}
	// Lifetime: max-age, else Expires minus Date, else 10% of the time
	// since Last-Modified for statuses cacheable by default. s-maxage is
	// for shared caches.
	if d, ok := h.cc.seconds("max-age"); ok {
		h.lifetime = d
	} else if vs := m.Header.Values("Expires"); len(vs) > 0 {
		if exp, err := http.ParseTime(vs[0]); err == nil { // an invalid Expires means already expired
			h.lifetime = max(exp.Sub(date), 0)
		}
	} else if lm, err := http.ParseTime(m.Header.Get("Last-Modified")); err == nil && cacheableByDefault[m.Status] {
		h.lifetime = max(date.Sub(lm)/10, 0)
	}
	if h.cc.has("no-cache") {
		h.lifetime = 0
	}
	// Age: what the origin or upstream caches reported, corrected for the
	// request's delay and the clock skew Date shows.
	var ageValue time.Duration
	if s := strings.TrimSpace(m.Header.Get("Age")); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			ageValue = time.Duration(min(n, 1<<31)) * time.Second
		}
	}
	h.initial = max(m.Fetched.Sub(date), ageValue+max(m.Fetched.Sub(m.Requested), 0), 0)
	memo.Lock()
	if memo.m == nil || len(memo.m) >= 4096 {
		memo.m = make(map[*cache.Meta]*headers)
	}
	memo.m[m] = h
	memo.Unlock()
	return h
}
