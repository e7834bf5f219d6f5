// Package throttlecache builds HTTP clients that stay under a server's
// request-rate limit and never download the same bytes twice.
//
// A Manager assembles a chain of http.RoundTripper stages:
//
//	caller ─▶ User-Agent and default headers
//	       ─▶ cache stage      (Disabled: pass-through, X-Cache: BYPASS)
//	       ─▶ retry stage      (transient failures, Retry-After; pauses the host)
//	       ─▶ rate-limit stage (one shared limiter)
//	       ─▶ base transport
//
// The limiter sits next to the network: cache hits never wait for it and only
// requests that reach the network spend a token.
//
//	m, err := throttlecache.New(throttlecache.Config{
//		UserAgent:         "Example Corp admin@example.com", // SEC EDGAR requires one
//		RequestsPerSecond: 10,
//	})
//	if err != nil {
//		return err
//	}
//	defer m.Close()
//	resp, err := m.Client().Get("https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent")
//
// The base transport is a clone of http.DefaultTransport, so it honours the
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY environment variables.
package throttlecache

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"
	"golang.org/x/net/http/httpguts"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/retry"
	"github.com/throttlecache/throttlecache/rules"
)

// CacheMode selects the cache stage of a Manager's chain.
type CacheMode string

// The cache modes. The empty CacheMode means Disabled.
const (
	Disabled  CacheMode = "disabled"  // rate limiting only
	RFCFile   CacheMode = "rfc-file"  // RFC 9111 caching on local files
	RFCS3     CacheMode = "rfc-s3"    // RFC 9111 caching on S3
	FileCache CacheMode = "filecache" // rule-driven freshness, Last-Modified/ETag revalidation
)

var cacheModes = []CacheMode{Disabled, RFCFile, RFCS3, FileCache}

// CacheStatusHeader is the response header that tells where a response came
// from: HIT, MISS, REVALIDATED, STALE or BYPASS. Every response that passed a
// Manager's cache stage carries it; in Disabled mode it is BYPASS.
const CacheStatusHeader = "X-Cache"

// The values of CacheStatusHeader, the same in every cache mode and in the
// filecache and rfccache stages used on their own.
const (
	CacheHit         = "HIT"         // served from a fresh entry, or from the download another request started; the origin was not asked
	CacheMiss        = "MISS"        // fetched from the origin, and stored when allowed
	CacheRevalidated = "REVALIDATED" // the origin answered 304; served from the entry, now fresh again
	CacheStale       = "STALE"       // the origin failed; served from a stale entry (StaleIfError, stale-if-error)
	CacheBypass      = "BYPASS"      // not cacheable, or Disabled mode: passed to the origin untouched, nothing stored
)

// DefaultRequestsPerSecond is the rate used when Config.RequestsPerSecond is
// 0: SEC EDGAR's published limit.
const DefaultRequestsPerSecond = 10

// ErrClosed is returned for requests made through a Manager after Close.
var ErrClosed = errors.New("throttlecache: manager is closed")

// Config configures a Manager. The zero value is valid: no cache, 10 requests
// per second, Go's default User-Agent.
type Config struct {
	// CacheMode selects the cache stage. Default: Disabled.
	CacheMode CacheMode
	// CacheDir holds the cache for RFCFile and FileCache, which require it.
	// New creates it when missing. The other modes ignore it, and Disabled
	// ignores Rules and MaxCacheBytes too, so that one Config can switch
	// modes by CacheMode alone.
	CacheDir string
	// Rules override what servers say about freshness (site regex → path
	// regex → max-age). Default: none.
	Rules rules.Rules
	// RequestsPerSecond is a hard ceiling: at most this many requests start
	// in any one-second window. A fractional rate r ≥ 1 is rounded down (9.5
	// allows 9 in any second); a rate below 1 allows one request every 1/r
	// seconds. Default: 10.
	RequestsPerSecond float64
	// DisableRateLimit removes the limit: the limiter lets every request go.
	DisableRateLimit bool
	// Limiter replaces the limiter built from RequestsPerSecond, for shared,
	// per-host or distributed limits. Default: nil.
	Limiter ratelimit.Limiter
	// MaxWait makes a request fail, with an error wrapping
	// ratelimit.ErrMaxWait, instead of waiting longer than this for the
	// limiter (the original's max_delay), through ratelimit.WithMaxWait:
	// the built-in limiters fail at once when they can see the wait would
	// be longer, any other Limiter after MaxWait. Default: 0, no maximum.
	MaxWait time.Duration
	// UserAgent is set on every request that has no User-Agent. SEC EDGAR
	// rejects requests without a descriptive one ("Company admin@company.com").
	// Default: Go's.
	UserAgent string
	// Header holds default headers, set on every request that lacks them.
	Header http.Header
	// MaxCacheBytes caps the size of the FileCache or RFCFile folder: past it
	// the least recently used entries are evicted. Processes sharing the
	// folder may pass it by an eighth each between their measurements of
	// the folder. Default: 0, no cap.
	MaxCacheBytes int64
	// MaxBodyBytes is the largest body the RFC modes store; larger bodies,
	// or bodies of unknown length once they grow past it, stream through
	// unstored. Both RFC modes stream entries to and from their store, so
	// this bounds an entry's size, not memory. Default: 5 TiB, the largest
	// object S3 takes.
	MaxBodyBytes int64
	// S3Timeout bounds every S3 call of RFCS3 (for a body, the wait for its
	// first byte), within the request's own deadline; a call that runs out
	// of time is a miss or a dropped write. Default: 5 seconds.
	S3Timeout time.Duration
	// Redis makes the machines that share the RFCS3 bucket (and this
	// Redis) fetch each missing or stale entry once between them: the
	// leader for an entry holds a lock with a lease in Redis, renewed while
	// it downloads, and the others wait for it, then serve the committed
	// entry, or take over when a dead leader's lease runs out. It can be
	// the client of a ratelimit.NewRedisLimiter. A Redis that cannot be
	// reached costs a request at most a second, after which it goes on
	// coalesced within this process only (logged, and counted in
	// Stats.Cache.LockErrors). RFCS3 only: the file modes coordinate the
	// processes of one machine through their folder's locks. Default: nil,
	// misses are coalesced per process.
	Redis redis.UniversalClient
	// StaleIfError serves a stale cached entry (X-Cache: STALE) when the
	// origin answers 5xx or cannot be reached, at once: the retry stage
	// does not try such a request again first. Default: false.
	StaleIfError bool
	// Retry configures the retry stage between the cache and the limiter.
	// By default idempotent requests are retried after 429, 500, 502, 503,
	// 504 and transport errors that got no response, honouring Retry-After,
	// which also pauses every request to that host. A nil Retry.Block is
	// ratelimit.EDGARBlock: the SEC's block page pauses its hosts for 10
	// minutes (a Block that returns 0 turns that off). Every attempt spends
	// a limiter token. Default: the zero value, retry's defaults (4
	// attempts).
	Retry retry.Options
	// DisableRetry removes the retry stage: every answer and error goes
	// back to the caller as it came, and nothing pauses.
	DisableRetry bool
	// S3Client is the client for RFCS3. Default: loaded from the default AWS
	// configuration.
	S3Client *s3.Client
	// S3Bucket is the bucket for RFCS3, which requires it.
	S3Bucket string
	// S3Prefix is prepended to every key RFCS3 stores. Default: none.
	S3Prefix string
	// Base sends the requests that reach the network. Default: a clone of
	// http.DefaultTransport (proxies from the environment, HTTP/2 when the
	// server offers it) with more idle connections per host.
	Base http.RoundTripper
	// ForceHTTP1 makes the default base transport speak HTTP/1.1 only. Long
	// fan-out jobs have seen HTTP/2 connection resets against EDGAR. It is an
	// error together with Base.
	ForceHTTP1 bool
	// Logger receives warnings and debug lines. Default: discarded.
	Logger *slog.Logger
}

// Manager owns one chain of stages, the state they share (limiter, cache,
// counters) and a long-lived client. It is safe for concurrent use.
type Manager struct {
	cfg      Config
	logger   *slog.Logger
	limiter  *measuredLimiter // the PerHost over the configured limiter, counted
	base     http.RoundTripper
	ownsBase bool
	stats    counters
	cache    cacheStage
	retry    *retry.Transport // nil when disabled
	client   *http.Client
	closed   atomic.Bool
}

// New validates cfg and builds a Manager. Every configuration error names the
// field and value at fault.
func New(cfg Config) (*Manager, error) {
	if cfg.CacheMode == "" {
		cfg.CacheMode = Disabled
	}
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	matcher, err := rules.Compile(cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("throttlecache: Config.Rules: %w", err)
	}
	limiter, err := buildLimiter(cfg, m.logger)
	if err != nil {
		return nil, err
	}
	m.limiter = &measuredLimiter{l: limiter, stats: &m.stats}
	if !cfg.DisableRetry {
		ro := cfg.Retry
		if ro.Pauser == nil {
			ro.Pauser = limiter
		}
		if ro.Block == nil {
			ro.Block = ratelimit.EDGARBlock
		}
		if ro.Logger == nil {
			ro.Logger = m.logger
		}
		if m.retry, err = retry.New(nil, ro); err != nil {
			return nil, fmt.Errorf("throttlecache: Config.Retry: %w", err)
		}
	}
	m.base = cfg.Base
	if m.base == nil {
		m.base = defaultBase(cfg.ForceHTTP1)
		m.ownsBase = true
	}
	// The cache stage is built once, over nothing: each chain takes a view
	// of it over its own retry and rate-limit stages.
	if m.cache, err = newCacheStage(cfg, nil, matcher, m.logger); err != nil {
		m.closeBase()
		return nil, err
	}
	m.client = &http.Client{Transport: m.chain(m.base)}
	return m, nil
}

func validate(cfg *Config) error {
	if !isCacheMode(cfg.CacheMode) {
		valid := make([]string, len(cacheModes))
		for i, c := range cacheModes {
			valid[i] = fmt.Sprintf("%q", c)
		}
		return fmt.Errorf("throttlecache: Config.CacheMode %q is not a cache mode; use one of %s",
			cfg.CacheMode, strings.Join(valid, ", "))
	}
	switch cfg.CacheMode {
	case RFCFile, FileCache:
		if cfg.CacheDir == "" {
			return fmt.Errorf("throttlecache: Config.CacheDir is required for cache mode %q", cfg.CacheMode)
		}
	case RFCS3:
		if cfg.S3Bucket == "" {
			return fmt.Errorf("throttlecache: Config.S3Bucket is required for cache mode %q", cfg.CacheMode)
		}
	}
	r := cfg.RequestsPerSecond
	switch {
	case r < 0 || math.IsNaN(r) || math.IsInf(r, 0):
		return fmt.Errorf("throttlecache: Config.RequestsPerSecond %v: must be a positive number of requests per second, or 0 for the default of %d",
			r, DefaultRequestsPerSecond)
	case r > maxRequestsPerSecond:
		return fmt.Errorf("throttlecache: Config.RequestsPerSecond %v: above the most the built-in limiter keeps (%d); set DisableRateLimit for no limit",
			r, maxRequestsPerSecond)
	case r > 0 && r < minRequestsPerSecond:
		return fmt.Errorf("throttlecache: Config.RequestsPerSecond %v: below one request a day", r)
	}
	if cfg.MaxBodyBytes < 0 {
		return fmt.Errorf("throttlecache: Config.MaxBodyBytes %d: must not be negative", cfg.MaxBodyBytes)
	}
	if isNil(cfg.Redis) {
		return fmt.Errorf("throttlecache: Config.Redis is a nil %T: give a client, or leave the field nil", cfg.Redis)
	}
	if cfg.Redis != nil && cfg.CacheMode != RFCS3 {
		return fmt.Errorf("throttlecache: Config.Redis coordinates the cache mode %q only, not %q: the file modes coordinate the processes of one machine through their folder", RFCS3, cfg.CacheMode)
	}
	if cfg.S3Timeout < 0 {
		return fmt.Errorf("throttlecache: Config.S3Timeout %v: must not be negative", cfg.S3Timeout)
	}
	if cfg.MaxCacheBytes < 0 {
		return fmt.Errorf("throttlecache: Config.MaxCacheBytes %d: must not be negative", cfg.MaxCacheBytes)
	}
	if cfg.DisableRateLimit && cfg.Limiter != nil {
		return errors.New("throttlecache: Config.DisableRateLimit and Config.Limiter are both set: keep the one you mean")
	}
	if cfg.MaxWait < 0 {
		return fmt.Errorf("throttlecache: Config.MaxWait %v: must not be negative", cfg.MaxWait)
	}
	if cfg.ForceHTTP1 && cfg.Base != nil {
		return errors.New("throttlecache: Config.ForceHTTP1 applies to the default base transport; configure HTTP/1.1 on Config.Base instead")
	}
	for k, vs := range cfg.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("throttlecache: Config.Header: %q is not a header name (an HTTP token: letters, digits and !#$%%&'*+-.^_`|~)", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("throttlecache: Config.Header %q: value %q holds a control character (a line break, NUL or DEL)", k, v)
			}
		}
	}
	if !httpguts.ValidHeaderFieldValue(cfg.UserAgent) {
		return fmt.Errorf("throttlecache: Config.UserAgent %q holds a control character (a line break, NUL or DEL)", cfg.UserAgent)
	}
	if isNil(cfg.Limiter) {
		return fmt.Errorf("throttlecache: Config.Limiter is a nil %T: give a limiter, or leave the field nil for the built-in one", cfg.Limiter)
	}
	if isNil(cfg.Base) {
		return fmt.Errorf("throttlecache: Config.Base is a nil %T: give a transport, or leave the field nil for the default one", cfg.Base)
	}
	return nil
}

// isNil reports whether v is an interface that holds a nil pointer, map,
// func, channel or slice: not nil itself, yet every method call on it
// would panic or fail.
func isNil(v any) bool {
	if v == nil {
		return false
	}
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return r.IsNil()
	}
	return false
}

func isCacheMode(c CacheMode) bool {
	for _, v := range cacheModes {
		if c == v {
			return true
		}
	}
	return false
}

// prepareDir creates dir and checks that files can be created in it.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("throttlecache: Config.CacheDir %q: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".throttlecache-probe-*")
	if err != nil {
		return fmt.Errorf("throttlecache: Config.CacheDir %q is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("throttlecache: Config.CacheDir %q: %w", filepath.Clean(dir), err)
	}
	return nil
}

// buildLimiter returns the limiter the configuration asks for, behind a
// PerHost that keeps a pause per host: the retry stage tells it about a
// Retry-After or the SEC's block, and it holds back every request to that
// host, and passes the pause on to a limiter that can pause by itself (a
// PerHost or a shared window shares it with its other users). MaxWait
// bounds the wait for the limiter, not a pause: a pause is waited out
// unless the request's context ends first.
func buildLimiter(cfg Config, logger *slog.Logger) (*ratelimit.PerHost, error) {
	var l ratelimit.Limiter
	switch {
	case cfg.DisableRateLimit:
	case cfg.Limiter != nil:
		l = cfg.Limiter
	default:
		n, per := windowFor(cfg.RequestsPerSecond)
		w, err := ratelimit.NewSlidingWindow(n, per, &ratelimit.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("throttlecache: Config.RequestsPerSecond %v: %w", cfg.RequestsPerSecond, err)
		}
		l = w
	}
	if l != nil {
		l = ratelimit.WithMaxWait(l, cfg.MaxWait)
	}
	return ratelimit.NewPerHost(nil, l, &ratelimit.Options{Logger: logger})
}

// The range of Config.RequestsPerSecond. The built-in limiter remembers the
// last N start times, so N is kept to a size that costs little memory; one
// request a day is the slowest rate whose period is still a plain duration.
const (
	maxRequestsPerSecond = 100_000
	minRequestsPerSecond = 1.0 / 86400
)

// windowFor turns a rate into a strict window: whole requests per second,
// rounded down, or one request per 1/r seconds below one per second.
func windowFor(r float64) (int, time.Duration) {
	if r == 0 {
		r = DefaultRequestsPerSecond
	}
	if r >= 1 {
		return int(min(math.Floor(r), math.MaxInt32)), time.Second
	}
	return 1, time.Duration(float64(time.Second) / r)
}

// defaultBase returns the default base transport: http.DefaultTransport's
// settings, with enough idle connections per host for batch fan-out.
func defaultBase(forceHTTP1 bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	if forceHTTP1 {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP1(true)
	}
	return t
}

// Client returns the Manager's long-lived client. It is the same client on
// every call and is safe for concurrent use.
func (m *Manager) Client() *http.Client { return m.client }

// Transport returns the assembled chain over the Manager's base transport.
func (m *Manager) Transport() http.RoundTripper { return m.client.Transport }

// Wrap returns a copy of c whose transport is the Manager's chain over
// c.Transport (http.DefaultTransport when nil). Timeout, Jar and
// CheckRedirect are kept, and c is not modified. The copy shares the
// Manager's limiter, cache and counters. A nil c is treated as a zero client.
func (m *Manager) Wrap(c *http.Client) *http.Client {
	var nc http.Client
	if c != nil {
		nc = *c
	}
	base := nc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	nc.Transport = m.chain(base)
	return &nc
}

// Close releases the Manager's idle connections and background work, after
// waiting for FileCache entries still being committed (large bodies are
// committed just after the caller's EOF). Requests made after Close fail
// with ErrClosed. Close is idempotent. A Config.Base
// given by the caller is not closed: it belongs to the caller.
func (m *Manager) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	err := m.cache.close()
	m.closeBase()
	return err
}

func (m *Manager) closeBase() {
	if c, ok := m.base.(interface{ CloseIdleConnections() }); ok && m.ownsBase {
		c.CloseIdleConnections()
	}
}
