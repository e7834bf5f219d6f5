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
	"github.com/throttlecache/throttlecache/internal/filestore"
	"github.com/throttlecache/throttlecache/rules"
)

// ErrClosed is returned by RoundTrip after Close.
var ErrClosed = cache.ErrClosed

// Options configures a [Transport].
type Options struct {
	// Dir is the cache folder, created when missing and shared safely by
	// any number of transports and processes. Required.
	Dir string
	// Rules decide which URLs are cached and for how long, looked up on
	// every request. Default (nil): nothing is cached (BYPASS).
	Rules *rules.Matcher
	// MaxBytes caps the folder: past it the least recently used entries
	// are removed in the background, down to 90%. Default (0): no cap.
	MaxBytes int64
	// StaleIfError serves a stale entry (X-Cache: STALE) when the origin
	// answers 5xx or cannot be reached. Default: false.
	StaleIfError bool
	// Logger receives debug lines and store warnings. Default (nil): none.
	Logger *slog.Logger
	// Now is the clock of freshness. Default (nil): time.Now.
	Now func() time.Time

	store filestore.Options // the tests' seams
}

// Transport is an http.RoundTripper that serves GET and HEAD requests from
// files under Options.Dir as Options.Rules say and sends the rest on. It
// is safe for concurrent use; create one with [New].
type Transport struct {
	tr    *cache.Transport
	store *filestore.Store
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that caches responses from next (nil:
// http.DefaultTransport) under opts.Dir, cleaning up after crashed writers.
// A full disk is not an error: requests pass through until there is room.
func New(next http.RoundTripper, opts Options) (*Transport, error) {
	if opts.Dir == "" {
		return nil, errors.New("filecache: Options.Dir is required")
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("filecache: Options.MaxBytes %d is negative", opts.MaxBytes)
	}
	opts.store.MaxBytes, opts.store.Logger = opts.MaxBytes, opts.Logger
	st, err := filestore.New(opts.Dir, opts.store)
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

// RoundTrip implements http.RoundTripper. Every response carries the
// X-Cache header (throttlecache.CacheStatusHeader and its values).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) { return t.tr.RoundTrip(req) }

// Over returns a Transport sharing t's files, downloads and counters that
// sends misses to next (nil: http.DefaultTransport), so that clients with
// different base transports coalesce their misses; closing either closes both.
func (t *Transport) Over(next http.RoundTripper) *Transport {
	return &Transport{tr: t.tr.Over(next), store: t.store}
}

// CloseIdleConnections closes the next stage's idle connections, if any.
func (t *Transport) CloseIdleConnections() { t.tr.CloseIdleConnections() }

// Close gives up downloads nobody reads, waits for the rest and background
// work, and makes later RoundTrips fail with [ErrClosed]. It is idempotent.
func (t *Transport) Close() error {
	t.tr.Close()
	return t.store.Close()
}

// Dir returns the absolute path of the cache folder.
func (t *Transport) Dir() string { return t.store.Dir() }

// Stats counts what a Transport did since New.
type Stats = cache.Stats

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats { return t.tr.Stats() }

// PruneResult, Summary and EntryInfo describe a prune, a folder and an entry.
type (
	PruneResult = filestore.PruneResult
	Summary     = filestore.Summary
	EntryInfo   = filestore.EntryInfo
)

// Prune removes crashed downloads' leftovers and least recently used entries,
// sparing those being written, until the folder holds maxBytes (0: none).
func (t *Transport) Prune(ctx context.Context, maxBytes int64) (PruneResult, error) {
	return t.store.Prune(ctx, maxBytes)
}

// PruneDir is [Transport.Prune] for a folder without a Transport, safe
// while other processes use the folder.
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
		revalidate: cache.DemandsOrigin(req.Header)}, ""
}

func (policy) Vary() bool                                                 { return false }
func (policy) Invalidated(req *http.Request, _ *http.Response) []*url.URL { return []*url.URL{req.URL} }

type request struct {
	maxAge                   time.Duration
	revalidate, staleIfError bool
}

func (r *request) Fresh(m *cache.Meta, now time.Time) bool {
	return !r.revalidate && m.Status == http.StatusOK && now.Sub(m.Fetched) < r.maxAge
}

func (r *request) Stale(m *cache.Meta, _ time.Time, _ *http.Response) bool {
	return r.staleIfError && m.Status == http.StatusOK
}

// Revalidating is false: the rules say when to ask the origin.
func (*request) Revalidating(*cache.Meta, time.Time) bool       { return false }
func (*request) Storable(resp *http.Response) bool              { return resp.StatusCode == http.StatusOK }
func (*request) Shareable(*http.Response) bool                  { return true }
func (*request) OnlyIfCached() bool                             { return false }
func (*request) Age(m *cache.Meta, now time.Time) time.Duration { return max(now.Sub(m.Fetched), 0) }
