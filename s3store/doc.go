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
// Each value is one object named prefix + the SHA-256 of its cache key in
// hex, so keys of any length or content map to valid, fixed-length object
// names. The object carries a CRC-32C of its key and value in its user
// metadata; a value whose length or checksum does not match is a miss.
//
// # Failures
//
// The [httpcache.Cache] interface has no context and returns no errors, so
// every call runs under its own timeout ([WithTimeout]) and a failing S3
// (down, access denied, too slow) is a miss or a dropped write: the error is
// logged on the Logger and counted in [Stats].Errors, and the request that
// needed the cache still goes on to the origin.
//
// A Store is safe for concurrent use, and any number of Stores, in any
// number of processes or machines, may share a bucket and prefix.
package s3store
