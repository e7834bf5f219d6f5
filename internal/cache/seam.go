package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Key names one stored response. Its String form is a relative path of
// escaped names (see [KeyFor]), distinct for distinct keys.
type Key struct {
	Host    string // the origin: escaped host name, then "_port" (http) or "_sport" (https, but on 443)
	Variant string // "" or "@ae-…", "@cred-…": another representation of the URL
	Path    string // the URL's place under its origin: "seg/…/@name[@query]"
	Vary    string // "" or a hash of the request's values of the response's Vary fields
}

func (k Key) String() string {
	s := k.Host + k.Variant + "/" + k.Path
	if k.Vary != "" {
		s += "@@v-" + k.Vary
	}
	return s
}

// URL returns k without its variants.
func (k Key) URL() Key { return Key{Host: k.Host, Path: k.Path} }

var (
	ErrNotFound    = errors.New("cache: no such entry") // a miss, not a failure
	ErrDamaged     = errors.New("cache: damaged entry")
	ErrInvalidated = errors.New("cache: the URL was invalidated after the download started")
)

// Store keeps entries, each a [Meta] and a body. It is safe for concurrent
// use, and Stores in several processes may share a folder or bucket.
type Store interface {
	// Lookup returns the entry at k and its open body (nil for a Vary
	// marker), or ErrNotFound when there is none or it is damaged. The
	// body ends in ErrDamaged rather than io.EOF if it must.
	Lookup(ctx context.Context, k Key) (*Meta, io.ReadCloser, error)
	// Create starts an entry for the response m describes (Size: expected
	// length or 0; Started: when the download began, by the real clock,
	// or zero when no invalidation applies).
	Create(ctx context.Context, k Key, m *Meta) (Writer, error)
	// Update replaces k's metadata, keeping its body (a 304), and returns
	// that body open (nil for a Vary marker, which it writes in place of
	// the entry), so that the answer to a 304 costs no second Lookup;
	// ErrNotFound when the entry is gone. As in Create, an invalidation
	// since m.Started removes the entry where the store can tell, with
	// ErrInvalidated.
	Update(ctx context.Context, k Key, m *Meta) (io.ReadCloser, error)
	Remove(ctx context.Context, k Key) error
	// Invalidate removes every entry of u's URL (every variant); where it
	// can, a download that started before fails its commit with
	// ErrInvalidated.
	Invalidate(ctx context.Context, u Key) (removed int, err error)
	// Secret returns the secret of credential variants, shared by every
	// process using the store.
	Secret(ctx context.Context) ([]byte, error)
}

// Writer is a new entry written from one goroutine and read back (ReadAt)
// from any. Commit makes it the entry m describes, atomically; Abort gives
// it up. Both leave it readable until Close.
type Writer interface {
	io.Writer
	io.ReaderAt
	Commit(ctx context.Context, m *Meta) error
	Abort()
	Close() error
}

// Locker is a Store that locks an entry across processes. A lease is
// renewed only while alive (nil: always) reports progress, so that a
// stalled leader holds nobody for long.
type Locker interface {
	Lock(ctx context.Context, k Key, alive func() bool) (unlock func(), err error)
}

// Provider is an httpcache.Cache with a streaming Store, which rfccache
// uses instead of Get and Set.
type Provider interface{ CacheStore() Store }

// StoreStats are what a Store counts, when it has a Stats() StoreStats.
type StoreStats struct{ Errors, Corrupt, Evictions int64 }

// Rule is what the rules say of a URL: OK when one matches, and its MaxAge.
type Rule struct {
	MaxAge time.Duration
	OK     bool
}

// A Policy decides freshness; the [Transport] does everything else.
type Policy interface {
	// Request prepares a GET or HEAD, or says why it bypasses the cache
	// (Range, no-store and a rule of 0 bypass before it is asked).
	Request(req *http.Request, rule Rule) (r Request, why string)
	Vary() bool // whether Vary selects variants
	// Invalidated returns the URLs an unsafe request changed (resp is nil
	// when it got none).
	Invalidated(req *http.Request, resp *http.Response) []*url.URL
}

// A Request is one cacheable request as its Policy sees it.
type Request interface {
	Fresh(m *Meta, now time.Time) bool                      // m may answer without the origin
	Storable(resp *http.Response) bool                      // resp may be stored
	Shareable(resp *http.Response) bool                     // resp, not stored, may be given to the waiters
	Stale(m *Meta, now time.Time, resp *http.Response) bool // m may answer the origin's failure (resp nil, or a 5xx)
	Revalidating(m *Meta, now time.Time) bool               // stale m may answer now while it is revalidated in the background
	OnlyIfCached() bool                                     // the origin must not be asked
	Age(m *Meta, now time.Time) time.Duration
}
