package cache

import (
	"net/http"
	"net/url"
	"time"
)

// Rule is what the user's rules say of a URL: OK when a rule matches, and
// its MaxAge (rules.Forever: fresh for ever).
type Rule struct {
	MaxAge time.Duration
	OK     bool
}

// A Policy decides freshness; the [Transport] does everything else. The
// module has two: rules only (filecache) and RFC 9111 with rules overriding
// (rfccache).
type Policy interface {
	// Request prepares a GET or HEAD request whose URL has rule, or says
	// why it must bypass the cache. The Transport has already sent
	// requests with Range, conditional fields, no-store, a rule of 0 or a
	// URL it cannot key around the cache.
	Request(req *http.Request, rule Rule) (r Request, why string)

	// Vary reports whether responses' Vary fields select variants. When
	// false, Vary is kept in the entry but never consulted.
	Vary() bool

	// Invalidated returns the URLs whose entries an unsafe request changed,
	// given its response (nil when it got none).
	Invalidated(req *http.Request, resp *http.Response) []*url.URL
}

// A Request is one cacheable request as its Policy sees it.
type Request interface {
	// Fresh reports whether m may answer the request at now without
	// asking the origin.
	Fresh(m *Meta, now time.Time) bool
	// Storable reports whether resp may be stored.
	Storable(resp *http.Response) bool
	// Shareable reports whether resp, which is not stored, may still be
	// given to the requests that waited for it.
	Shareable(resp *http.Response) bool
	// Stale reports whether m may answer after the origin failed: no
	// response at all (resp nil), or resp, a 5xx.
	Stale(m *Meta, now time.Time, resp *http.Response) bool
	// OnlyIfCached reports whether the request forbids asking the origin.
	OnlyIfCached() bool
	// Age returns the age of m to report at now.
	Age(m *Meta, now time.Time) time.Duration
}
