package rfccache

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregjones/httpcache"
	"golang.org/x/sync/singleflight"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/rules"
)

// Header is the response header that tells how the cache answered.
const Header = cachestatus.Header

// Values of [Header], the same as the filecache stage's.
const (
	Hit         = cachestatus.Hit         // served from a fresh entry (or from the response another request just fetched)
	Miss        = cachestatus.Miss        // fetched from the origin, and stored when allowed
	Revalidated = cachestatus.Revalidated // the origin answered 304; served from the entry, now fresh again
	Stale       = cachestatus.Stale       // the origin failed; served from a stale entry (stale-if-error)
	Bypass      = cachestatus.Bypass      // not cacheable: passed to the origin untouched, nothing stored
)

// DefaultMaxBodyBytes is the largest body stored when Options.MaxBodyBytes
// is 0 and the cache holds values in memory (Get and Set).
const DefaultMaxBodyBytes = 32 << 20

// DefaultMaxStreamedBodyBytes is the largest body stored when
// Options.MaxBodyBytes is 0 and the cache is a [StreamCache], which holds no
// body in memory: the bound then only spares the store's disk.
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
	// being stored. With a cache that stores []byte (Get and Set) a body is
	// held whole in memory to be stored and on every hit, so this also
	// bounds memory per request; with a [StreamCache] (httpcachestore) no
	// body is held in memory and this only bounds the size of an entry.
	// Default (0): [DefaultMaxBodyBytes] (32 MiB) with a []byte cache,
	// [DefaultMaxStreamedBodyBytes] (4 GiB) with a StreamCache.
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

// Transport is an RFC 9111 private cache as an http.RoundTripper, storing
// entries in an [httpcache.Cache], streamed when it is a [StreamCache]. It is
// safe for concurrent use; create one with [New].
type Transport struct {
	next    http.RoundTripper
	cache   httpcache.Cache
	stream  StreamCache // cache, when it streams; nil otherwise
	rules   *rules.Matcher
	maxBody int64
	sie     bool
	log     *slog.Logger
	now     func() time.Time
	flights singleflight.Group
	stats   counters

	secretOnce sync.Once
	secretKey  []byte // keys the credential variants; see secret
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends what the cache cannot answer to next
// (nil: http.DefaultTransport) and stores entries in cache, which is
// required: httpcachestore for files, s3store for S3, or any other
// httpcache.Cache such as httpcache.NewMemoryCache(). A cache that
// implements [StreamCache] is used through it.
func New(next http.RoundTripper, cache httpcache.Cache, opts Options) (*Transport, error) {
	if cache == nil {
		return nil, errors.New("rfccache: cache is nil; use httpcachestore.New, s3store.New or httpcache.NewMemoryCache")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, errors.New("rfccache: Options.MaxBodyBytes is negative; use 0 for the default")
	}
	stream, _ := cache.(StreamCache)
	maxBody := int64(DefaultMaxBodyBytes)
	if stream != nil {
		maxBody = DefaultMaxStreamedBodyBytes
	}
	t := &Transport{
		next:    cmp.Or[http.RoundTripper](next, http.DefaultTransport),
		cache:   cache,
		stream:  stream,
		rules:   opts.Rules,
		maxBody: cmp.Or(opts.MaxBodyBytes, maxBody),
		sie:     opts.StaleIfError,
		log:     opts.Logger,
		now:     opts.Now,
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t, nil
}

// Stats counts what a Transport did since New. Every response carries
// exactly one of Hits, Misses, Revalidated, Stale or Bypass.
type Stats struct {
	Hits        int64 // X-Cache: HIT, including Coalesced
	Misses      int64 // X-Cache: MISS
	Revalidated int64 // X-Cache: REVALIDATED
	Stale       int64 // X-Cache: STALE
	Bypass      int64 // X-Cache: BYPASS
	Coalesced   int64 // requests answered with the response another request was fetching
	Stored      int64 // entries written to the cache (new, or refreshed by a 304)
	StoredBytes int64 // body bytes of the entries written
	TooLarge    int64 // storable responses not stored because of MaxBodyBytes
	Invalidated int64 // entries removed after an unsafe method or a response that may not be stored
	Corrupt     int64 // stored values that failed their checks and were ignored
}

type counters struct {
	status                                              cachestatus.Counters
	coalesced                                           atomic.Int64
	stored, storedBytes, tooLarge, invalidated, corrupt atomic.Int64
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	c := &t.stats
	st := c.status.Load()
	return Stats{
		Hits: st.Hits, Misses: st.Misses, Revalidated: st.Revalidated,
		Stale: st.Stale, Bypass: st.Bypass, Coalesced: c.coalesced.Load(),
		Stored: c.stored.Load(), StoredBytes: c.storedBytes.Load(), TooLarge: c.tooLarge.Load(),
		Invalidated: c.invalidated.Load(), Corrupt: c.corrupt.Load(),
	}
}

func (t *Transport) count(status string) { t.stats.status.Count(status) }
