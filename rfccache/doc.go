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
// never stored); otherwise what RFC 9111 §3 allows a private cache (a
// final status it understands, never 206; no no-store; a status cacheable
// by default or explicit freshness), fresh per §4.2: max-age, Expires minus
// Date, or 10% of the time since Last-Modified, with Age counted. Request
// directives are honoured (no-cache, Pragma, max-age, min-fresh,
// max-stale, only-if-cached), Range and conditional requests bypass. A
// stale entry is revalidated; a 304 updates the stored fields (§3.2). When
// the origin fails, a stale entry is served within stale-if-error, or
// always with Options.StaleIfError unless must-revalidate forbids it.
// Hop-by-hop fields and Set-Cookie are never stored.
//
// # Variants, stores, stampedes
//
// Credentials and an explicit Accept-Encoding select entries of their own
// (an HMAC under a secret kept in the store); a response with Vary is
// stored as a variant of its URL, the 8 most recent side by side; Vary: *
// is never stored. An unsafe method removes every variant of its URL and
// of the same-origin Location and Content-Location (§4.4). httpcachestore
// and s3store stream: no body is held in memory. Any other httpcache.Cache
// holds whole values (at most Options.MaxBodyBytes, default 32 MiB) and
// one per URL. Concurrent requests for one missing or stale entry make one
// origin request and follow its download.
package rfccache
