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
// than 200 bytes end in a hash.
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
// A miss streams: the body goes to the caller and to a temporary file at
// the same time, and the entry is committed (data synced, renamed into
// place, sidecar written last) when the caller reaches the end of a body
// that arrived complete, matching Content-Length when there was one. A
// caller that closes the body early still gets the entry stored when at most
// 1 MiB remains, read during Close; otherwise the download is dropped and
// nothing is stored. If the file cannot be written (a full disk, say) the
// caller still receives the whole body; the error is logged and counted in
// Stats.StoreErrors. A body with a Content-Length of 1 MiB or more has its
// disk space reserved first, so a disk without room is found out before the
// download, not in the middle. Hits stream from the file, except that the
// body of an entry of at most 64 KiB is kept in memory after its first hit
// (16 MiB in all per Transport) and served from there while the body file
// is still the one its sidecar describes: a hit then costs one stat
// instead of an open, a read and a close, and another process's new
// version or removal of the entry is seen at once.
//
// The file is written by a goroutine of its own, a chunk behind the caller,
// so the caller reads at network speed. A miss's body reads the network in
// chunks of 256 KiB (as much as has arrived) and serves small Read calls
// from the chunk, and it implements io.WriterTo, so io.Copy hands the
// network's bytes to the destination and to the file without copying them
// again. Bodies shorter than 8 MiB are committed before the caller sees
// EOF. A longer body is committed just after: syncing it costs about as
// long as downloading it on a fast network, so the caller goes on while the
// disk catches up (at most four such commits at a time per Transport;
// beyond that the caller waits for its own). Until the commit ends the
// entry stays locked, so a request for the same URL, in this process or
// another, waits for it and is served from it; [Transport.Close] waits for
// every commit. A program that exits without Close may lose that last
// entry, never get a damaged one. Replacing a body of 1 MiB or more moves
// the old file aside and removes it in the background, because freeing it
// during the rename takes as long as a fifth of the download.
//
// Concurrent requests for the same missing or stale entry cause one origin
// request: in a process they wait for it and then read the stored entry;
// across processes a lock file per entry keeps writers apart, and a process
// that waited serves what the other stored. Every wait ends with the
// request's context.
//
// A process killed at any moment leaves the previous entry, the new one or
// none: each sidecar records the size, checksum and identity of the body
// file it describes, and a body that does not match is never served. The
// same check covers a power failure: the body is synced before its sidecar
// exists, and a sidecar lost or torn with the power is a miss.
// Temporary files of dead writers are removed by [New] and by pruning.
//
// # Size
//
// With Options.MaxBytes the least recently used entries are removed in the
// background when the folder grows over the cap; [Transport.Prune] and
// [PruneDir] prune on demand and [Inspect] summarises a folder.
package filecache
