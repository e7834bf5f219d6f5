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
// escaped names (see [KeyFor]), safe as a file path or an object key, and
// different for any two different keys.
type Key struct {
	Host    string // the origin: escaped host name, "_port" unless https on 443
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

// URL returns k without its variants: what an invalidation removes every
// variant of.
func (k Key) URL() Key { return Key{Host: k.Host, Path: k.Path} }

var (
	ErrNotFound    = errors.New("cache: no such entry") // a miss, not a failure
	ErrDamaged     = errors.New("cache: damaged entry")
	ErrInvalidated = errors.New("cache: the URL was invalidated after the download started")
)

// Store keeps entries, each a [Meta] and a body, for a [Transport]. Every
// method runs under its ctx, which bounds remote calls. A Store is safe for
// concurrent use, and Stores in several processes may share one folder or
// bucket. The module's are internal/filestore, s3store and [ByteStore].
type Store interface {
	// Lookup returns the entry at k and its body, open (nil for a Vary
	// marker), or ErrNotFound when there is none or it is damaged (the
	// store counts and removes it). The body never yields a byte that was
	// not stored: it ends in ErrDamaged instead of io.EOF if it must.
	Lookup(ctx context.Context, k Key) (*Meta, io.ReadCloser, error)
	// Create starts a new entry at k for the response m describes (Size
	// is the expected length, 0 when unknown; Started is the real time the
	// download began).
	Create(ctx context.Context, k Key, m *Meta) (Writer, error)
	// Update replaces k's metadata, keeping its body (a 304), or writes a
	// Vary marker in place of the entry.
	Update(ctx context.Context, k Key, m *Meta) error
	// Remove removes the entry at k, if any.
	Remove(ctx context.Context, k Key) error
	// Invalidate removes every entry of u's URL (other credentials,
	// encodings, Vary values). A store that can makes a download of it that
	// started before and commits after fail with ErrInvalidated.
	Invalidate(ctx context.Context, u Key) (removed int, err error)
	// Secret returns the random secret of credential variants, made once
	// and shared by every process using the store.
	Secret(ctx context.Context) ([]byte, error)
}

// Writer is a new entry being written, from one goroutine; ReadAt reads
// back what was written, for the readers that follow the download, from
// any. Commit makes it the entry m describes (Size and CRC32C set),
// atomically; Abort gives it up. Both leave it readable until Close.
type Writer interface {
	io.Writer
	io.ReaderAt
	Commit(ctx context.Context, m *Meta) error
	Abort()
	Close() error
}

// Locker is a Store that locks an entry across processes, so that
// processes sharing it make one origin request per entry. alive (nil:
// always true) reports whether the holder's download still makes
// progress; a lock that is a lease is renewed only while it does, so that
// a stalled leader on another machine holds nobody for longer than that.
type Locker interface {
	Lock(ctx context.Context, k Key, alive func() bool) (unlock func(), err error)
}

// Provider is a cache that has a streaming Store, as httpcachestore's and
// s3store's do; rfccache uses it instead of their Get and Set.
type Provider interface{ CacheStore() Store }

// StoreStats are what a Store counts, when it has a Stats() StoreStats.
type StoreStats struct{ Errors, Corrupt, Evictions int64 }

// Rule is what the rules say of a URL: OK when one matches, and its MaxAge.
type Rule struct {
	MaxAge time.Duration
	OK     bool
}

// A Policy decides freshness; the [Transport] does everything else. The
// module has two: rules only (filecache) and RFC 9111 with rules
// overriding (rfccache).
type Policy interface {
	// Request prepares a GET or HEAD whose URL has rule, or says why it
	// bypasses the cache. Range, conditional fields, no-store and a rule
	// of 0 bypass before it is asked.
	Request(req *http.Request, rule Rule) (r Request, why string)
	// Vary reports whether responses' Vary fields select variants.
	Vary() bool
	// Invalidated returns the URLs an unsafe request changed, given its
	// response (nil when it got none).
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
