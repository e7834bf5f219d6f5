// Package filecache is an http.RoundTripper that keeps responses as plain
// files and decides freshness from [rules] alone, for origins such as SEC
// EDGAR whose headers say nothing useful about caching. It is the
// rules-only policy over throttlecache's one cache engine, which rfccache
// shares: the same downloads, locks, variants, checked hits and files.
//
//	m, err := rules.Compile(rules.EDGAR)
//	if err != nil { … }
//	tr, err := filecache.New(nil, filecache.Options{Dir: "cache", Rules: m})
//	if err != nil { … }
//	defer tr.Close()
//	client := &http.Client{Transport: tr}
//	resp, err := client.Get("https://www.sec.gov/Archives/edgar/data/320193/…/aapl-20230930.htm")
//	// resp.Header.Get("X-Cache") is "MISS" the first time, "HIT" after.
//
// A GET whose URL has a rule with a positive MaxAge is cached, for MaxAge
// after it was fetched or last confirmed, then revalidated with
// If-None-Match and If-Modified-Since ([rules.Forever]: never); a 304 is
// answered from the file as REVALIDATED. Rules are looked up on every
// request, so changing them applies to stored entries. Response headers
// such as Cache-Control and Vary are kept but never consulted. A request's
// own no-cache forces a revalidation; its own If-None-Match or
// If-Modified-Since is answered from a fresh entry (a 304 when it
// matches); no-store and Range requests bypass the cache. Only complete 200 responses are stored; HEAD
// is answered from a fresh entry; POST, PUT, PATCH and DELETE remove every
// variant of the URL's entry, and win over its downloads in progress.
//
// The folder can be browsed: a folder per host, one per path segment, and
// the body exactly as received beside a JSON sidecar:
//
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm@@meta.json
//
// Requests with credentials or their own Accept-Encoding get entries of
// their own (an "@cred-…" or "@ae-…" host folder, an HMAC under a secret
// kept in the folder). A miss is downloaded on a goroutine of its own while
// every reader follows it, so a caller that never reads or closes its body
// stalls nobody, and 200 concurrent requests make one origin request (a
// lock file per entry keeps processes sharing the folder to one too).
// internal/filestore describes the durability rule: a process killed at
// any moment leaves the old entry, the new one or none, never a wrong byte.
// The README has the rest: early closes, full disks, hot small bodies,
// eviction under [Options.MaxBytes], [PruneDir] and [Inspect].
package filecache
