// Package s3store is an [httpcache.Cache] on Amazon S3 or any
// S3-compatible server: the store of the RFCS3 cache mode, for
// github.com/gregjones/httpcache's Transport or this module's rfccache.
//
//	client, err := s3store.DefaultClient(ctx) // the default AWS configuration
//	if err != nil {
//		return err
//	}
//	store := s3store.New(client, "my-bucket", "httpcache/")
//	tr, err := rfccache.New(nil, store, rfccache.Options{})
//
// An entry is its body object (prefix + the entry's readable key, as on
// files) and a metadata object beside it ("@@meta.json"), written last,
// that records the body's ETag; the body is read with If-Match on it, so
// it is never served with another response's metadata. Bodies of 64 KiB
// or less travel with the metadata, raw after it in one object (an entry
// stored inside the JSON by an earlier version is a miss, fetched anew).
// A download is spooled to a local
// temporary file that its readers follow. One over 8 MiB goes up in
// parts as it downloads, so that its commit waits only for the last part.
// A hit streams, checked against its CRC-32C. No body is held in memory.
// Metadata read within the last second is used again while its body keeps
// the ETag it records, so a hot entry's hit is one GET.
//
// An invalidation writes a small object under prefix + ".inval/" with the
// time, by its machine's clock, that commits on every machine check: a
// download that started before it is not stored after it. There is one
// per URL ever invalidated; a lifecycle rule may expire them after a day.
//
// Every call runs under its own timeout ([WithTimeout]) and the request's
// context. A failing S3 is a miss or a dropped write, logged and counted
// in [Stats].Errors. A Store is safe for concurrent use, and Stores on
// many machines may share a bucket and prefix.
package s3store
