package rfccache

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/rules"
)

// Header is the response header that tells how the cache answered.
const Header = cachestatus.Header

// Values of [Header], the same as the filecache stage's.
const (
	Hit         = cachestatus.Hit         // served from a fresh entry (or from the download another request started)
	Miss        = cachestatus.Miss        // fetched from the origin, and stored when allowed
	Revalidated = cachestatus.Revalidated // the origin answered 304; served from the entry, now fresh again
	Stale       = cachestatus.Stale       // the origin failed; served from a stale entry (stale-if-error)
	Bypass      = cachestatus.Bypass      // not cacheable: passed to the origin untouched, nothing stored
)

// DefaultMaxBodyBytes is the largest body stored when Options.MaxBodyBytes
// is 0 and the cache holds whole values (a plain httpcache.Cache).
const DefaultMaxBodyBytes = 32 << 20

// DefaultMaxStreamedBodyBytes is the largest body stored when
// Options.MaxBodyBytes is 0 and the cache streams (httpcachestore,
// s3store): the bound then only spares the store's space.
const DefaultMaxStreamedBodyBytes = 4 << 30

// Options configures a [Transport]. The zero value is valid.
type Options struct {
	// Rules override the origin's headers: a response to a URL with a rule
	// takes its freshness from the rule (MaxAge, or [rules.Forever]: never
	// revalidated) whatever its Cache-Control, Expires or no-store say, and a
	// rule of 0 means never stored. Rules are looked up on every request, so
	// a changed rule applies to entries already stored. A rule's freshness
	// applies to 200 and 203 responses; other statuses follow their headers.
	// Default (nil): every response follows its own headers (RFC 9111).
	Rules *rules.Matcher

	// MaxBodyBytes is the largest body stored. Larger bodies, and bodies of
	// unknown length once they grow past it, stream to the caller without
	// being stored. A plain httpcache.Cache holds a value whole in memory
	// on every hit, so this also bounds memory per request there; the
	// streaming stores (httpcachestore, s3store) hold no body in memory.
	// Default (0): [DefaultMaxBodyBytes] (32 MiB) for a plain
	// httpcache.Cache, [DefaultMaxStreamedBodyBytes] (4 GiB) for a
	// streaming one.
	MaxBodyBytes int64

	// StaleIfError serves a stale entry, with X-Cache: STALE, when the
	// origin cannot be reached or answers 500, 502, 503 or 504, as if every
	// response carried stale-if-error. Responses that carry stale-if-error
	// get this within its limit whatever this option says. Default: false.
	StaleIfError bool

	// Logger receives debug lines for every request and warnings for damaged
	// entries. Default (nil): nothing is logged.
	Logger *slog.Logger

	// Now is the clock for freshness. Default (nil): time.Now.
	Now func() time.Time
}

// Transport is an RFC 9111 private cache as an http.RoundTripper. It is
// safe for concurrent use; create one with [New].
type Transport struct {
	tr      *cache.Transport
	maxBody int64
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends what the cache cannot answer to next
// (nil: http.DefaultTransport) and stores entries in c, which is required:
// httpcachestore for files, s3store for S3, or any other httpcache.Cache
// such as httpcache.NewMemoryCache(). The module's stores are streamed
// through (see the package doc); other caches hold whole values.
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

// RoundTrip implements http.RoundTripper.
//
// GET requests are answered from a fresh entry, revalidated when the entry
// is stale, and fetched (one origin request per stampede) and stored, when
// allowed, when there is none. HEAD requests are answered from a fresh GET
// entry or passed on. Other methods are passed on and, when unsafe,
// invalidate the URL's entries and the same-origin Location and
// Content-Location. Every response carries [Header].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) { return t.tr.RoundTrip(req) }

// Close waits for downloads in progress and their commits (see
// filecache.Transport.Close); later RoundTrips fail.
func (t *Transport) Close() error { return t.tr.Close() }

// Stats counts what a Transport did since New. Every response carries
// exactly one of Hits, Misses, Revalidated, Stale or Bypass.
type Stats = cache.Stats

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats { return t.tr.Stats() }
