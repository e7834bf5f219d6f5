// Package filecache is an http.RoundTripper that keeps responses as plain
// files and decides freshness from [rules] alone, for origins such as SEC
// EDGAR whose headers say nothing useful about caching. It is the
// rules-only policy over the engine rfccache shares.
//
//	m, err := rules.Compile(rules.EDGAR)
//	if err != nil { … }
//	tr, err := filecache.New(nil, filecache.Options{Dir: "cache", Rules: m})
//	if err != nil { … }
//	defer tr.Close()
//	client := &http.Client{Transport: tr}
//
// A GET whose URL has a rule with a positive MaxAge is cached for MaxAge
// after it was fetched or confirmed, then revalidated with If-None-Match
// and If-Modified-Since ([rules.Forever]: never). Response headers are kept
// but never consulted. A request's no-cache forces a revalidation; its own
// validators are answered from a fresh entry; no-store and Range bypass.
// Only complete 200s are stored; POST, PUT, PATCH and DELETE remove every
// variant of the URL and win over its downloads in progress.
//
// The folder can be browsed, the body exactly as received beside a JSON
// sidecar:
//
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm@@meta.json
//
// Credentialed requests and explicit Accept-Encodings get entries of their
// own. A caller that never reads its body stalls nobody, a stampede makes
// one origin request across processes sharing the folder, and a process
// killed at any moment leaves the old entry, the new one or none.
package filecache
