// Package rfccache is the RFC 9111 cache stage of throttlecache: an
// http.RoundTripper that caches like a private HTTP cache, on any
// github.com/gregjones/httpcache Cache (httpcachestore for files, s3store for
// S3, httpcache.MemoryCache), with the user's rules overriding what servers
// say where their headers cannot be trusted.
//
//	store, err := httpcachestore.New("cache")
//	if err != nil {
//		return err
//	}
//	m, err := rules.Compile(rules.EDGAR)
//	if err != nil {
//		return err
//	}
//	tr, err := rfccache.New(nil, store, rfccache.Options{Rules: m})
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: tr}
//	resp, err := client.Get("https://data.sec.gov/submissions/CIK0000320193.json")
//	// resp.Header.Get("X-Cache") is MISS the first time, HIT for 10 minutes after.
//
// # Why not httpcache.Transport
//
// The stage keeps httpcache's storage contract (the Cache interface, so its
// stores and ours are interchangeable) but not its Transport, because each
// of the faults this stage must not have sits inside that Transport's
// RoundTrip, where no stage above or below can reach:
//
//   - it buffers every cacheable body in full (cachingReadCloser) before any
//     hook runs, so memory cannot be bounded from outside;
//   - its freshness (getFreshness) ignores Age, matches directive names
//     case-sensitively, splits quoted values on "=", and reads a package
//     clock that cannot be replaced, so rules applied at read time and a
//     test clock would both need to rewrite every stored response on the
//     way in and out;
//   - it stores any status and every Authorization response under the bare
//     URL, treats "Vary: *" as matching, and invalidates "POST url" instead
//     of the GET entry;
//   - it has no request coalescing, and marks revalidated and stale answers
//     alike (X-From-Cache), so X-Cache could not tell HIT from REVALIDATED.
//
// Wrapping it would mean lying to it in both directions; this package
// implements the cache logic directly instead, small and tested point by
// point, and benchmarks itself against httpcache.Transport.
//
// # What is stored
//
// Only GET responses are stored. A response is stored when a rule matches
// its URL and its status is 200 or 203 (whatever its headers say, no-store
// included), or, without a rule, when RFC 9111 §3 allows it: a final status
// this cache understands (never 206, 304 or an unknown code), no no-store,
// and either a status cacheable by default (200, 203, 204, 300, 301, 308,
// 404, 405, 410, 414, 501) or explicit freshness (max-age, Expires, public).
// A response with Vary: * is never stored. A rule of 0 means never stored:
// such requests bypass the cache. Hop-by-hop fields and Set-Cookie are not
// stored: a cache shared by processes must not replay a session cookie.
//
// # Memory
//
// When the cache is a [StreamCache], as httpcachestore's Store is, no body is
// held in memory: a storable response is written to the store as the caller
// reads it, and committed only when it arrived complete (its full
// Content-Length, or the end of a framed body of unknown length); a hit
// streams the stored value, which the store checked whole before the first
// byte, and which this stage checks again against the entry's own checksum
// as it goes. Requests that waited on the fetch open the committed entry.
// Options.MaxBodyBytes then only bounds the size of an entry (default
// 4 GiB).
//
// Other caches (s3store, httpcache.MemoryCache) store and return []byte: a
// body is then held whole in memory to be stored and on every hit, so bodies
// above Options.MaxBodyBytes (default 32 MiB), or of unknown length once
// they grow past it, stream through unstored. Either way a body of any size
// costs a bounded amount of memory.
//
// # Freshness
//
// Rules are looked up on every request, so a changed rule applies to entries
// already stored: with a rule, an entry is fresh for MaxAge after it was
// fetched or last revalidated, and [rules.Forever] is never revalidated.
// Without one, freshness follows RFC 9111 §4.2: max-age, else Expires minus
// Date, else 10% of the time since Last-Modified for statuses cacheable by
// default; the current age counts the Age header, the request's delay and
// the time since. Response no-cache forces revalidation, must-revalidate
// forbids serving stale. Request directives are honoured: no-store and
// no-cache (and Pragma: no-cache), max-age, min-fresh, max-stale,
// only-if-cached (a 504 when nothing fresh is stored) and stale-if-error.
// Requests with Range or their own conditional fields bypass the cache.
//
// A stale entry is revalidated with If-None-Match and If-Modified-Since; a
// 304 updates the stored fields (RFC 9111 §3.2) and answers REVALIDATED.
// When the origin fails (no response, or 500, 502, 503, 504) a stale entry
// is served, as STALE, within the entry's or the request's stale-if-error,
// or always with Options.StaleIfError unless the entry says must-revalidate.
//
// # Variants and credentials
//
// Each URL has one entry. It records a hash of the request's credentials
// (Authorization, Cookie, user information in the URL) and Accept-Encoding,
// and a hash of the request's values of the fields its Vary names; it
// answers only requests with the same hashes. A request thus never receives
// a response stored for other credentials or for none, and a request whose
// Vary values differ is a miss whose response replaces the entry. Keying on
// credentials rather than bypassing keeps authenticated APIs cacheable; the
// stored key and entry hold only hashes, never the credentials.
//
// # Invalidation
//
// A request with an unsafe method (anything but GET, HEAD, OPTIONS and
// TRACE) removes the entry of its URL, whatever the response, and the
// entries of the Location and Content-Location of its response when they
// have the same scheme and host (RFC 9111 §4.4).
//
// # Stampedes
//
// Concurrent requests for the same missing or stale entry (same URL and
// credentials) make one origin request (golang.org/x/sync/singleflight):
// the others wait, each until its own context ends, and are answered with
// the entry the first one stored, as HITs (with a StreamCache, each opens
// the committed entry, and fetches again only if it is gone). When the response may not be
// stored, they fetch on their own.
//
// # X-Cache
//
// Every response carries [Header] with one of [Hit], [Miss], [Revalidated],
// [Stale] or [Bypass], the vocabulary of the filecache stage, and
// [Transport.Stats] counts them. A failing store (disk full, S3 down) only
// turns into misses; the stores log and count their own errors.
package rfccache
