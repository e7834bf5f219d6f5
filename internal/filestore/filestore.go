// Package filestore is the [cache.Store] of FileCache and RFCFile: one
// folder, shared by any number of processes, laid out to be browsed (see
// cache.KeyFor), the body exactly as received beside a JSON sidecar.
//
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm
//	cache/www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm@@meta.json
//	cache/.tmp/      downloads in progress
//	cache/.locks/    per-entry lock files
//	cache/.inval/    recent invalidations, one file per URL
//	cache/.key       the secret that keys credential variants
//
// # Durability
//
// One rule for every write: the body goes to a temporary file, is synced
// and renamed into place, and its sidecar (temporary file and rename) is
// written last. The sidecar is not synced: it records the body's size,
// CRC-32C and file identity and is checked against the body when read, so
// a torn sidecar loses the entry, never describes other bytes. A process
// killed at any moment leaves the old entry, the new one or none.
package filestore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// The store's own names: no host starts with ".".
const (
	metaSuffix = "@@meta.json"
	tmpDir     = ".tmp"
	locksDir   = ".locks"
	invalDir   = ".inval"
	keyFile    = ".key"
)

// File is what a download is written to: an *os.File, or a test's stand-in.
type File interface {
	Write(p []byte) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Sync() error
	Stat() (os.FileInfo, error)
	Close() error
	Name() string
}

// Options configures a [Store].
type Options struct {
	// MaxBytes caps the folder: past it the least recently used entries
	// are removed in the background, down to 90%. Processes sharing the
	// folder each count their own commits and measure the folder after
	// committing an eighth of the cap, so it may pass the cap by an eighth
	// per other process until the next measurement. Default (0): no cap.
	MaxBytes int64
	Logger   *slog.Logger // a warning for every failed read or write; default: discarded
	// CreateTemp and Reserve replace os.CreateTemp and the reservation of
	// disk space, for tests of a failing disk. Default: the real ones.
	CreateTemp func(dir, pattern string) (File, error)
	Reserve    func(f File, n int64) error
}

// Store is a [cache.Store] on a folder. It is safe for concurrent use;
// create one with [New].
type Store struct {
	dir      string
	maxBytes int64
	log      *slog.Logger
	create   func(dir, pattern string) (File, error)
	reserve  func(f File, n int64) error
	lease    time.Duration // lockLease; shorter in tests

	heldMu sync.Mutex
	held   map[string]*heldLock // lock path: the locks this Store holds

	metas metaCache
	stats struct{ errors, corrupt, evictions atomic.Int64 }

	usage        atomic.Int64 // approximate folder size, kept when maxBytes > 0
	unmeasured   atomic.Int64 // bytes this process committed since the folder was last measured
	evicting     atomic.Bool
	evictPending atomic.Bool
	bg           sync.WaitGroup
}

var (
	_ cache.Store  = (*Store)(nil)
	_ cache.Locker = (*Store)(nil)
)

// New returns a Store on dir, creating it when missing, and removes what
// crashed writers left. A full disk is not an error: writes fail, logged
// and counted, until there is room.
func New(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("filestore: no folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: abs, maxBytes: opts.MaxBytes, log: opts.Logger, create: opts.CreateTemp, reserve: opts.Reserve,
		lease: lockLease}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.create == nil {
		s.create = func(dir, pattern string) (File, error) { return os.CreateTemp(dir, pattern) }
	}
	if s.reserve == nil {
		s.reserve = preallocate
	}
	if s.maxBytes < 0 {
		return nil, fmt.Errorf("filestore: MaxBytes %d is negative", s.maxBytes)
	}
	for _, d := range []string{abs, filepath.Join(abs, tmpDir), filepath.Join(abs, locksDir), filepath.Join(abs, invalDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := s.probe(); err != nil {
		return nil, err
	}
	cleanTemps(abs, s.log)
	if s.maxBytes > 0 {
		s.background(func() { s.evict(true) })
	}
	return s, nil
}

// probe proves that files can be created in the folder; a full disk
// passes, as a failing store rather than a configuration error.
func (s *Store) probe() error {
	f, err := s.create(filepath.Join(s.dir, tmpDir), "probe-*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("ok"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	os.Remove(f.Name())
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		s.fail("probe", s.dir, err)
		return nil
	}
	return err
}

// Dir returns the absolute path of the folder.
func (s *Store) Dir() string { return s.dir }

// Close waits for background work (evictions, removals).
func (s *Store) Close() error {
	s.bg.Wait()
	return nil
}

func (s *Store) background(f func()) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// Stats returns what the store counted.
func (s *Store) Stats() cache.StoreStats {
	return cache.StoreStats{Errors: s.stats.errors.Load(), Corrupt: s.stats.corrupt.Load(), Evictions: s.stats.evictions.Load()}
}

func (s *Store) fail(op, path string, err error) {
	s.stats.errors.Add(1)
	s.log.Warn("filestore: "+op+" failed", "path", path, "err", err)
}

// paths returns the body and sidecar of k.
func (s *Store) paths(k cache.Key) (body, meta string) { return s.pathsOf(k.String()) }

// pathsOf returns the body and sidecar of the entry key, in one string.
func (s *Store) pathsOf(key string) (body, meta string) {
	meta = s.dir + string(filepath.Separator) + filepath.FromSlash(key) + metaSuffix
	return meta[:len(meta)-len(metaSuffix)], meta
}

// lockBase names k's lock file and starts its temporary files' names, so
// that cleanup can tell whether their writer is alive.
func lockBase(k string) string {
	if i := strings.Index(k, "@@v-"); i >= 0 {
		k = k[:i] // a Vary variant is written under its URL's lock, which the engine takes
	}
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:16])
}

// lockPath is the lock file of the entry key under dir.
func lockPath(dir, key string) string { return filepath.Join(dir, locksDir, lockBase(key)+".lock") }

func (s *Store) lockPath(k string) string { return lockPath(s.dir, k) }

// Secret reads the folder's secret, creating it once; concurrent creators
// agree through a hard link, which cannot replace.
func (s *Store) Secret(context.Context) ([]byte, error) {
	path := filepath.Join(s.dir, keyFile)
	for range 3 {
		b, err := os.ReadFile(path)
		if err == nil {
			if len(b) < 32 {
				return nil, fmt.Errorf("filestore: %s is damaged: remove it", path)
			}
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "key-*.tmp")
		if err != nil {
			return nil, err
		}
		secret := make([]byte, 32)
		rand.Read(secret)
		_, err = f.Write(secret)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			if err = os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
				err = nil
			}
		}
		os.Remove(f.Name())
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("filestore: cannot create %s", path)
}
