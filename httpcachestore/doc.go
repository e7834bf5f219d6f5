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
// # Layout and format
//
// Each key is stored in one file named after the SHA-256 of the key, in a
// folder named after the first two hex digits of that hash:
//
//	cache/3f/3fa2…e1
//
// so no key can make the store read or write outside its folder, and no
// folder grows beyond a few thousand files per million entries. A file starts
// with a fixed header (magic, format version, key length, value length and a
// CRC-32C of the key and value) followed by the key and the value. A file
// whose header, length or checksum does not match is a miss: it is counted in
// [Stats].Corrupt and removed.
//
// # Streaming
//
// Besides Get and Set, which move whole values as []byte, [Store.Open] and
// [Store.Create] stream them, and the rfccache stage uses them so that no
// body is held in memory. Open checks the whole file (header, lengths, key
// and checksum) in one pass holding 64 KiB before it returns, so a damaged
// file is a miss, not a read that fails half-way; the value is then read
// from the start, cheaply, from the page cache. Files of up to 64 KiB are
// read once, whole. Create writes a temporary file whose header is filled
// in by Commit, which renames it into place like Set; Abort removes it.
//
// # Concurrency
//
// A value is written to a temporary file beside its final name and renamed
// into place, and files are never changed in place, so readers in any
// process see the old value, the new one or none, never a partial one, and
// a reader from Open keeps reading the value it checked; a process killed at any moment leaves at most a
// temporary file, which later scans remove once it is old. Writers, deletes
// and the removal of damaged files take a per-shard file lock (gofrs/flock),
// so several processes can share one folder safely; eviction runs in one
// process at a time. A Store is safe for concurrent use.
//
// # Errors and size
//
// The [httpcache.Cache] interface returns no errors: a failing disk is a miss
// or a dropped write, logged on the Logger and counted in [Stats].Errors.
// [WithMaxBytes] caps the folder: when a write takes it over the cap, the
// least recently used entries (reads refresh an entry's modification time)
// are removed until it is under 90% of the cap. Values still being written
// by Create count once committed.
package httpcachestore
