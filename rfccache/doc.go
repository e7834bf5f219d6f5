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
//     clock that cannot be replaced;
//   - it stores any status and every Authorization response under the bare
//     URL, treats "Vary: *" as matching, and invalidates "POST url" instead
//     of the GET entry;
//   - it has no request coalescing, and marks revalidated and stale answers
//     alike (X-From-Cache), so X-Cache could not tell HIT from REVALIDATED.
//
// Instead this package is the RFC 9111 freshness policy over throttlecache's
// one cache engine, which FileCache shares: the same downloads, locks,
// variants, checked hits and files.
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
// # Memory and stores
//
// httpcachestore and s3store provide the engine's streaming store
// (cache.Provider): a miss is downloaded into the store on a goroutine of
// its own while every reader follows it, and committed only when it
// arrived complete (its full Content-Length, or the end of a framed body of
// unknown length); a hit streams the stored body, checked against its
// size, checksum and file identity. No body is held in memory, and
// Options.MaxBodyBytes only bounds an entry's size (default 4 GiB).
//
// Any other httpcache.Cache (httpcache.MemoryCache, a user's) stores whole
// values: a download is spooled to a temporary file and Set whole when
// complete, a hit holds its value in memory, so bodies above
// Options.MaxBodyBytes (default 32 MiB), or of unknown length once they
// grow past it, stream through unstored. Such a cache cannot list its keys,
// so it keeps one value per URL: variants replace each other there.
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
// Requests with credentials (Authorization, Cookie, user information in
// the URL) or their own Accept-Encoding get entries of their own, keyed by
// an HMAC under a secret kept in the store, so a request never receives a
// response stored for other credentials or for none, and a shared store
// gives nobody a hash to test guesses against. Keying on credentials rather
// than bypassing keeps authenticated APIs cacheable; the store holds only
// the HMAC, never the credentials. A response with Vary is stored as a
// variant selected by the request's values of the fields it names, beside
// a marker that records the names: several variants of a URL (en and fr,
// say) live side by side, the 8 most recently stored per URL.
//
// # Invalidation
//
// A request with an unsafe method (anything but GET, HEAD, OPTIONS and
// TRACE) removes every entry of its URL (every credential, encoding and
// Vary variant), whatever the response, and those of the Location and
// Content-Location of its response when they have the same scheme and host
// (RFC 9111 §4.4). It wins over every download of the URL that started
// before it: none of them is stored after it.
//
// # Stampedes
//
// Concurrent requests for the same missing or stale entry (same URL and
// variant) make one origin request: the others follow the download as it
// arrives, or are answered from the revalidated entry, as HITs, each
// waiting until its own context ends; across processes on one folder an
// entry lock keeps it to one. When the response may not be stored, they
// fetch on their own at once. A request that never reads or closes its
// body stalls nobody: the download does not depend on its reader.
//
// # X-Cache
//
// Every response carries [Header] with one of [Hit], [Miss], [Revalidated],
// [Stale] or [Bypass], the vocabulary of the filecache stage, and
// [Transport.Stats] counts them. A failing store (disk full, S3 down) only
// turns into misses and dropped writes, logged and counted.
package rfccache
