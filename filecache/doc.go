// Package filecache is an http.RoundTripper that keeps responses as plain
// files and decides freshness from [rules] alone, for origins such as SEC
// EDGAR whose headers say nothing useful about caching.
//
//	m, err := rules.Compile(rules.EDGAR)
//	if err != nil { … }
//	tr, err := filecache.New(nil, filecache.Options{Dir: "cache", Rules: m})
//	if err != nil { … }
//	defer tr.Close()
//	client := &http.Client{Transport: tr}
//
// A GET whose URL has a rule is fresh for its MaxAge after it was fetched
// or confirmed, then revalidated; response headers are never consulted.
// Only complete 200s are stored, the body beside a JSON sidecar:
//
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm@@meta.json
//
// A stampede makes one origin request across processes sharing the folder;
// a crash leaves the old entry, the new one or none.
package filecache
