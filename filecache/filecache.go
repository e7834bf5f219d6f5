package filecache

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/rules"
)

// Header is the response header that tells how the cache answered.
const Header = cachestatus.Header

// Values of [Header].
const (
	Hit         = cachestatus.Hit         // served from a fresh entry; the origin was not asked
	Miss        = cachestatus.Miss        // fetched from the origin (and stored when it could be)
	Revalidated = cachestatus.Revalidated // the origin answered 304; served from the entry, now fresh again
	Stale       = cachestatus.Stale       // the origin failed; served from a stale entry (Options.StaleIfError)
	Bypass      = cachestatus.Bypass      // not cacheable: passed to the origin untouched, nothing stored
)

// ErrClosed is returned by RoundTrip after Close.
var ErrClosed = errors.New("filecache: transport closed")

// Options configures a [Transport].
type Options struct {
	// Dir is the cache folder, shared safely by any number of transports and
	// processes. It is created when missing. Required.
	Dir string

	// Rules decide which URLs are cached and for how long. They are looked up
	// on every request, so an entry stored under one rule is judged by the
	// rule in force when it is read. Default (nil): nothing is cached and
	// every response is a BYPASS.
	Rules *rules.Matcher

	// MaxBytes caps the folder's size (bodies and sidecars). When a new
	// entry takes it over the cap, the least recently used entries are
	// removed in the background until it is under 90% of the cap. Default
	// (0): no cap.
	MaxBytes int64

	// StaleIfError serves a stale entry, with X-Cache: STALE, when the origin
	// answers 5xx or cannot be reached. Default: false, the error is
	// returned as it came.
	StaleIfError bool

	// Logger receives debug lines for every request and warnings for store
	// errors. Default (nil): nothing is logged.
	Logger *slog.Logger

	// Now is the clock used for freshness. Default (nil): time.Now.
	Now func() time.Time
}

// Transport is an http.RoundTripper that serves GET and HEAD requests from
// files under Options.Dir, following Options.Rules for freshness, and sends
// everything else to the next RoundTripper.
//
// A Transport is safe for concurrent use; it must be created with [New].
// Several Transports, in one process or many, may share a folder.
type Transport struct {
	next         http.RoundTripper
	dir          string
	rules        *rules.Matcher
	maxBytes     int64
	staleIfError bool
	log          *slog.Logger
	now          func() time.Time
	credKey      []byte

	flights flightGroup
	metas   metaCache
	stats   counters

	usage        atomic.Int64 // approximate folder size, kept when maxBytes > 0
	evicting     atomic.Bool
	evictPending atomic.Bool

	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	isShut atomic.Bool    // closed, for the hot path
	wg     sync.WaitGroup // background commits and evictions

	commits chan struct{} // a slot per commit running in the background

	// createTemp opens a new temporary file and reserve reserves disk
	// space for it; tests replace them to simulate a full disk.
	createTemp func(dir, pattern string) (tempFile, error)
	reserve    func(f tempFile, n int64) error

	testHookWait func() // called when a request starts waiting for a flight
}

var _ http.RoundTripper = (*Transport)(nil)

// tempFile is what a download is written to.
type tempFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Stat() (os.FileInfo, error)
	Close() error
	Name() string
}

func createOSTemp(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }

// New returns a Transport that caches responses from next (nil:
// http.DefaultTransport) under opts.Dir.
//
// New creates the folder, checks that it can write there (an error names the
// folder), and removes temporary files that crashed or killed processes left
// behind, sparing those a live writer still holds.
func New(next http.RoundTripper, opts Options) (*Transport, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	if opts.Dir == "" {
		return nil, errors.New("filecache: Options.Dir is required")
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("filecache: Options.MaxBytes %d is negative", opts.MaxBytes)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("filecache: Options.Dir %q: %w", opts.Dir, err)
	}
	if err := prepareDir(dir); err != nil {
		return nil, fmt.Errorf("filecache: Options.Dir %q is not a writable folder: %w", opts.Dir, err)
	}
	key, err := loadKey(dir)
	if err != nil {
		return nil, fmt.Errorf("filecache: Options.Dir %q: %w", opts.Dir, err)
	}
	t := &Transport{
		next:         next,
		dir:          dir,
		rules:        opts.Rules,
		maxBytes:     opts.MaxBytes,
		staleIfError: opts.StaleIfError,
		log:          opts.Logger,
		now:          opts.Now,
		credKey:      key,
		createTemp:   createOSTemp,
		reserve:      preallocate,
		commits:      make(chan struct{}, maxBackgroundCommits),
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	cleanTemps(dir, t.log)
	if t.maxBytes > 0 {
		t.goBackground(func() { t.evict(true) })
	}
	return t, nil
}

// prepareDir creates dir and its private folders and proves it can write.
func prepareDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, tmpDir), filepath.Join(dir, locksDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Join(dir, tmpDir), "probe-*.tmp")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write([]byte("ok"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	os.Remove(name)
	return err
}

// loadKey reads the folder's secret for credential variants, creating it
// once; concurrent creators agree through a hard link that cannot replace.
func loadKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, keyFile)
	for range 3 {
		b, err := os.ReadFile(path)
		if err == nil {
			if len(b) < 32 {
				return nil, fmt.Errorf("%s is damaged: remove it", keyFile)
			}
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		f, err := os.CreateTemp(filepath.Join(dir, tmpDir), "key-*.tmp")
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
			err = os.Link(f.Name(), path)
			if errors.Is(err, fs.ErrExist) {
				err = nil
			}
		}
		os.Remove(f.Name())
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("cannot create %s", keyFile)
}

// goBackground runs f on a goroutine that Close waits for, or right here
// when the Transport is closed.
func (t *Transport) goBackground(f func()) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		f()
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// Close waits for background work (commits of finished downloads,
// eviction) and makes later RoundTrips fail with [ErrClosed]. Bodies already
// returned stay readable. Close is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.isShut.Store(true)
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

func (t *Transport) isClosed() bool { return t.isShut.Load() }

// Dir returns the absolute path of the cache folder.
func (t *Transport) Dir() string { return t.dir }

// Stats counts what a Transport did since New. Every response carries
// exactly one of Hits, Misses, Revalidated, Stale or Bypass.
type Stats struct {
	Hits        int64 // X-Cache: HIT, including requests that waited for another's download
	Misses      int64 // X-Cache: MISS
	Revalidated int64 // X-Cache: REVALIDATED
	Stale       int64 // X-Cache: STALE
	Bypass      int64 // X-Cache: BYPASS
	Coalesced   int64 // requests that waited for another request's download instead of fetching
	Stored      int64 // entries committed
	StoredBytes int64 // body bytes committed
	StoreErrors int64 // downloads that could not be stored (disk full, unwritable folder…)
	Corrupt     int64 // sidecars or bodies found damaged and ignored
	Evictions   int64 // entries removed to keep under MaxBytes
	Invalidated int64 // entries removed because of a POST, PUT, PATCH or DELETE
}

type counters struct {
	status                                               cachestatus.Counters
	coalesced                                            atomic.Int64
	stored, storedBytes, storeErrors, corrupt, evictions atomic.Int64
	invalidated                                          atomic.Int64
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	c := &t.stats
	st := c.status.Load()
	return Stats{
		Hits: st.Hits, Misses: st.Misses, Revalidated: st.Revalidated,
		Stale: st.Stale, Bypass: st.Bypass, Coalesced: c.coalesced.Load(),
		Stored: c.stored.Load(), StoredBytes: c.storedBytes.Load(), StoreErrors: c.storeErrors.Load(),
		Corrupt: c.corrupt.Load(), Evictions: c.evictions.Load(), Invalidated: c.invalidated.Load(),
	}
}

// count records status for a response.
func (t *Transport) count(status string) { t.stats.status.Count(status) }

func (t *Transport) debug(ctx context.Context, msg string, attrs ...slog.Attr) {
	if t.log.Enabled(ctx, slog.LevelDebug) {
		t.log.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
	}
}
