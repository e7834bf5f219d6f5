package httpcachestore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregjones/httpcache"
)

// Store is a file-system [httpcache.Cache] rooted at one folder. Any number
// of Stores, in any number of processes, may share a folder. A Store is safe
// for concurrent use; create one with [New]. The zero value is not usable.
type Store struct {
	dir      string
	maxBytes int64
	log      *slog.Logger

	size    atomic.Int64 // bytes of entries, as last scanned plus this process's writes
	evictMu sync.Mutex
	stats   counters
}

var _ httpcache.Cache = (*Store)(nil)

// Store also streams values ([Store.Open], [Store.Create]), which rfccache
// uses so that no body is held in memory.
var _ interface {
	Open(key string) (io.ReadCloser, int64, bool)
	Create(key string) (EntryWriter, error)
} = (*Store)(nil)

// Option configures a [Store].
type Option func(*Store)

// WithMaxBytes caps the size of the folder's entries. When a write takes the
// folder over n bytes, the least recently used entries are removed until it
// is under 90% of n. Default: 0, no cap.
func WithMaxBytes(n int64) Option {
	return func(s *Store) { s.maxBytes = max(n, 0) }
}

// WithLogger sets the logger that receives a warning for every failed read,
// write or removal and for every damaged file. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// tmpPrefix starts the names of temporary files; tmpMaxAge is the age at
// which scans treat one as left by a dead writer and remove it.
const (
	tmpPrefix = ".tmp-"
	tmpMaxAge = time.Hour
)

// New returns a Store on dir, creating the folder when missing. With
// [WithMaxBytes] it scans the folder once to learn its size.
func New(dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("httpcachestore: dir is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("httpcachestore: dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("httpcachestore: dir %q: %w", dir, err)
	}
	s := &Store{dir: abs, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if s.maxBytes > 0 {
		entries, total, err := s.scan()
		if err != nil {
			return nil, fmt.Errorf("httpcachestore: dir %q: %w", dir, err)
		}
		s.size.Store(total)
		if total > s.maxBytes {
			s.evictFrom(entries, total)
		}
	}
	return s, nil
}

// Dir returns the absolute path of the store's folder.
func (s *Store) Dir() string { return s.dir }

// path returns the shard folder and file name of key.
func (s *Store) path(key string) (shard, file string) {
	sum := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(sum[:])
	shard = filepath.Join(s.dir, name[:2])
	return shard, filepath.Join(shard, name)
}

// Get returns the value stored for key. A missing, unreadable or damaged
// file is a miss; a damaged one is removed.
func (s *Store) Get(key string) ([]byte, bool) {
	shard, p := s.path(key)
	b, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.fail("read", p, err)
		}
		s.stats.misses.Add(1)
		return nil, false
	}
	k, v, err := decode(b)
	if err == nil && k != key {
		err = errKey
	}
	if err != nil {
		s.damaged(shard, p, key, err)
		s.stats.misses.Add(1)
		return nil, false
	}
	if s.maxBytes > 0 {
		// The modification time is the entry's recency for eviction.
		now := time.Now()
		os.Chtimes(p, now, now)
	}
	s.stats.hits.Add(1)
	return v, true
}

// Set stores value for key, replacing any previous value. A failed write is
// logged and counted and leaves the previous value in place.
func (s *Store) Set(key string, value []byte) {
	shard, p := s.path(key)
	if err := os.MkdirAll(shard, 0o755); err != nil {
		s.fail("write", p, err)
		return
	}
	tmp, err := os.CreateTemp(shard, tmpPrefix+"*")
	if err != nil {
		s.fail("write", p, err)
		return
	}
	h := header(key, value)
	_, err = tmp.Write(h[:])
	if err == nil {
		_, err = tmp.WriteString(key)
	}
	if err == nil {
		_, err = tmp.Write(value)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		s.fail("write", p, err)
		return
	}
	size := int64(headerSize + len(key) + len(value))
	var old int64
	err = s.withShardLock(shard, func() error {
		if fi, err := os.Stat(p); err == nil {
			old = fi.Size()
		}
		return os.Rename(tmp.Name(), p)
	})
	if err != nil {
		os.Remove(tmp.Name())
		s.fail("write", p, err)
		return
	}
	s.stats.sets.Add(1)
	if s.maxBytes > 0 && s.size.Add(size-old) > s.maxBytes {
		s.evict()
	}
}

// Delete removes the value stored for key, if any.
func (s *Store) Delete(key string) {
	shard, p := s.path(key)
	err := s.withShardLock(shard, func() error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		s.size.Add(-fi.Size())
		return nil
	})
	switch {
	case err == nil:
		s.stats.deletes.Add(1)
	case errors.Is(err, fs.ErrNotExist):
	default:
		s.fail("delete", p, err)
	}
}

// damaged removes a file found damaged, unless another writer replaced it
// with a good one in the meantime.
func (s *Store) damaged(shard, p, key string, why error) {
	s.stats.corrupt.Add(1)
	s.log.Warn("httpcachestore: damaged entry removed", slog.String("file", p), slog.Any("error", why))
	err := s.withShardLock(shard, func() error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err == nil {
			_, _, err = verify(f, fi.Size(), key)
		}
		f.Close()
		switch {
		case err == nil:
			return nil // replaced meanwhile
		case !damage(err):
			return err
		}
		return os.Remove(p)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.fail("remove damaged", p, err)
	}
}

func (s *Store) fail(op, p string, err error) {
	s.stats.errors.Add(1)
	s.log.Warn("httpcachestore: "+op+" failed", slog.String("file", p), slog.Any("error", err))
}

// Stats counts what a Store did since New.
type Stats struct {
	Hits      int64 // Get calls that returned a value
	Misses    int64 // Get calls that did not (missing, unreadable or damaged)
	Sets      int64 // values written
	Deletes   int64 // values removed by Delete
	Errors    int64 // failed reads, writes and removals
	Corrupt   int64 // damaged files found (and removed)
	Evictions int64 // entries removed to keep under the size cap
}

type counters struct {
	hits, misses, sets, deletes, errors, corrupt, evictions atomic.Int64
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	c := &s.stats
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Sets: c.sets.Load(), Deletes: c.deletes.Load(),
		Errors: c.errors.Load(), Corrupt: c.corrupt.Load(), Evictions: c.evictions.Load(),
	}
}
