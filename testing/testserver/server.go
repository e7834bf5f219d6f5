package testserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running HTTP/1.1 origin on a loopback address. It routes
// requests to the handlers registered with [Server.Handle] and
// [Server.HandlePrefix], counts hits per path and keeps a log of every
// request. A Server is safe for concurrent use, including registering
// handlers while it serves. Create one with [New]; the zero value is not
// usable.
type Server struct {
	// URL is the base URL of the server, such as http://127.0.0.1:PORT,
	// without a trailing slash.
	URL string

	ts        *httptest.Server
	closeOnce sync.Once

	routeMu  sync.RWMutex
	exact    map[string]http.Handler
	prefixes map[string]http.Handler
	hooks    []func(*http.Request)

	total  atomic.Int64
	logMu  sync.Mutex
	hits   map[string]int64
	log    []Request
	maxLog int
}

// Request is one entry of a [Server]'s log.
type Request struct {
	Method   string
	Path     string // r.URL.Path
	RawQuery string
	Header   http.Header // a clone of the request's header
	// At is the arrival time, taken as the very first thing the server's
	// handler does. It carries a monotonic clock reading, so differences
	// between arrivals are immune to wall-clock jumps.
	At time.Time
}

// TB is the part of testing.TB that [Server.MustNotHit] needs; *testing.T
// and *testing.B satisfy it. The package declares its own interface so that
// it does not import "testing".
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// New starts a Server on a loopback address. Call [Server.Close] when done.
func New() *Server {
	s := &Server{
		exact:    make(map[string]http.Handler),
		prefixes: make(map[string]http.Handler),
		hits:     make(map[string]int64),
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.ts.URL
	return s
}

// Client returns an HTTP client configured for the server. Its idle
// connections are closed by [Server.Close].
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close shuts the server down. It closes client connections first, so
// handlers that wait on their request's context end, and then waits for
// running handlers to return. Close may be called more than once; later calls
// do nothing. Counters and the log stay readable after Close.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		// A connection accepted between CloseClientConnections and the
		// listener's close would hold Close up, so keep cutting until Close
		// returns.
		done := make(chan struct{})
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					s.ts.CloseClientConnections()
				}
			}
		}()
		s.ts.CloseClientConnections()
		s.ts.Close()
		close(done)
		<-stopped
	})
}

// Handle registers h for requests whose r.URL.Path equals path exactly; the
// query string plays no part in routing. It replaces any handler already
// registered for path. A nil h removes the route.
func (s *Server) Handle(path string, h http.Handler) {
	s.routeMu.Lock()
	defer s.routeMu.Unlock()
	if h == nil {
		delete(s.exact, path)
		return
	}
	s.exact[path] = h
}

// HandleFunc registers f for path like [Server.Handle]. A nil f removes the
// route.
func (s *Server) HandleFunc(path string, f http.HandlerFunc) {
	if f == nil {
		s.Handle(path, nil)
		return
	}
	s.Handle(path, f)
}

// HandlePrefix registers h for every path that starts with prefix and has no
// exact route; among prefixes the longest one wins. It replaces any handler
// already registered for prefix. A nil h removes the route.
func (s *Server) HandlePrefix(prefix string, h http.Handler) {
	s.routeMu.Lock()
	defer s.routeMu.Unlock()
	if h == nil {
		delete(s.prefixes, prefix)
		return
	}
	s.prefixes[prefix] = h
}

// OnRequest adds a hook that is called with every request on arrival, after
// it is counted and logged and before its handler runs. Hooks run on the
// server's goroutines, in the order they were added.
func (s *Server) OnRequest(f func(r *http.Request)) {
	if f == nil {
		return
	}
	s.routeMu.Lock()
	defer s.routeMu.Unlock()
	s.hooks = append(s.hooks, f)
}

// MustNotHit makes every later arrival for path (any method) report an error
// on t. Use it to assert that a cache answers without reaching the origin.
// If t has a Cleanup method, as *testing.T does, the check ends when t's
// test does; otherwise it lasts as long as the server.
func (s *Server) MustNotHit(t TB, path string) {
	t.Helper()
	var done atomic.Bool
	if c, ok := t.(interface{ Cleanup(func()) }); ok {
		c.Cleanup(func() { done.Store(true) })
	}
	s.OnRequest(func(r *http.Request) {
		if r.URL.Path == path && !done.Load() {
			t.Helper()
			t.Errorf("testserver: unexpected request for %s (a cache hit reached the origin)", path)
		}
	})
}

// Hits reports how many requests arrived for path (r.URL.Path == path), of
// any method, routed or not, since the start or the last [Server.Reset].
func (s *Server) Hits(path string) int64 {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.hits[path]
}

// TotalHits reports how many requests arrived since the start or the last
// [Server.Reset].
func (s *Server) TotalHits() int64 { return s.total.Load() }

// Requests returns a copy of the log, headers included, in arrival order
// (ordered by [Request.At]).
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := append([]Request(nil), s.logLocked()...)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
	}
	return out
}

// ArrivalTimes returns the arrival times of the logged requests, in order.
func (s *Server) ArrivalTimes() []time.Time {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	log := s.logLocked()
	out := make([]time.Time, len(log))
	for i := range log {
		out[i] = log[i].At
	}
	return out
}

// SetMaxLog makes the log keep only the newest n requests, which bounds the
// memory of long benchmarks; hit counters still count every request. n <= 0
// means no limit, the default.
func (s *Server) SetMaxLog(n int) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.maxLog = max(n, 0)
	s.trimLocked(true)
}

// Reset clears the hit counters and the log. Routes and hooks stay.
func (s *Server) Reset() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	clear(s.hits)
	s.log = nil
	s.total.Store(0)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	s.record(r, at)

	s.routeMu.RLock()
	hooks := s.hooks[:len(s.hooks):len(s.hooks)]
	h := s.routeLocked(r.URL.Path)
	s.routeMu.RUnlock()

	for _, f := range hooks {
		f(r)
	}
	h.ServeHTTP(w, r)
}

func (s *Server) record(r *http.Request, at time.Time) {
	e := Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		At:       at,
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.total.Add(1)
	s.hits[e.Path]++
	// Concurrent arrivals may take the lock out of order; insert from the
	// back so the log stays sorted by At.
	s.log = append(s.log, e)
	i := len(s.log) - 1
	for ; i > 0 && s.log[i-1].At.After(at); i-- {
		s.log[i] = s.log[i-1]
	}
	s.log[i] = e
	s.trimLocked(false)
}

// trimLocked drops the oldest entries beyond maxLog. Unless forced it waits
// until the log is twice as long, so that appends stay amortised O(1);
// logLocked hides the surplus meanwhile.
func (s *Server) trimLocked(force bool) {
	if s.maxLog == 0 || len(s.log) <= s.maxLog || !force && len(s.log) < 2*s.maxLog {
		return
	}
	n := copy(s.log, s.log[len(s.log)-s.maxLog:])
	clear(s.log[n:])
	s.log = s.log[:n]
}

// logLocked returns the visible part of the log.
func (s *Server) logLocked() []Request {
	if s.maxLog > 0 && len(s.log) > s.maxLog {
		return s.log[len(s.log)-s.maxLog:]
	}
	return s.log
}

func (s *Server) routeLocked(path string) http.Handler {
	if h, ok := s.exact[path]; ok {
		return h
	}
	var best http.Handler
	bestLen := -1
	for p, h := range s.prefixes {
		if len(p) > bestLen && strings.HasPrefix(path, p) {
			best, bestLen = h, len(p)
		}
	}
	if best != nil {
		return best
	}
	return http.HandlerFunc(notFound)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "testserver: no handler for "+r.URL.Path, http.StatusNotFound)
}
