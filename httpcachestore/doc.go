// Package httpcachestore is a file-system [httpcache.Cache], for
// github.com/gregjones/httpcache's Transport or this module's rfccache
// stage (the RFCFile cache mode).
//
//	store, err := httpcachestore.New("cache")
//	if err != nil {
//		return err
//	}
//	tr, err := rfccache.New(nil, store, rfccache.Options{})
//	// or: tr := httpcache.NewTransport(store)
//
// rfccache streams entries through [Store.CacheStore] in filecache's
// readable layout; values given to Set are files in a folder "%kv", named
// after the key's SHA-256. Writes are atomic across processes; a damaged
// value or failing disk is a miss or a dropped write, logged and counted.
package httpcachestore
