package cache

import (
	"context"
	"errors"
	"io"
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

// String returns k as a relative path: Host, Variant, "/", Path, and
// "@@v-" and Vary when there is one.
func (k Key) String() string {
	s := k.Host + k.Variant + "/" + k.Path
	if k.Vary != "" {
		s += "@@v-" + k.Vary
	}
	return s
}

// URL returns k without its variants: what an invalidation of the URL
// removes every variant of.
func (k Key) URL() Key { return Key{Host: k.Host, Path: k.Path} }

// Errors a [Store] returns. ErrNotFound is a miss, not a failure.
var (
	ErrNotFound    = errors.New("cache: no such entry")
	ErrDamaged     = errors.New("cache: damaged entry")
	ErrInvalidated = errors.New("cache: the URL was invalidated after the download started")
)

// Store keeps entries, each a [Meta] and a body, for a [Transport]. Every
// method runs under its ctx, which bounds remote calls. A Store is safe for
// concurrent use; several Stores, in several processes, may share one
// backing folder or bucket.
//
// The module's stores are the file store (internal/filestore), s3store and
// the []byte adapter of [NewByteStore].
type Store interface {
	// Lookup returns the entry stored at k and its body, open; the body is
	// nil for a Vary marker. It returns ErrNotFound when there is none or
	// the entry is damaged, which the store counts and removes. The body
	// never yields a byte that was not stored: it ends in an error
	// wrapping ErrDamaged instead of io.EOF if the bytes turn out wrong.
	Lookup(ctx context.Context, k Key) (*Meta, io.ReadCloser, error)

	// Create starts a new entry at k for a download whose response m
	// describes: all but CRC32C, with Size the expected length (0 when
	// unknown) and Started the real time the download began.
	Create(ctx context.Context, k Key, m *Meta) (Writer, error)

	// Update replaces the metadata of the entry at k, keeping its body: a
	// 304's new fields and times, or a Vary marker (which has no body).
	Update(ctx context.Context, k Key, m *Meta) error

	// Remove removes the entry at k, if any.
	Remove(ctx context.Context, k Key) error

	// Invalidate removes every entry of u's URL (u has no Variant or
	// Vary): other credentials and encodings, every Vary variant. A
	// download of that URL that started before Invalidate and commits
	// after it fails with ErrInvalidated.
	Invalidate(ctx context.Context, u Key) (removed int, err error)

	// Secret returns the secret that keys credential variants: random,
	// made once per store and shared by every process that uses it.
	Secret(ctx context.Context) ([]byte, error)
}

// Writer is a new entry being written. Writes append to its body; ReadAt
// reads back what was written so far, for the readers that follow the
// download. The Transport writes from one goroutine and reads from many.
type Writer interface {
	io.Writer
	io.ReaderAt
	// Commit makes the body the entry described by m (Size and CRC32C
	// set), atomically: readers see the old entry, the new one or none.
	// The body stays readable through ReadAt until Close.
	Commit(ctx context.Context, m *Meta) error
	// Abort gives the entry up: nothing will be committed. What was
	// written stays readable until Close.
	Abort()
	// Close releases the writer, and removes what was not committed.
	Close() error
}

// Locker is a Store that can lock an entry across processes, so that
// processes sharing the store make one origin request per entry. Lock
// waits until the lock is free or ctx ends; unlock releases it.
type Locker interface {
	Lock(ctx context.Context, k Key) (unlock func(), err error)
}

// Provider is a cache that has a Store: httpcachestore's and s3store's
// Stores are httpcache.Cache values for gregjones/httpcache and provide the
// streaming Store that rfccache uses instead of their Get and Set.
type Provider interface {
	CacheStore() Store
}

// StoreStats are what a Store counts, when it implements
// interface{ Stats() StoreStats }.
type StoreStats struct {
	Errors    int64 // failed reads, writes and removals: the request went on without the cache
	Corrupt   int64 // damaged entries found and removed
	Evictions int64 // entries removed to keep under a size cap
}
