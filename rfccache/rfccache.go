package rfccache

import (
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

// DefaultMaxStreamedBodyBytes is the largest body stored when
// Options.MaxBodyBytes is 0 and the cache streams (httpcachestore,
// s3store): 5 TiB, the largest object S3 takes. Streaming costs no memory
// whatever the size, so the only default bound is the store's own; set
// MaxBodyBytes to spare its space.
const DefaultMaxStreamedBodyBytes = 5 << 40

// Options configures a [Transport]. The zero value is valid.
type Options struct {
	// Rules override the origin's headers: a 200 or 203 for a URL with a
	// rule is fresh for its MaxAge ([rules.Forever]: never revalidated)
	// whatever its Cache-Control, Expires or no-store say, a rule of 0
	// means never stored, and other statuses follow their headers. Rules
	// are looked up on every request. Default (nil): headers alone decide.
	Rules *rules.Matcher
	// MaxBodyBytes is the largest body stored; larger ones, and bodies of
	// unknown length once past it, stream through unstored. A plain
	// httpcache.Cache holds each value whole in memory, so this also bounds
	// memory there. Default (0): [DefaultMaxBodyBytes] for a plain
	// httpcache.Cache, [DefaultMaxStreamedBodyBytes] for httpcachestore and
	// s3store.
	MaxBodyBytes int64
	// StaleIfError serves a stale entry (X-Cache: STALE) when the origin
	// cannot be reached or answers 500, 502, 503 or 504, unless the entry
	// says must-revalidate. Default: false; stale-if-error still applies.
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

// New returns a Transport that sends what the cache cannot answer to next
// (nil: http.DefaultTransport) and stores entries in c, which is required:
// httpcachestore, s3store (streamed through), or any other
// httpcache.Cache such as httpcache.NewMemoryCache() (whole values).
func New(next http.RoundTripper, c httpcache.Cache, opts Options) (*Transport, error) {
	if c == nil {
		return nil, errors.New("rfccache: cache is nil; use httpcachestore.New, s3store.New or httpcache.NewMemoryCache")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, errors.New("rfccache: Options.MaxBodyBytes is negative; use 0 for the default")
	}
	var st cache.Store
	maxBody := int64(DefaultMaxStreamedBodyBytes)
	if p, ok := c.(cache.Provider); ok {
		st = p.CacheStore()
	} else {
		st, maxBody = cache.NewByteStore(c, opts.Logger), DefaultMaxBodyBytes
	}
	if opts.MaxBodyBytes > 0 {
		maxBody = opts.MaxBodyBytes
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

// Over returns a Transport over the same cache (store, downloads in
// progress, counters) that sends what the cache cannot answer to next (nil:
// http.DefaultTransport). Close of either closes both.
func (t *Transport) Over(next http.RoundTripper) *Transport {
	return &Transport{tr: t.tr.Over(next), maxBody: t.maxBody}
}

// CloseIdleConnections closes the idle connections of the next stage, when
// it has any, so that http.Client.CloseIdleConnections reaches the network.
func (t *Transport) CloseIdleConnections() { t.tr.CloseIdleConnections() }

// Close waits for downloads in progress and their commits (see
// filecache.Transport.Close); later RoundTrips fail.
func (t *Transport) Close() error { return t.tr.Close() }

// Stats counts what a Transport did since New.
type Stats = cache.Stats

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats { return t.tr.Stats() }
