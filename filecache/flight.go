package filecache

import (
	"context"
	"net/http"
	"sync"
)

// A flight is one download (or revalidation) of an entry that other
// requests for the same entry in this process wait for instead of asking
// the origin themselves.
type flight struct {
	done chan struct{}
	once sync.Once
	res  flightResult
}

type flightKind int

const (
	flightRetry  flightKind = iota // nothing to share; look again, and maybe lead
	flightEntry                    // the entry is fresh now: serve it
	flightStale                    // the origin failed and the leader served the stale entry
	flightShared                   // a small response that is not stored: share it
	flightDirect                   // nothing can be stored now: go to the origin directly
	flightError                    // the origin could not be reached
)

type flightResult struct {
	kind   flightKind
	shared *sharedResponse
	err    error
}

// sharedResponse is a small complete response handed to every waiter.
type sharedResponse struct {
	status  int
	proto   string
	header  http.Header
	body    []byte
	uncompr bool
}

type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key and whether the caller leads it.
func (g *flightGroup) join(key string) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return f, false
	}
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	f := &flight{done: make(chan struct{})}
	g.m[key] = f
	return f, true
}

// finish ends the flight for key with res; only the first call counts.
func (g *flightGroup) finish(key string, f *flight, res flightResult) {
	f.once.Do(func() {
		g.mu.Lock()
		if g.m[key] == f {
			delete(g.m, key)
		}
		g.mu.Unlock()
		f.res = res
		close(f.done)
	})
}

// wait blocks until the flight ends or ctx is done.
func (f *flight) wait(ctx context.Context) (flightResult, error) {
	select {
	case <-f.done:
		return f.res, nil
	case <-ctx.Done():
		return flightResult{}, ctx.Err()
	}
}
