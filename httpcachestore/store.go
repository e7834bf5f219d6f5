package httpcachestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/filestore"
)

// Store is a file-system [httpcache.Cache] rooted at one folder. Any number
// of Stores, in any number of processes, may share a folder. A Store is safe
// for concurrent use; create one with [New]. The zero value is not usable.
type Store struct {
	fs    *filestore.Store
	stats struct{ hits, misses, sets, deletes atomic.Int64 }
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
	return &Store{fs: fs}, nil
}

// Dir returns the absolute path of the store's folder.
func (s *Store) Dir() string { return s.fs.Dir() }

// CacheStore returns the streaming store that the rfccache stage uses
// instead of Get and Set: entries in the readable layout of
// internal/filestore, bodies never held in memory.
func (s *Store) CacheStore() cache.Store { return s.fs }

// Close waits for the store's background work (eviction).
func (s *Store) Close() error { return s.fs.Close() }

// kvKey returns the entry that holds the value of an httpcache key: in a
// folder no URL's entry can be in ("%kv"), named after the key's SHA-256,
// so that no key can make the store read or write outside its folder.
func kvKey(key string) cache.Key {
	sum := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(sum[:])
	return cache.Key{Host: "%kv", Path: name[:2] + "/@" + name}
}

// Get returns the value stored for key. A missing, unreadable or damaged
// entry is a miss; a damaged one is removed.
func (s *Store) Get(key string) ([]byte, bool) {
	_, body, err := s.fs.Lookup(context.Background(), kvKey(key))
	if err != nil {
		s.stats.misses.Add(1)
		return nil, false
	}
	defer body.Close()
	v, err := io.ReadAll(body)
	if err != nil {
		s.stats.misses.Add(1)
		return nil, false
	}
	s.stats.hits.Add(1)
	return v, true
}

// Set stores value for key, replacing any previous value, atomically. A
// failed write is logged and counted and leaves the previous value in
// place.
func (s *Store) Set(key string, value []byte) {
	ctx := context.Background()
	k := kvKey(key)
	unlock, err := s.fs.Lock(ctx, k)
	if err != nil {
		return
	}
	defer unlock()
	now := time.Now()
	m := &cache.Meta{Key: k.String(), Status: 200, Fetched: now, Started: now, Size: int64(len(value))}
	w, err := s.fs.Create(ctx, k, m)
	if err != nil {
		return
	}
	defer w.Close()
	if _, err := w.Write(value); err != nil {
		return
	}
	m.SetSum(int64(len(value)), crc32.Checksum(value, cache.Castagnoli))
	if w.Commit(ctx, m) == nil {
		s.stats.sets.Add(1)
	}
}

// Delete removes the value stored for key, if any.
func (s *Store) Delete(key string) {
	if s.fs.Remove(context.Background(), kvKey(key)) == nil {
		s.stats.deletes.Add(1)
	}
}

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
	return Stats{
		Hits: s.stats.hits.Load(), Misses: s.stats.misses.Load(), Sets: s.stats.sets.Load(), Deletes: s.stats.deletes.Load(),
		Errors: fs.Errors, Corrupt: fs.Corrupt, Evictions: fs.Evictions,
	}
}
