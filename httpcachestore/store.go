package httpcachestore

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/filestore"
)

// Store is a file-system [httpcache.Cache] rooted at one folder, which any
// number of Stores in any number of processes may share. It is safe for
// concurrent use; create one with [New], as the zero value is not usable.
type Store struct {
	fs *filestore.Store
	kv cache.KV
}

var _ httpcache.Cache = (*Store)(nil)
var _ cache.Provider = (*Store)(nil)

// Option configures a [Store].
type Option func(*filestore.Options)

// WithMaxBytes caps the folder: a write that takes it over n bytes evicts
// the least recently used entries down to 90% of n. Default: 0, no cap.
func WithMaxBytes(n int64) Option { return func(o *filestore.Options) { o.MaxBytes = max(n, 0) } }

// WithLogger sets the logger warned of every failed read, write or removal
// and every damaged file. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(o *filestore.Options) { o.Logger = l } }

// New returns a Store on dir, creating the folder when missing.
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

// CacheStore returns the streaming store rfccache uses instead of Get and Set.
func (s *Store) CacheStore() cache.Store { return s.fs }

// Close waits for the store's background work (eviction).
func (s *Store) Close() error { return s.fs.Close() }

// Get returns the value stored for key. A missing, unreadable or damaged
// entry is a miss; a damaged one is removed.
func (s *Store) Get(key string) ([]byte, bool) { return s.kv.Get(key) }

// Set stores value for key atomically; a failed write leaves the old one.
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
