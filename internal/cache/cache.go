// Package cache is throttlecache's one cache engine: an http.RoundTripper
// over a [Store] that keeps entries and a [Policy] that decides freshness.
// The FileCache mode (package filecache, rules only) and the RFC modes
// (package rfccache, RFC 9111 with rules overriding) are Policies over it,
// on files (internal/filestore) or S3 (s3store).
//
//	tr, err := cache.New(next, cache.Options{Store: st, Policy: p, Rules: m})
//	client := &http.Client{Transport: tr}
//
// The engine owns what every mode shares: keys and variants (credentials,
// Accept-Encoding, Vary), the in-process flight and the store's lock that
// make one origin request per stampede, the fill that downloads a body into
// the store on a goroutine of its own while every reader follows it, the
// checked hit, invalidation, X-Cache and the counters. It is internal: the
// public names are in filecache and rfccache.
package cache

import (
	"github.com/throttlecache/throttlecache/internal/httpbody"

	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/rules"
)

// Options configures a [Transport].
type Options struct {
	Store  Store  // required
	Policy Policy // required
	// Rules override the origin's word on freshness; see Policy. Default:
	// none.
	Rules *rules.Matcher
	// MaxBodyBytes is the largest body stored; larger ones stream through
	// unstored. Default (0): no bound.
	MaxBodyBytes int64
	// Logger receives debug lines for every request. Default: discarded.
	Logger *slog.Logger
	// Now is the clock of freshness. Default: time.Now.
	Now func() time.Time
	// Name prefixes log lines and errors ("filecache", "rfccache").
	Name string
	// StallAfter is how long a download may make no progress before new
	// requests for it go to the origin themselves, and its lock, if a
	// lease, lapses. Default: 10 seconds.
	StallAfter time.Duration
}

// ErrClosed is returned by RoundTrip after Close.
var ErrClosed = errors.New("cache: transport closed")

// Transport is the cache stage. It is safe for concurrent use; create one
// with [New].
type Transport struct {
	next http.RoundTripper
	*engine
}

// engine is what every Transport made from one New shares: the store, the
// flights, the fills and the counters. Over gives it another next stage.
type engine struct {
	store   Store
	locker  Locker // the store, when it locks across processes
	policy  Policy
	rules   *rules.Matcher
	maxBody int64
	log     *slog.Logger
	now     func() time.Time
	name    string

	flights flights
	stats   counters

	secretOnce sync.Once
	secret     []byte

	mu         sync.Mutex // guards closed, live and fills.Add
	closed     atomic.Bool
	live       map[*fill]struct{}
	fills      sync.WaitGroup
	stop       context.Context // ended by Close: degraded fills held back by a reader give up
	cancel     context.CancelFunc
	stallAfter time.Duration
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends what the cache cannot answer to next
// (nil: http.DefaultTransport).
func New(next http.RoundTripper, opts Options) (*Transport, error) {
	if opts.Store == nil || opts.Policy == nil {
		return nil, errors.New("cache: a Store and a Policy are required")
	}
	t := &Transport{next: cmp.Or[http.RoundTripper](next, http.DefaultTransport), engine: &engine{
		store:      opts.Store,
		policy:     opts.Policy,
		rules:      opts.Rules,
		maxBody:    opts.MaxBodyBytes,
		log:        cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		now:        opts.Now,
		name:       cmp.Or(opts.Name, "cache"),
		stallAfter: cmp.Or(opts.StallAfter, 10*time.Second),
	}}
	if t.now == nil {
		t.now = time.Now
	}
	t.locker, _ = opts.Store.(Locker)
	t.stop, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Over returns a Transport that shares t's store, flights, fills and
// counters but sends what the cache cannot answer to next (nil:
// http.DefaultTransport). Requests through either coalesce with each other;
// Close of either closes both.
func (t *Transport) Over(next http.RoundTripper) *Transport {
	return &Transport{next: cmp.Or[http.RoundTripper](next, http.DefaultTransport), engine: t.engine}
}

// CloseIdleConnections closes the idle connections of the next stage, when
// it has any, so that http.Client.CloseIdleConnections reaches the network.
func (t *Transport) CloseIdleConnections() { httpbody.CloseIdle(t.next) }

// Close makes later RoundTrips fail with [ErrClosed], gives up the
// downloads that no reader follows any more (a body closed early, still
// draining), and waits for the others and for their commits. A download
// ends when its body ends or when its last reader goes away (closing the
// body, or by its request's context), so a caller that reads, closes or
// puts a deadline on its requests never holds Close for long. Bodies of
// hits stay readable. Close is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed.Store(true)
	live := make([]*fill, 0, len(t.live))
	for f := range t.live {
		live = append(live, f)
	}
	t.mu.Unlock()
	for _, f := range live {
		f.abandonIfUnread()
	}
	t.cancel()
	t.fills.Wait()
	return nil
}

// goFill runs f's download on a goroutine that Close waits for; false when
// closed.
func (t *Transport) goFill(f *fill) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return false
	}
	if t.live == nil {
		t.live = make(map[*fill]struct{})
	}
	t.live[f] = struct{}{}
	t.fills.Add(1)
	go func() {
		defer t.fills.Done()
		f.run()
		t.mu.Lock()
		delete(t.live, f)
		t.mu.Unlock()
	}()
	return true
}

// Store returns the Transport's store.
func (t *Transport) Store() Store { return t.store }

// secretKey returns the store's secret for credential variants. A store
// that cannot give one gets a secret of this process alone: credentialed
// entries then match only here, a miss rather than a leak.
func (t *Transport) secretKey() []byte {
	t.secretOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := t.store.Secret(ctx)
		if err != nil || len(s) < 16 {
			t.log.Warn(t.name+": no shared secret for credential variants; credentialed entries will only match in this process", "err", err)
			s = randomSecret()
		}
		t.secret = s
	})
	return t.secret
}

// Stats counts what a Transport did since New. Every response carries
// exactly one of Hits, Misses, Revalidated, Stale or Bypass.
type Stats struct {
	Hits        int64 // X-Cache: HIT, including requests that followed another's download
	Misses      int64 // X-Cache: MISS
	Revalidated int64 // X-Cache: REVALIDATED
	Stale       int64 // X-Cache: STALE
	Bypass      int64 // X-Cache: BYPASS
	Coalesced   int64 // requests that waited for another request's download instead of fetching
	Stored      int64 // entries committed (new, or refreshed by a 304)
	StoredBytes int64 // body bytes of the entries committed
	TooLarge    int64 // storable responses not stored because of MaxBodyBytes
	StoreErrors int64 // store reads and writes that failed: the request went on without the cache
	Corrupt     int64 // damaged entries found and ignored
	Evictions   int64 // entries removed to keep under a size cap
	Invalidated int64 // URLs invalidated by an unsafe method
	// With a store that coordinates machines (RFCS3 with Redis): LockWaits
	// counts the misses that waited for another machine's download,
	// LockErrors the ones that went on alone because Redis could not be
	// reached.
	LockWaits, LockErrors int64
}

type counters struct {
	hits, misses, revalidated, stale, bypass      atomic.Int64
	coalesced, stored, storedBytes, tooLarge, inv atomic.Int64
}

// count records one response with the given X-Cache status.
func (c *counters) count(status string) {
	switch status {
	case cachestatus.Hit:
		c.hits.Add(1)
	case cachestatus.Miss:
		c.misses.Add(1)
	case cachestatus.Revalidated:
		c.revalidated.Add(1)
	case cachestatus.Stale:
		c.stale.Add(1)
	case cachestatus.Bypass:
		c.bypass.Add(1)
	}
}

// Stats returns a snapshot of the counters, the store's included.
func (t *Transport) Stats() Stats {
	c := &t.stats
	s := Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Revalidated: c.revalidated.Load(), Stale: c.stale.Load(),
		Bypass: c.bypass.Load(), Coalesced: c.coalesced.Load(), Stored: c.stored.Load(),
		StoredBytes: c.storedBytes.Load(), TooLarge: c.tooLarge.Load(), Invalidated: c.inv.Load(),
	}
	if ss, ok := t.store.(interface{ Stats() StoreStats }); ok {
		x := ss.Stats()
		s.StoreErrors, s.Corrupt, s.Evictions = x.Errors, x.Corrupt, x.Evictions
	}
	return s
}
