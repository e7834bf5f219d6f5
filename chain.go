package throttlecache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/filecache"
	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/rfccache"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/s3store"
)

// A Manager's chain is built from explicit stages, each over the next:
// Client's over the Manager's base transport, and one per Wrap over the
// wrapped client's transport. The stages of a Wrap chain are views of the
// Manager's (Over): they share its cache, limiter, retry policy and
// counters, and nothing travels through the request's context.

// chain returns the stages over base: the header stage, the cache stage, the
// retry stage (unless disabled), the rate-limit stage and the network stage.
func (m *Manager) chain(base http.RoundTripper) http.RoundTripper {
	var next http.RoundTripper = ratelimit.New(&networkStage{base: base, stats: &m.stats}, m.limiter)
	if m.retry != nil {
		next = m.retry.Over(next)
	}
	return &headerStage{m: m, next: m.cache.over(next)}
}

// headerStage is the outermost stage: it refuses requests after Close, adds
// the User-Agent and default headers, and counts requests.
type headerStage struct {
	m    *Manager
	next http.RoundTripper // the cache stage
}

var _ http.RoundTripper = (*headerStage)(nil)

func (h *headerStage) RoundTrip(req *http.Request) (*http.Response, error) {
	m := h.m
	if m.closed.Load() {
		httpbody.CloseRequest(req)
		return nil, ErrClosed
	}
	m.stats.requests.Add(1)
	if h.needsHeaders(req) {
		req = req.Clone(req.Context()) // never modify the caller's request
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		if h.needsUserAgent(req) {
			req.Header.Set("User-Agent", m.cfg.UserAgent)
		}
		for k, vs := range m.cfg.Header {
			if _, ok := req.Header[http.CanonicalHeaderKey(k)]; !ok {
				req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
			}
		}
	}
	return h.next.RoundTrip(req)
}

// needsUserAgent reports whether req lacks a User-Agent field. One set to
// the empty string is net/http's way of sending none, and is left alone.
func (h *headerStage) needsUserAgent(req *http.Request) bool {
	_, ok := req.Header["User-Agent"]
	return h.m.cfg.UserAgent != "" && !ok
}

func (h *headerStage) needsHeaders(req *http.Request) bool {
	if h.needsUserAgent(req) {
		return true
	}
	for k := range h.m.cfg.Header {
		if _, ok := req.Header[http.CanonicalHeaderKey(k)]; !ok {
			return true
		}
	}
	return false
}

// CloseIdleConnections closes the idle connections of the transport under
// the chain, as http.Client.CloseIdleConnections expects of a transport:
// every stage hands the call to the next, down to the Manager's base or
// the wrapped client's.
func (h *headerStage) CloseIdleConnections() { httpbody.CloseIdle(h.next) }

// cacheStage is the cache stage the configuration asks for, with what the
// Manager needs of it.
type cacheStage struct {
	over  func(next http.RoundTripper) http.RoundTripper // the stage over next, sharing its state
	close func() error
	stats func() CacheStats
}

// newCacheStage builds the cache stage of cfg.CacheMode over next; it is
// the one place that knows the modes' concrete types.
func newCacheStage(cfg Config, next http.RoundTripper, matcher *rules.Matcher, logger *slog.Logger) (cacheStage, error) {
	var store httpcache.Cache
	var storeStats func(*CacheStats) // what the store counts, rfccache's failures included
	switch cfg.CacheMode {
	case FileCache:
		if err := prepareDir(cfg.CacheDir); err != nil {
			return cacheStage{}, err
		}
		fc, err := filecache.New(next, filecache.Options{
			Dir:          cfg.CacheDir,
			Rules:        matcher,
			MaxBytes:     cfg.MaxCacheBytes,
			StaleIfError: cfg.StaleIfError,
			Logger:       logger,
		})
		if err != nil {
			return cacheStage{}, fmt.Errorf("throttlecache: Config.CacheDir %q: %w", cfg.CacheDir, err)
		}
		return cacheStage{
			over:  func(next http.RoundTripper) http.RoundTripper { return fc.Over(next) },
			close: fc.Close,
			stats: fc.Stats,
		}, nil
	case RFCFile:
		if err := prepareDir(cfg.CacheDir); err != nil {
			return cacheStage{}, err
		}
		st, err := httpcachestore.New(cfg.CacheDir, httpcachestore.WithMaxBytes(cfg.MaxCacheBytes), httpcachestore.WithLogger(logger))
		if err != nil {
			return cacheStage{}, fmt.Errorf("throttlecache: Config.CacheDir %q: %w", cfg.CacheDir, err)
		}
		store, storeStats = st, func(s *CacheStats) { s.StoreErrors = st.Stats().Errors }
	case RFCS3:
		client := cfg.S3Client
		if client == nil {
			var err error
			if client, err = s3store.DefaultClient(context.Background()); err != nil {
				return cacheStage{}, fmt.Errorf("throttlecache: Config.S3Client is nil and the default AWS configuration does not load: %w", err)
			}
		}
		st := s3store.New(client, cfg.S3Bucket, cfg.S3Prefix, s3store.WithTimeout(cfg.S3Timeout), s3store.WithLogger(logger),
			s3store.WithRedis(cfg.Redis))
		store, storeStats = st, func(s *CacheStats) {
			ss := st.Stats()
			s.StoreErrors, s.LockWaits, s.LockErrors = ss.Errors, ss.LockWaits, ss.LockErrors
		}
	default:
		b := &bypassStage{next: next, n: new(atomic.Int64)}
		return cacheStage{
			over:  func(next http.RoundTripper) http.RoundTripper { return &bypassStage{next: next, n: b.n} },
			close: func() error { return nil },
			stats: func() CacheStats { return CacheStats{Bypass: b.n.Load()} },
		}, nil
	}
	rfc, err := rfccache.New(next, store, rfccache.Options{
		Rules:        matcher,
		MaxBodyBytes: cfg.MaxBodyBytes,
		StaleIfError: cfg.StaleIfError,
		Logger:       logger,
	})
	if err != nil {
		return cacheStage{}, fmt.Errorf("throttlecache: %w", err)
	}
	return cacheStage{
		over:  func(next http.RoundTripper) http.RoundTripper { return rfc.Over(next) },
		close: rfc.Close,
		stats: func() CacheStats {
			s := rfc.Stats()
			storeStats(&s)
			return s
		},
	}, nil
}

// bypassStage is the Disabled cache mode: it passes every request through
// and marks the response BYPASS.
type bypassStage struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (b *bypassStage) CloseIdleConnections() { httpbody.CloseIdle(b.next) }

func (b *bypassStage) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b.n.Add(1)
	cachestatus.Set(resp, CacheBypass)
	return resp, nil
}

// networkStage sends requests that passed the limiter to the base transport
// and counts what comes back.
type networkStage struct {
	base  http.RoundTripper
	stats *counters
}

func (n *networkStage) CloseIdleConnections() { httpbody.CloseIdle(n.base) }

// Unwrap returns the base transport, so that the rate-limit stage above
// can tell what protocols it speaks (see ratelimit's hidden resends).
func (n *networkStage) Unwrap() http.RoundTripper { return n.base }

func (n *networkStage) RoundTrip(req *http.Request) (*http.Response, error) {
	n.stats.network.Add(1)
	resp, err := n.base.RoundTrip(req)
	if err != nil {
		n.stats.networkErrors.Add(1)
		return nil, err
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	} else if resp.StatusCode != http.StatusSwitchingProtocols {
		// A 101's body is the connection itself; leave it as it is.
		resp.Body = &countingBody{rc: resp.Body, stats: n.stats}
	}
	return resp, nil
}

// countingBody counts the bytes read from a network response body.
type countingBody struct {
	rc    io.ReadCloser
	stats *counters
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.stats.bytes.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }

// measuredLimiter counts the waits of the Manager's limiter.
type measuredLimiter struct {
	l     *ratelimit.PerHost
	stats *counters
}

var _ ratelimit.Reserver = (*measuredLimiter)(nil)

func (l *measuredLimiter) Wait(ctx context.Context) error {
	res, err := l.Reserve(ctx, "")
	if err == nil {
		res.Arrived()
	}
	return err
}

func (l *measuredLimiter) Reserve(ctx context.Context, host string) (ratelimit.Reservation, error) {
	start := time.Now()
	res, err := l.l.Reserve(ctx, host)
	d := time.Since(start)
	l.stats.waitTime.Add(int64(d))
	if d >= waitThreshold {
		l.stats.waits.Add(1)
	}
	if err != nil {
		l.stats.limiterErrors.Add(1)
	}
	return res, err
}

// waitThreshold is how long a Wait must take to count as a wait: a limiter
// that lets a request go at once still spends a little time deciding.
const waitThreshold = time.Millisecond
