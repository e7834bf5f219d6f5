// Package httpcachestore is a file-system [httpcache.Cache]: the store of the
// RFCFile cache mode, usable with github.com/gregjones/httpcache's Transport
// or with this module's rfccache stage.
//
//	store, err := httpcachestore.New("cache")
//	if err != nil {
//		return err
//	}
//	tr, err := rfccache.New(nil, store, rfccache.Options{})
//	// or: tr := httpcache.NewTransport(store)
//
// It is the httpcache face of the file store that FileCache uses too (one
// layout, one durability rule, one eviction; see internal/filestore). The
// rfccache stage does not go through Get and Set: it streams entries
// through [Store.CacheStore], in the readable layout, a folder per host
// then the URL path, the body exactly as received beside a JSON sidecar,
// and never holds a body in memory. Values given to Set are entries
// too, in a folder "%kv" no URL's entry can be in, named after the key's
// SHA-256, so that no key can make the store read or write outside its
// folder.
//
// Writes go to a temporary file that is synced and renamed into place, its
// sidecar (size, checksum, file identity) written last; readers in any
// process see the old value, the new one or none, and a value whose file
// does not match its sidecar is a miss, counted in [Stats].Corrupt and
// removed. Set takes the entry's lock, shared with other processes, so
// concurrent writers of one key never interleave. The [httpcache.Cache]
// interface returns no errors: a failing disk is a miss or a dropped
// write, logged on the Logger and counted in [Stats].Errors. [WithMaxBytes]
// caps the folder: the least recently used entries are removed in the
// background until it is under 90% of the cap.
package httpcachestore
