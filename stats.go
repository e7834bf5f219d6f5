package throttlecache

import (
	"sync/atomic"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// Stats is a snapshot of a Manager's counters since New. Clients made by Wrap
// count into the same Manager.
type Stats struct {
	// Requests is the number of requests the Manager's transports received.
	Requests int64
	// NetworkRequests is the number that reached the base transport: cache
	// misses and revalidations, each of which spent a limiter token.
	NetworkRequests int64
	// NetworkErrors is the number of network requests that got no response.
	NetworkErrors int64
	// BytesReceived is the number of response body bytes read from the
	// network (after transparent decompression by the base transport).
	BytesReceived int64
	// LimiterWaits is the number of requests the limiter held back for a
	// millisecond or more.
	LimiterWaits int64
	// LimiterWaitTime is the total time requests spent in the limiter.
	LimiterWaitTime time.Duration
	// LimiterErrors is the number of requests the limiter refused: the
	// maximum wait would be exceeded, or the context ended while waiting.
	LimiterErrors int64

	// Hits, Misses, Revalidated, Stale and Bypass count responses by their
	// CacheStatusHeader value.
	Hits, Misses, Revalidated, Stale, Bypass int64
	// Coalesced is the number of requests that waited for another request's
	// download of the same entry instead of fetching it themselves.
	Coalesced int64
	// Stored is the number of cache entries written, StoredBytes their body
	// bytes.
	Stored, StoredBytes int64
	// StoreErrors counts cache writes and reads that failed (disk full, an
	// unwritable folder, S3 down): the request went on without the cache.
	StoreErrors int64
	// Corrupt counts damaged cache entries found and ignored.
	Corrupt int64
	// Evictions counts entries removed to keep the cache under its cap;
	// Invalidated those removed because an unsafe method changed the URL.
	Evictions, Invalidated int64

	// Retries is the number of attempts the retry stage made after a first
	// one; RetryWaitTime the time it spent waiting between them.
	Retries       int64
	RetryWaitTime time.Duration
	// RetriesGivenUp is the number of 429/503 answers returned to the caller
	// without a further attempt (attempts used up, a wait too long).
	RetriesGivenUp int64
	// Blocks is the number of times the SEC's block page was recognised.
	Blocks int64
	// Pauses counts the pauses of the limiter by reason ("retry-after",
	// "block", ...); nil when there were none.
	Pauses map[string]int64
	// PauseWaits is the number of requests a pause held back, and
	// PauseWaitTime the time they spent held back.
	PauseWaits    int64
	PauseWaitTime time.Duration
}

type counters struct {
	requests, network, networkErrors, bytes atomic.Int64
	waits, waitTime, limiterErrors          atomic.Int64
	status                                  cachestatus.Counters
}

func (c *counters) countCache(status string) { c.status.Count(status) }

// Stats returns a snapshot of the Manager's counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	st := c.status.Load()
	s := Stats{
		Hits:            st.Hits,
		Misses:          st.Misses,
		Revalidated:     st.Revalidated,
		Stale:           st.Stale,
		Bypass:          st.Bypass,
		Requests:        c.requests.Load(),
		NetworkRequests: c.network.Load(),
		NetworkErrors:   c.networkErrors.Load(),
		BytesReceived:   c.bytes.Load(),
		LimiterWaits:    c.waits.Load(),
		LimiterWaitTime: time.Duration(c.waitTime.Load()),
		LimiterErrors:   c.limiterErrors.Load(),
	}
	if m.fc != nil {
		f := m.fc.Stats()
		s.Coalesced, s.Stored, s.StoredBytes = f.Coalesced, f.Stored, f.StoredBytes
		s.StoreErrors, s.Corrupt, s.Evictions, s.Invalidated = f.StoreErrors, f.Corrupt, f.Evictions, f.Invalidated
	}
	if m.rfc != nil {
		r := m.rfc.Stats()
		s.Coalesced, s.Stored, s.StoredBytes = r.Coalesced, r.Stored, r.StoredBytes
		s.Corrupt, s.Invalidated = r.Corrupt, r.Invalidated
	}
	if m.retry != nil {
		r := m.retry.Stats()
		s.Retries, s.RetryWaitTime, s.RetriesGivenUp, s.Blocks = r.Retries, r.RetryWaitTime, r.GaveUp, r.Blocks
		if len(r.Pauses) > 0 {
			s.Pauses = r.Pauses
		}
	}
	if m.gate != nil {
		g := m.gate.Stats()
		s.PauseWaits, s.PauseWaitTime = g.Waits, g.WaitTime
	}
	if m.storeErr != nil {
		s.StoreErrors = m.storeErr()
	}
	return s
}
