package throttlecache

import (
	"sync/atomic"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/retry"
)

// Stats is a snapshot of a Manager's counters since New, one value per
// stage. Clients made by Wrap count into the same Manager.
type Stats struct {
	// Requests is the number of requests the Manager's transports received.
	Requests int64
	// Cache is what the cache stage did. Every response that came back
	// through it is counted once, by its CacheStatusHeader value (in
	// Disabled mode all are Bypass).
	Cache CacheStats
	// Retry is what the retry stage did; zero with Config.DisableRetry.
	Retry RetryStats
	// Limiter is what the limiter and its pauses held back.
	Limiter LimiterStats
	// Network is what reached the base transport.
	Network NetworkStats
}

// CacheStats counts what the cache stage did: responses by X-Cache value
// (Hits, Misses, Revalidated, Stale, Bypass), Coalesced requests that
// followed another's download, entries Stored and their StoredBytes, and
// StoreErrors, Corrupt entries, Evictions and Invalidated URLs. It is
// filecache.Stats and rfccache.Stats.
type CacheStats = cache.Stats

// RetryStats counts what the retry stage did: it is retry.Stats.
type RetryStats = retry.Stats

// LimiterStats counts the requests the limiter held back.
type LimiterStats struct {
	// Waits is the number of requests the limiter held back for a
	// millisecond or more, WaitTime the total time requests spent in it
	// (pauses included).
	Waits    int64
	WaitTime time.Duration
	// Errors is the number of requests the limiter refused: the maximum
	// wait would be exceeded, or the context ended while waiting.
	Errors int64
	// PauseWaits is the number of requests a pause (a Retry-After, the
	// SEC's block) held back, and PauseWaitTime the time they spent held.
	PauseWaits    int64
	PauseWaitTime time.Duration
}

// NetworkStats counts what reached the base transport.
type NetworkStats struct {
	// Requests is the number of requests sent: cache misses and
	// revalidations and their retries, each of which spent a limiter token.
	Requests int64
	// Errors is the number of those that got no response.
	Errors int64
	// Bytes is the number of response body bytes read (after transparent
	// decompression by the base transport).
	Bytes int64
}

type counters struct {
	requests, network, networkErrors, bytes atomic.Int64
	waits, waitTime, limiterErrors          atomic.Int64
}

// Stats returns a snapshot of the Manager's counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	g := m.limiter.l.Stats()
	s := Stats{
		Requests: c.requests.Load(),
		Cache:    m.cache.stats(),
		Limiter: LimiterStats{
			Waits: c.waits.Load(), WaitTime: time.Duration(c.waitTime.Load()), Errors: c.limiterErrors.Load(),
			PauseWaits: g.PauseWaits, PauseWaitTime: g.PauseWaitTime,
		},
		Network: NetworkStats{Requests: c.network.Load(), Errors: c.networkErrors.Load(), Bytes: c.bytes.Load()},
	}
	if m.retry != nil {
		s.Retry = m.retry.Stats()
	}
	return s
}
