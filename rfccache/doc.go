// Package rfccache is the RFC 9111 cache stage of throttlecache: an
// http.RoundTripper that caches like a private HTTP cache, on files
// (httpcachestore), S3 (s3store) or any github.com/gregjones/httpcache
// Cache, with the user's rules overriding servers that cannot be trusted.
// It is the RFC 9111 policy over the engine FileCache shares.
//
//	store, err := httpcachestore.New("cache")
//	if err != nil { … }
//	tr, err := rfccache.New(nil, store, rfccache.Options{Rules: rules.MustCompile(rules.EDGAR)})
//	if err != nil { … }
//	client := &http.Client{Transport: tr}
//	resp, err := client.Get("https://data.sec.gov/submissions/CIK0000320193.json")
//	// X-Cache is MISS the first time, HIT for 10 minutes after.
//
// It keeps httpcache's storage contract but not its Transport, which
// buffers bodies, ignores Age, stores any status and credentialed
// responses under the bare URL, and coalesces nothing.
//
// Only GET responses are stored: with a rule, a 200 or 203 whatever its
// headers, fresh for the rule's MaxAge (0: never stored); otherwise what
// RFC 9111 §3 lets a private cache store, fresh for §4.2's lifetime
// (max-age, Expires minus Date, or 10% of the time since Last-Modified)
// less its age (Age, Date and the request's delay). Invalid dates are
// already expired. Request directives are honoured (no-cache, Pragma,
// max-age, min-fresh, max-stale, only-if-cached); a request's own
// validators are answered from a fresh entry (§4.3.2); Range, If-Match,
// If-Unmodified-Since and If-Range bypass. A stale entry is revalidated,
// and a 304 replaces its fields but the body's (§3.2). A stale entry
// answers an origin failure within stale-if-error or with
// Options.StaleIfError, and within stale-while-revalidate (RFC 5861) is
// served while one background request revalidates it, unless
// must-revalidate, proxy-revalidate, no-cache or s-maxage forbid it.
//
// Not done, on purpose: Range and 206 pass through; Set-Cookie is never
// stored (a shared store must not hand one request's session to another);
// field-named no-cache and private are read as unqualified; HEAD does not
// freshen (§4.3.5); s-maxage gives no freshness.
//
// Credentials and an explicit Accept-Encoding select entries of their own
// (an HMAC under a secret in the store); Vary variants live side by side,
// the 8 most recent per URL; Vary: * is never stored. An unsafe method
// that succeeded removes every variant of its URL and of its same-origin
// Location and Content-Location (§4.4). httpcachestore and s3store stream;
// any other httpcache.Cache holds whole values (Options.MaxBodyBytes,
// default 32 MiB), one per URL. Concurrent requests for one missing or
// stale entry make one origin request.
package rfccache
