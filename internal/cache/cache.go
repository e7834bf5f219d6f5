// Package cache is throttlecache's one cache engine: an http.RoundTripper
// over a [Store] that keeps entries and a [Policy] that decides freshness
// (filecache: rules only; rfccache: RFC 9111 with rules overriding).
//
//	tr, err := cache.New(next, cache.Options{Store: st, Policy: p, Rules: m})
//
// The engine owns keys and variants, flights and locks (one origin request
// per stampede), the fill that downloads a body into the store while every
// reader follows it, checked hits, invalidation, X-Cache and the counters.
package cache

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
	"github.com/throttlecache/throttlecache/rules"
)

// Options configures a [Transport].
type Options struct {
	Store        Store            // required
	Policy       Policy           // required
	Rules        *rules.Matcher   // override the origin on freshness (see Policy); default: none
	MaxBodyBytes int64            // larger bodies stream through unstored; default (0): no bound
	Logger       *slog.Logger     // debug lines for every request; default: discarded
	Now          func() time.Time // the clock of freshness; default: time.Now
	Name         string           // prefixes log lines ("filecache", "rfccache")
	// StallAfter is how long a download may make no progress before new
	// requests go to the origin themselves and its lease lapses. Default:
	// 10 seconds.
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

// engine is what the Transports made from one New (and Over) share.
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
	beside  flights // requests that go to the origin beside a flight they could not share (besides)
	stats   counters
	markers sync.Mutex // held by addVariant

	secretOnce sync.Once
	secret     []byte

	mu         sync.Mutex // guards closed, live and fills.Add
	closed     atomic.Bool
	live       map[*fill]struct{}
	fills      sync.WaitGroup
	stop       context.Context // ended by Close
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

// Over returns a Transport sharing t's engine over another next stage;
// Close of either closes both.
func (t *Transport) Over(next http.RoundTripper) *Transport {
	return &Transport{next: cmp.Or[http.RoundTripper](next, http.DefaultTransport), engine: t.engine}
}

// CloseIdleConnections closes the next stage's idle connections.
func (t *Transport) CloseIdleConnections() { httpbody.CloseIdle(t.next) }

// Close makes later RoundTrips fail with [ErrClosed], gives up downloads
// no reader follows, and waits for the others and their commits; one
// whose origin stalls (StallAfter) is given up, its readers getting an
// error. A download also ends when its last reader goes away, so Close
// waits only for bodies still being read. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed.Store(true)
	t.mu.Unlock()
	for _, f := range t.liveFills() {
		f.abandonIfUnread()
	}
	t.cancel()
	done := make(chan struct{})
	go func() {
		t.fills.Wait()
		close(done)
	}()
	tick := time.NewTicker(max(t.stallAfter/2, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
			for _, f := range t.liveFills() {
				if f.stalled() {
					f.cancel()
				}
			}
		}
	}
}

func (t *Transport) liveFills() []*fill {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := make([]*fill, 0, len(t.live))
	for f := range t.live {
		live = append(live, f)
	}
	return live
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

// secretKey returns the store's secret for credential variants, or one of
// this process alone when the store has none: a miss rather than a leak.
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

// Stats counts what a Transport did since New; every response counts in
// one of Hits, Misses, Revalidated, Stale or Bypass.
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
	// RFCS3 with Redis: misses that waited for another machine, and that
	// went on alone because Redis could not be reached.
	LockWaits, LockErrors int64
}

type counters struct {
	status                                        [5]atomic.Int64 // by statusIndex
	coalesced, stored, storedBytes, tooLarge, inv atomic.Int64
}

var statusIndex = map[string]int{cachestatus.Hit: 0, cachestatus.Miss: 1, cachestatus.Revalidated: 2,
	cachestatus.Stale: 3, cachestatus.Bypass: 4}

// count records one response with the given X-Cache status.
func (c *counters) count(status string) {
	if i, ok := statusIndex[status]; ok {
		c.status[i].Add(1)
	}
}

// Stats returns a snapshot of the counters, the store's included.
func (t *Transport) Stats() Stats {
	c := &t.stats
	s := Stats{
		Hits: c.status[0].Load(), Misses: c.status[1].Load(), Revalidated: c.status[2].Load(),
		Stale: c.status[3].Load(), Bypass: c.status[4].Load(), Coalesced: c.coalesced.Load(), Stored: c.stored.Load(),
		StoredBytes: c.storedBytes.Load(), TooLarge: c.tooLarge.Load(), Invalidated: c.inv.Load(),
	}
	if ss, ok := t.store.(interface{ Stats() StoreStats }); ok {
		x := ss.Stats()
		s.StoreErrors, s.Corrupt, s.Evictions = x.Errors, x.Corrupt, x.Evictions
	}
	return s
}
