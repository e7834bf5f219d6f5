// Package s3store is an [httpcache.Cache] on Amazon S3 or any S3-compatible
// server (MinIO, versitygw, Ceph, R2…): the store of the RFCS3 cache mode,
// usable with github.com/gregjones/httpcache's Transport or with this
// module's rfccache stage.
//
//	client, err := s3store.DefaultClient(ctx) // the default AWS configuration
//	if err != nil {
//		return err
//	}
//	store := s3store.New(client, "my-bucket", "httpcache/")
//	tr, err := rfccache.New(nil, store, rfccache.Options{})
//
// For an S3-compatible server, [NewClient] builds a client with static
// credentials and path-style addressing:
//
//	client := s3store.NewClient("http://127.0.0.1:7070", "KEY", "SECRET")
//
// # Objects
//
// An entry is two objects: its body, named prefix + the entry's key (for
// rfccache the readable path of the URL, as on files:
// "www.sec.gov/Archives/…/@aapl-20230930.htm"), exactly as received, and its
// metadata beside it, the same name with "@@meta.json", written last. The
// metadata records the body object's ETag and the body is read with
// If-Match on it, so a body is never served with another response's
// metadata, whatever writers on other machines do; a body of 64 KiB or less
// travels inside its metadata (one GET per hit, one PUT per store). Values
// given to Set are entries named after the SHA-256 of their key, in a
// folder "%kv", so keys of any length or content map to valid names.
//
// rfccache streams through [Store.CacheStore]: a download is spooled to a
// temporary file of the system's, which every reader of it follows, and
// uploaded from there once complete (in parts of 8 MiB or more above
// 8 MiB), then committed with the metadata; a body given up is never
// visible. A hit streams the body object: one of up to 1 MiB is read and
// checked before it is served (a damaged one is a miss), a larger one is
// checked against its CRC-32C as it streams and ends in an error rather
// than io.EOF if it does not match. No body is held in memory.
//
// # Failures
//
// Every call runs under its own timeout ([WithTimeout]), and under the
// request's context where there is one: a hanging S3 costs a request at
// most the sooner of the two, and a body's wait bounds only its first byte.
// A failing S3 (down, access denied, too slow) is a miss or a dropped
// write: the error is logged on the Logger and counted in [Stats].Errors,
// and the request that needed the cache still goes on to the origin.
//
// A Store is safe for concurrent use, and any number of Stores, in any
// number of processes or machines, may share a bucket and prefix.
package s3store
