// Package cachestatus holds the X-Cache vocabulary that every cache stage of
// throttlecache uses, and the counters that go with it, so that the stages
// and the Manager agree on one set of words. It is internal: the public
// names are throttlecache.CacheStatusHeader and the constants of each stage.
package cachestatus

import (
	"net/http"
	"sync/atomic"
)

// Header is the response header that tells where a response came from.
const Header = "X-Cache"

// The values of Header.
const (
	Hit         = "HIT"         // served from a fresh entry; the origin was not asked
	Miss        = "MISS"        // fetched from the origin (and stored when it could be)
	Revalidated = "REVALIDATED" // a stale entry the origin confirmed with a 304
	Stale       = "STALE"       // a stale entry served because the origin failed
	Bypass      = "BYPASS"      // the cache stage let the request through untouched
)

// Counters counts responses by their Header value. The zero value is ready
// to use, and a Counters is safe for concurrent use.
type Counters struct {
	hits, misses, revalidated, stale, bypass atomic.Int64
}

// Count records one response with the given status; other values are
// ignored.
func (c *Counters) Count(status string) {
	switch status {
	case Hit:
		c.hits.Add(1)
	case Miss:
		c.misses.Add(1)
	case Revalidated:
		c.revalidated.Add(1)
	case Stale:
		c.stale.Add(1)
	case Bypass:
		c.bypass.Add(1)
	}
}

// Snapshot is what Counters counted.
type Snapshot struct {
	Hits, Misses, Revalidated, Stale, Bypass int64
}

// Load returns the counts so far.
func (c *Counters) Load() Snapshot {
	return Snapshot{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Revalidated: c.revalidated.Load(),
		Stale: c.stale.Load(), Bypass: c.bypass.Load(),
	}
}

// Set marks resp with status in Header, giving it an empty header map or
// body where a RoundTripper left none: every response that leaves a cache
// stage says where it came from and has a body to close.
func Set(resp *http.Response, status string) {
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header[Header] = []string{status}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
}
