// Package filecache is an http.RoundTripper that keeps responses as plain
// files and decides freshness from [rules] alone, for origins such as SEC
// EDGAR whose headers say nothing useful about caching. It is the
// rules-only freshness policy over throttlecache's one cache engine, which
// the RFC 9111 stage (rfccache) shares: the same downloads, locks,
// variants and checked hits, on the same files.
//
//	m, err := rules.Compile(rules.EDGAR)
//	if err != nil { … }
//	tr, err := filecache.New(nil, filecache.Options{Dir: "cache", Rules: m})
//	if err != nil { … }
//	defer tr.Close()
//	client := &http.Client{Transport: tr}
//	resp, err := client.Get("https://www.sec.gov/Archives/edgar/data/320193/…/aapl-20230930.htm")
//	// resp.Header.Get(filecache.Header) is "MISS" the first time, "HIT" after.
//
// # Freshness
//
// A GET whose URL has a rule with a positive MaxAge is cached. An entry is
// fresh for MaxAge after it was fetched or last confirmed by the origin,
// then revalidated with If-None-Match and If-Modified-Since; [rules.Forever]
// is never revalidated. A 304 makes the entry fresh again and is answered as
// a 200 from the file, with X-Cache: REVALIDATED. Rules are looked up on
// every request, so changing them applies to entries already stored.
// Response headers such as Cache-Control are kept but never consulted. A
// request's own "Cache-Control: no-cache" forces a revalidation and
// "no-store" bypasses the cache; Range and conditional requests bypass it
// too. Only complete 200 responses to GET are stored; HEAD is answered from
// a fresh entry; other methods go to the origin, and POST, PUT, PATCH and
// DELETE remove the URL's entries.
//
// # Layout
//
// The folder can be browsed: a folder per host (with "_port" unless it is
// https on 443), then one folder per path segment, and the body exactly as
// received, in a file named after the last segment with an "@" in front
// (so that /a and /a/b can both be stored) and the query, if any, after a
// second "@". The sidecar beside it, ending in "@@meta.json", holds the URL,
// headers, size, checksum and times.
//
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm@@meta.json
//	cache/www.sec.gov/cgi-bin/@browse-edgar@action=getcompany%26CIK=320193
//	cache/127.0.0.1_8080/@
//
// Characters other than letters, digits and "-._~,+=" are written as %XX,
// so the mapping is one-to-one and never leaves the folder; names longer
// than 200 bytes end in a hash. Path segments are escaped as they travel,
// not decoded first: /a+b and /a%2Bb are different resources and get
// different files.
//
// # Variants
//
// Requests that carry Authorization or Cookie headers (or user
// information in the URL) are cached per credential set: the host folder
// gets an "@cred-…" suffix, an HMAC of the credentials under a secret kept
// in the folder, so a request never receives an entry stored for other
// credentials or for none, and names reveal nothing. Requests with their own
// Accept-Encoding get the bytes exactly as encoded by the origin, in an
// "@ae-…" host folder per Accept-Encoding value; requests without one get
// what Go's transport returns for them (gzip transparently decoded). The two
// never see each other's representation.
//
// # Downloads
//
// A miss is downloaded by a goroutine of its own into a temporary file,
// and every reader of the body, the request that started it included,
// follows that file as it grows. So the download never waits for its
// readers: a caller that reads slowly, stops, or never reads or closes its
// body costs the other requests for the URL nothing, and a request that
// arrives mid-download reads what has arrived and follows the rest, as a
// HIT. The entry is committed (data synced, renamed into place, sidecar
// written last) when the body arrived complete, matching Content-Length
// when there was one. When every reader closed the body early, the
// download goes on and is stored if at most 1 MiB was left to fetch, and is
// given up otherwise; when every reader's context ended, it is given up. If
// the file cannot be written (a full disk, say) the readers still receive
// the whole body, from memory at the pace of the slowest; the error is
// logged and counted in Stats.StoreErrors, and nothing is stored. A body
// with a Content-Length of 1 MiB or more has its disk space reserved first,
// so a disk without room is found out before the download.
//
// Bodies shorter than 8 MiB reach their readers' EOF once committed. A
// longer one reaches EOF at once and is committed after: syncing it costs
// about as long as downloading it on a fast network. Until the commit
// ends, requests for the entry, in this process or another, wait for it or
// follow it, and are served from it; [Transport.Close] waits for every
// commit. A program that exits without Close may lose that last entry,
// never get a damaged one. Replacing a body of 1 MiB or more moves the old
// file aside and removes it in the background, because freeing it during
// the rename takes as long as a fifth of the download. io.Copy from a
// miss's body copies in chunks of 256 KiB ([io.WriterTo]).
//
// Hits stream from the file, except that the body of an entry of at most
// 64 KiB is kept in memory after its first hit (16 MiB in all per folder)
// and served from there while the body file is still the one its sidecar
// describes: a hit then costs a stat or two instead of an open, a read and
// a close, and another process's new version or removal of the entry is
// seen at once.
//
// Concurrent requests for the same missing or stale entry cause one origin
// request: in a process they follow the one download; across processes a
// lock file per entry keeps writers apart, and a process that waited serves
// what the other stored. Every wait ends with the request's context. A
// request that finds the download stalled (no byte for 10 seconds) fetches
// on its own.
//
// A POST, PUT, PATCH or DELETE removes every variant of its URL's entry,
// and wins over every download of the URL that started before it, in this
// process or another: such a download is not stored after it.
//
// A process killed at any moment leaves the previous entry, the new one or
// none: each sidecar records the size, checksum and identity of the body
// file it describes, and a body that does not match is never served as
// complete (one that is another file, a copied folder say, is checked
// against the checksum first). The same check covers a power failure: the
// body is synced before its sidecar exists, and a sidecar lost or torn
// with the power is a miss. Temporary files of dead writers are removed by
// [New] and by pruning.
//
// # Size
//
// With Options.MaxBytes the least recently used entries are removed in the
// background when the folder grows over the cap; [Transport.Prune] and
// [PruneDir] prune on demand and [Inspect] summarises a folder.
package filecache
