// Package rfccache is the RFC 9111 cache stage of throttlecache: an
// http.RoundTripper that caches like a private HTTP cache on files
// (httpcachestore), S3 (s3store) or any github.com/gregjones/httpcache
// Cache, with the user's rules overriding untrustworthy servers.
//
//	store, err := httpcachestore.New("cache")
//	if err != nil { … }
//	tr, err := rfccache.New(nil, store, rfccache.Options{Rules: rules.MustCompile(rules.EDGAR)})
//	if err != nil { … }
//	client := &http.Client{Transport: tr}
//	resp, err := client.Get("https://data.sec.gov/submissions/CIK0000320193.json")
//	// X-Cache is MISS the first time, HIT for 10 minutes after.
//
// Only GET responses are stored: with a rule, a 200 or 203 is fresh for
// its MaxAge; otherwise RFC 9111 decides what is stored (§3) and for how
// long (§4.2), with request directives, revalidation (§4.3),
// stale-if-error, stale-while-revalidate (RFC 5861) and invalidation by
// unsafe methods (§4.4). Credentials, an explicit Accept-Encoding and Vary
// select entries of their own; concurrent misses make one origin request.
//
// Not done, on purpose (the README has the long form): Range and 206 pass
// through; Set-Cookie is never stored; field-named no-cache and private
// are read as unqualified; HEAD does not freshen; s-maxage gives no freshness.
package rfccache
