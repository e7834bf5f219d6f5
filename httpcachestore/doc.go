// Package httpcachestore is a file-system [httpcache.Cache]: the store of
// the RFCFile cache mode, for github.com/gregjones/httpcache's Transport
// or this module's rfccache stage.
//
//	store, err := httpcachestore.New("cache")
//	if err != nil {
//		return err
//	}
//	tr, err := rfccache.New(nil, store, rfccache.Options{})
//	// or: tr := httpcache.NewTransport(store)
//
// It is the httpcache face of the file store FileCache uses. rfccache
// streams entries through [Store.CacheStore] in the readable layout, never
// holding a body in memory; values given to Set are entries in a folder
// "%kv", named after the key's SHA-256. Writes are atomic across
// processes, a damaged value is a miss (counted and removed), and a
// failing disk is a miss or a dropped write, logged and counted.
package httpcachestore
