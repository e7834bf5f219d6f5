package httpcachestore

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/filestore"
)

// Store is a file-system [httpcache.Cache] rooted at one folder. Any number
// of Stores, in any number of processes, may share a folder. A Store is safe
// for concurrent use; create one with [New]. The zero value is not usable.
type Store struct {
	fs *filestore.Store
	kv cache.KV
}

var (
	_ httpcache.Cache = (*Store)(nil)
	_ cache.Provider  = (*Store)(nil)
)

// Option configures a [Store].
type Option func(*filestore.Options)

// WithMaxBytes caps the size of the folder. When a write takes the folder
// over n bytes, the least recently used entries are removed until it is
// under 90% of n. Default: 0, no cap.
func WithMaxBytes(n int64) Option {
	return func(o *filestore.Options) { o.MaxBytes = max(n, 0) }
}

// WithLogger sets the logger that receives a warning for every failed read,
// write or removal and for every damaged file. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *filestore.Options) { o.Logger = l }
}

// New returns a Store on dir, creating the folder when missing. With
// [WithMaxBytes] it learns the folder's size in the background and evicts
// what is over the cap.
func New(dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("httpcachestore: dir is empty")
	}
	var o filestore.Options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	fs, err := filestore.New(dir, o)
	if err != nil {
		return nil, fmt.Errorf("httpcachestore: dir %q: %w", dir, err)
	}
	return &Store{fs: fs, kv: cache.KV{Store: fs}}, nil
}

// Dir returns the absolute path of the store's folder.
func (s *Store) Dir() string { return s.fs.Dir() }

// CacheStore returns the streaming store that the rfccache stage uses
// instead of Get and Set: entries in the readable layout of
// internal/filestore, bodies never held in memory.
func (s *Store) CacheStore() cache.Store { return s.fs }

// Close waits for the store's background work (eviction).
func (s *Store) Close() error { return s.fs.Close() }

// Get returns the value stored for key. A missing, unreadable or damaged
// entry is a miss; a damaged one is removed.
func (s *Store) Get(key string) ([]byte, bool) { return s.kv.Get(key) }

// Set stores value for key, replacing any previous value, atomically. A
// failed write is logged and counted and leaves the previous value in
// place.
func (s *Store) Set(key string, value []byte) { s.kv.Set(key, value) }

// Delete removes the value stored for key, if any.
func (s *Store) Delete(key string) { s.kv.Delete(key) }

// Stats counts what a Store did since New.
type Stats struct {
	Hits      int64 // Get calls that returned a value
	Misses    int64 // Get calls that did not (missing, unreadable or damaged)
	Sets      int64 // values written
	Deletes   int64 // Delete calls
	Errors    int64 // failed reads, writes and removals, rfccache's included
	Corrupt   int64 // damaged files found (and removed)
	Evictions int64 // entries removed to keep under the size cap
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	fs := s.fs.Stats()
	st := Stats{Errors: fs.Errors, Corrupt: fs.Corrupt, Evictions: fs.Evictions}
	st.Hits, st.Misses, st.Sets, st.Deletes = s.kv.Counts()
	return st
}
