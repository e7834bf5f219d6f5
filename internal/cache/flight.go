package cache

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"
)

// A flight is one origin request (and its fill) that other requests for
// the entry in this process wait for and share.
type flight struct {
	g       *flights // the table it is in
	key     Key
	ready   chan struct{} // closed once out is decided
	out     outcome
	once    sync.Once
	done    chan struct{} // closed when the flight ends: after the fill's commit, if any
	ended   sync.Once
	invalid atomic.Bool // the URL was invalidated meanwhile: commit nothing
	holds   int         // waiters that joined and have not yet followed or left; under flights.mu
	idle    func()      // run when holds drops to 0, once set
}

type outcomeKind int

const (
	outRetry  outcomeKind = iota // nothing to share: look again, and maybe lead
	outEntry                     // the entry is stored and fresh now: serve it
	outStale                     // the origin failed and the entry may be served stale
	outFill                      // the body is downloading: follow the fill
	outDirect                    // nothing can be shared: go to the origin alone
	outError                     // the origin could not be reached: this error
)

type outcome struct {
	kind outcomeKind
	key  Key // outEntry, outStale: the entry settled (another Vary variant's is not)
	// answered is when the origin's answer (a body, a 304, a failure)
	// arrived, by the real clock; zero when the entry came from elsewhere.
	answered time.Time
	fill     *fill
	err      error
}

type flights struct {
	mu   sync.Mutex
	m    map[string]*flight
	ends atomic.Uint64 // flights ended so far; added to under mu
}

// join returns the flight for k and whether the caller leads it.
func (g *flights) join(k Key) (*flight, bool) {
	id := k.String()
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[id]; ok {
		f.holds++
		return f, false
	}
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	f := &flight{g: g, key: k, ready: make(chan struct{}), done: make(chan struct{})}
	g.m[id] = f
	return f, true
}

// decide tells the flight's waiters what to do; only the first call counts.
func (f *flight) decide(o outcome) {
	f.once.Do(func() {
		f.out = o
		close(f.ready)
	})
}

// end decides o unless decided, and ends the flight.
func (g *flights) end(f *flight, o outcome) {
	f.decide(o)
	g.retire(f)
	f.ended.Do(func() { close(f.done) })
}

// retire takes f out of the table, if still there, so that the next join
// starts a flight of its own; f goes on for those that follow it.
func (g *flights) retire(f *flight) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[f.key.String()] == f {
		delete(g.m, f.key.String())
		g.ends.Add(1)
	}
}

// unhold ends the hold a waiter took by joining f; the last one also
// lets a download nobody follows be given up.
func (g *flights) unhold(f *flight) {
	g.mu.Lock()
	f.holds--
	var run func()
	last := f.holds == 0
	if last {
		run, f.idle = f.idle, nil
	}
	g.mu.Unlock()
	if run != nil {
		run()
	}
	if last {
		select {
		case <-f.ready:
			if f.out.fill != nil {
				f.out.fill.unheld()
			}
		default:
		}
	}
}

// held reports whether a waiter holds f.
func (g *flights) held(f *flight) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return f.holds > 0
}

// whenIdle runs fn once no waiter holds f: at once, or at the last unhold.
func (g *flights) whenIdle(f *flight, fn func()) {
	g.mu.Lock()
	if f.holds > 0 {
		f.idle = fn
		fn = nil
	}
	g.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// alive reports whether the flight's download, if any, makes progress.
func (f *flight) alive() bool {
	select {
	case <-f.ready:
		return f.out.fill == nil || !f.out.fill.stalled()
	default:
		return true
	}
}

// wait returns the flight's outcome once decided, or ctx's error.
func (f *flight) wait(ctx context.Context) (outcome, error) {
	select {
	case <-f.ready:
		return f.out, nil
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

// invalidate marks every flight of u's URL invalid, and lets later
// requests start flights of their own instead of following those: the
// requests that joined them came before the invalidation.
func (g *flights) invalidate(u Key) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, f := range g.m {
		if f.key.URL() == u {
			f.invalid.Store(true)
			delete(g.m, id)
			g.ends.Add(1)
		}
	}
}

func randomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
