// Package rfccache is the RFC 9111 cache stage of throttlecache: an
// http.RoundTripper that caches like a private HTTP cache, on files
// (httpcachestore), S3 (s3store) or any github.com/gregjones/httpcache
// Cache, with the user's rules overriding what servers say where their
// headers cannot be trusted. It is the RFC 9111 policy over throttlecache's
// one cache engine, which FileCache shares.
//
//	store, err := httpcachestore.New("cache")
//	if err != nil { … }
//	tr, err := rfccache.New(nil, store, rfccache.Options{Rules: rules.MustCompile(rules.EDGAR)})
//	if err != nil { … }
//	client := &http.Client{Transport: tr}
//	resp, err := client.Get("https://data.sec.gov/submissions/CIK0000320193.json")
//	// resp.Header.Get("X-Cache") is MISS the first time, HIT for 10 minutes after.
//
// It keeps httpcache's storage contract but not its Transport, which
// buffers every body, ignores Age, matches directives case-sensitively,
// stores any status and Authorization responses under the bare URL, treats
// Vary: * as matching and coalesces nothing.
//
// # Storing and freshness
//
// Only GET responses are stored: with a rule for the URL, a 200 or 203
// whatever its headers say, fresh for the rule's MaxAge (a rule of 0 means
// never stored); otherwise what RFC 9111 §3 allows a private cache: a
// final status (never 206, 304), no no-store (unless must-understand and a
// status this cache knows; an unknown status with must-understand is not
// stored), and a status cacheable by default or explicit freshness or
// permission (max-age, Expires, public, private) — so an unknown status
// with max-age is stored, but gets no heuristic freshness. Freshness is
// §4.2's: max-age, Expires minus Date, or 10% of the time since
// Last-Modified for the statuses cacheable by default, with the current
// age counted from Age, Date and the request's delay. Age is read from its
// first line's first member and ignored when it is not a non-negative
// integer (§5.1); a date that is not exactly one HTTP date (RFC 9110
// §5.6.7), or an Expires on two lines, is invalid: already expired.
// Request directives are honoured (no-cache, Pragma, max-age, min-fresh,
// max-stale, only-if-cached). A request's own If-None-Match or
// If-Modified-Since is answered from a fresh entry, with a 304 when it
// matches (§4.3.2), and passed on otherwise; Range, If-Match,
// If-Unmodified-Since and If-Range bypass. A stale entry is revalidated; a 304 replaces every
// stored field but Content-Length, Content-Encoding and Content-Range
// (§3.2), the validators included. When the origin fails, a stale entry is
// served within stale-if-error, or always with Options.StaleIfError, but
// never when must-revalidate, proxy-revalidate, no-cache or s-maxage
// (which implies proxy-revalidate for shared caches, read cautiously here)
// forbid it, nor for max-stale then. Within a response's
// stale-while-revalidate (RFC 5861 §3) a stale entry is served at once,
// X-Cache: STALE, while one background request revalidates it (not when
// the request asks for a fresh answer with no-cache, max-age or
// min-fresh, nor where a rule gives the freshness).
//
// Not done, on purpose: Range requests and 206 responses pass through
// (partial bodies would need their own store and merge logic); Set-Cookie
// is never stored or replayed (a store shared by a user's processes must
// not hand one request's session to another; a hit sets no cookie);
// no-cache and private with field names are read as unqualified (the
// entry is revalidated); freshening by HEAD responses (§4.3.5) is not
// implemented; s-maxage gives no freshness (shared caches only).
//
// # Variants, stores, stampedes
//
// Credentials and an explicit Accept-Encoding select entries of their own
// (an HMAC under a secret kept in the store); a response with Vary is
// stored as a variant of its URL, the 8 most recent side by side; Vary: *
// is never stored. An unsafe method that succeeded (2xx, 3xx) removes every
// variant of its URL and of the same-origin Location and Content-Location
// (§4.4); one that failed or got no answer changes nothing. httpcachestore
// and s3store stream: no body is held in memory. Any other httpcache.Cache
// holds whole values (at most Options.MaxBodyBytes, default 32 MiB) and
// one per URL. Concurrent requests for one missing or stale entry make one
// origin request and follow its download.
package rfccache
