package rfccache

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/rules"
)

// DefaultMaxBodyBytes is the largest body stored when Options.MaxBodyBytes
// is 0 and the cache holds whole values (a plain httpcache.Cache).
const DefaultMaxBodyBytes = 32 << 20

// DefaultMaxStreamedBodyBytes is its counterpart for a streaming cache
// (httpcachestore, s3store): 5 TiB, S3's largest object.
const DefaultMaxStreamedBodyBytes = 5 << 40

// Options configures a [Transport]. The zero value is valid.
type Options struct {
	// Rules override the origin's headers: with a rule, a 200 or 203 is
	// fresh for its MaxAge ([rules.Forever]: for ever), and a MaxAge of 0
	// is never stored. Default (nil): headers alone decide.
	Rules *rules.Matcher
	// MaxBodyBytes is the largest body stored, and held in memory by a plain
	// httpcache.Cache; larger ones stream through. Default (0):
	// [DefaultMaxBodyBytes], [DefaultMaxStreamedBodyBytes] when streamed.
	MaxBodyBytes int64
	// StaleIfError serves a stale entry (X-Cache: STALE), unless it says
	// must-revalidate, when the origin cannot be reached or answers 500,
	// 502, 503 or 504. Default: false; stale-if-error still applies.
	StaleIfError bool
	// Logger receives debug lines for every request. Default: discarded.
	Logger *slog.Logger
	// Now is the clock for freshness. Default (nil): time.Now.
	Now func() time.Time
}

// Transport is an RFC 9111 private cache as an http.RoundTripper, safe
// for concurrent use; create one with [New].
type Transport struct {
	tr      *cache.Transport
	maxBody int64
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that stores entries in c (required) and sends
// misses to next (nil: http.DefaultTransport). httpcachestore and s3store
// stream; others, such as httpcache.NewMemoryCache(), hold whole values.
func New(next http.RoundTripper, c httpcache.Cache, opts Options) (*Transport, error) {
	if c == nil {
		return nil, errors.New("rfccache: cache is nil; use httpcachestore.New, s3store.New or httpcache.NewMemoryCache")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, errors.New("rfccache: Options.MaxBodyBytes is negative; use 0 for the default")
	}
	var st cache.Store
	maxBody := cmp.Or(opts.MaxBodyBytes, DefaultMaxStreamedBodyBytes)
	if p, ok := c.(cache.Provider); ok {
		st = p.CacheStore()
	} else {
		st, maxBody = cache.NewByteStore(c, opts.Logger), cmp.Or(opts.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	tr, err := cache.New(next, cache.Options{Store: st, Policy: policy{staleIfError: opts.StaleIfError},
		Rules: opts.Rules, MaxBodyBytes: maxBody, Logger: opts.Logger, Now: opts.Now, Name: "rfccache"})
	if err != nil {
		return nil, err
	}
	return &Transport{tr: tr, maxBody: maxBody}, nil
}

// RoundTrip implements http.RoundTripper. Every response carries the
// X-Cache header (throttlecache.CacheStatusHeader and its values).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) { return t.tr.RoundTrip(req) }

// Over returns a Transport sharing t's cache, downloads and counters that
// sends misses to next (nil: http.DefaultTransport); closing either closes both.
func (t *Transport) Over(next http.RoundTripper) *Transport {
	return &Transport{tr: t.tr.Over(next), maxBody: t.maxBody}
}

// CloseIdleConnections closes the next stage's idle connections, if any.
func (t *Transport) CloseIdleConnections() { t.tr.CloseIdleConnections() }

// Close waits for downloads in progress and their commits; later RoundTrips fail.
func (t *Transport) Close() error { return t.tr.Close() }

// Stats counts what a Transport did since New.
type Stats = cache.Stats

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats { return t.tr.Stats() }
