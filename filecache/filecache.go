package filecache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/filestore"
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
var ErrClosed = cache.ErrClosed

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

	// Store replaces the file store's test seams (CreateTemp, Reserve);
	// MaxBytes and Logger above win over its own. It is for tests.
	store filestore.Options
}

// Transport is an http.RoundTripper that serves GET and HEAD requests from
// files under Options.Dir, following Options.Rules for freshness, and sends
// everything else to the next RoundTripper.
//
// A Transport is safe for concurrent use; it must be created with [New].
// Several Transports, in one process or many, may share a folder.
type Transport struct {
	tr    *cache.Transport
	store *filestore.Store
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that caches responses from next (nil:
// http.DefaultTransport) under opts.Dir.
//
// New creates the folder (an error names it when it cannot) and removes
// temporary files that crashed or killed processes left behind, sparing
// those a live writer still holds. A full disk is not an error: the
// Transport starts and passes requests through, logging and counting the
// failed writes in Stats.StoreErrors, until there is room.
func New(next http.RoundTripper, opts Options) (*Transport, error) {
	if opts.Dir == "" {
		return nil, errors.New("filecache: Options.Dir is required")
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("filecache: Options.MaxBytes %d is negative", opts.MaxBytes)
	}
	so := opts.store
	so.MaxBytes, so.Logger = opts.MaxBytes, opts.Logger
	st, err := filestore.New(opts.Dir, so)
	if err != nil {
		return nil, fmt.Errorf("filecache: Options.Dir %q is not a writable folder: %w", opts.Dir, err)
	}
	tr, err := cache.New(next, cache.Options{Store: st, Policy: policy{staleIfError: opts.StaleIfError},
		Rules: opts.Rules, Logger: opts.Logger, Now: opts.Now, Name: "filecache"})
	if err != nil {
		return nil, err
	}
	return &Transport{tr: tr, store: st}, nil
}

// RoundTrip implements http.RoundTripper.
//
// GET requests whose URL has a rule with a positive MaxAge are served from
// the cache when fresh, revalidated when stale and fetched and stored when
// missing; HEAD requests are answered from a fresh entry. Other methods go
// to the origin and, when unsafe, remove the URL's entries. Every response
// carries [Header].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) { return t.tr.RoundTrip(req) }

// Close ends downloads still in progress, waits for the commits of those
// that reached their end and for background work, and makes later
// RoundTrips fail with [ErrClosed]. Bodies of hits stay readable. Close is
// idempotent.
func (t *Transport) Close() error {
	t.tr.Close()
	return t.store.Close()
}

// Dir returns the absolute path of the cache folder.
func (t *Transport) Dir() string { return t.store.Dir() }

// Stats counts what a Transport did since New. Every response carries
// exactly one of Hits, Misses, Revalidated, Stale or Bypass.
type Stats = cache.Stats

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats { return t.tr.Stats() }

// PruneResult tells what a prune removed and what is left.
type PruneResult = filestore.PruneResult

// Summary describes a cache folder; EntryInfo one entry.
type (
	Summary   = filestore.Summary
	EntryInfo = filestore.EntryInfo
)

// Prune removes least recently used entries until the folder holds at most
// maxBytes (0 empties it), sparing entries being written, and removes
// leftovers of crashed downloads. An error means the folder could not be
// listed or ctx ended.
func (t *Transport) Prune(ctx context.Context, maxBytes int64) (PruneResult, error) {
	return t.store.Prune(ctx, maxBytes)
}

// PruneDir is [Transport.Prune] for a folder without a Transport, such as a
// command-line tool's: it is safe while other processes use the folder.
func PruneDir(ctx context.Context, dir string, maxBytes int64) (PruneResult, error) {
	return filestore.PruneDir(ctx, dir, maxBytes)
}

// Inspect summarises the cache folder dir without changing it.
func Inspect(dir string) (Summary, error) { return filestore.Inspect(dir) }

// policy is FileCache's: freshness from the rules alone.
type policy struct{ staleIfError bool }

func (p policy) Request(req *http.Request, rule cache.Rule) (cache.Request, string) {
	if !rule.OK {
		return nil, "no rule"
	}
	return &request{maxAge: rule.MaxAge, staleIfError: p.staleIfError,
		revalidate: cache.HasDirective(req.Header, "no-cache") || cache.HasDirective(req.Header, "max-age=0")}, ""
}

func (policy) Vary() bool { return false }

func (policy) Invalidated(req *http.Request, _ *http.Response) []*url.URL { return []*url.URL{req.URL} }

type request struct {
	maxAge       time.Duration
	revalidate   bool
	staleIfError bool
}

func (r *request) Fresh(m *cache.Meta, now time.Time) bool {
	return !r.revalidate && m.Status == http.StatusOK && now.Sub(m.Fetched) < r.maxAge
}

func (*request) Storable(resp *http.Response) bool { return resp.StatusCode == http.StatusOK }

func (*request) Shareable(*http.Response) bool { return true }

func (r *request) Stale(m *cache.Meta, _ time.Time, _ *http.Response) bool {
	return r.staleIfError && m.Status == http.StatusOK
}

func (*request) OnlyIfCached() bool { return false }

func (*request) Age(m *cache.Meta, now time.Time) time.Duration { return max(now.Sub(m.Fetched), 0) }
