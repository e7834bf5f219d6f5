package retry

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/rules"
)

// A Pauser holds back every request to a host until a given time.
// *ratelimit.Gate and *ratelimit.PerHost (over Gates) implement it: give the
// retry stage the limiter of the rate-limit stage below it.
type Pauser interface {
	Pause(host string, until time.Time, reason string)
}

// The reasons the stage gives a Pauser, and counts in Stats.
const (
	// ReasonRetryAfter: a 429 or 503 with Retry-After.
	ReasonRetryAfter = "retry-after"
	// ReasonTooManyRequests: a 429 without Retry-After from a host not in
	// BlockHosts; the pause lasts the backoff.
	ReasonTooManyRequests = "429-backoff"
	// ReasonBlockPage: a 403 carrying the SEC's "Request Rate Threshold
	// Exceeded" page.
	ReasonBlockPage = "rate-threshold-page"
	// ReasonBlock429: a 429 without Retry-After from a host in BlockHosts.
	ReasonBlock429 = "429-without-retry-after"
)

// Options configures the retry stage. The zero value is ready to use: 4
// attempts, Retry-After honoured up to 10 minutes, backoff from 1 s to 30 s,
// SEC EDGAR's block recognised, no Pauser.
type Options struct {
	// MaxAttempts bounds the attempts per request, the first included.
	// Default: 4. 1 disables retries (block detection and pauses still
	// work).
	MaxAttempts int
	// MaxRetryAfter is the longest wait the stage takes on a server's word
	// (Retry-After, or the block pause). A longer Retry-After is not waited
	// out: the response goes back to the caller, and the Pauser pauses for
	// MaxRetryAfter only, so a bogus value cannot stop a program for days.
	// Default: 10 minutes.
	MaxRetryAfter time.Duration
	// BaseBackoff is the first backoff when the server gives no
	// Retry-After; it doubles with every attempt. Default: 1 second.
	BaseBackoff time.Duration
	// MaxBackoff caps the backoff. Default: 30 seconds.
	MaxBackoff time.Duration
	// Pauser is told about every pause, so that all requests to the host
	// hold back (see ratelimit.Gate). Default: nil, only the request that
	// was told waits.
	Pauser Pauser
	// BlockHosts is a regular expression on the host name (lower-cased,
	// without port; matched at the start, as in the rules package) for the
	// hosts whose block the stage recognises. Default:
	// ratelimit.EDGARHosts.
	BlockHosts string
	// BlockTitle is the text whose presence in a 403 from BlockHosts marks
	// the block page. Default: ratelimit.EDGARBlockTitle.
	BlockTitle string
	// BlockPause is how long a block pauses the host. Default:
	// ratelimit.EDGARBlockPause, 10 minutes.
	BlockPause time.Duration
	// DisableBlockDetection turns the block recognition off: a 403 is
	// always returned as it is, and a 429 without Retry-After backs off.
	DisableBlockDetection bool
	// Logger receives a warning for every pause and block, and a debug
	// line for every retry. Default: discarded.
	Logger *slog.Logger
}

// Transport is the retry stage. Build one with New; it is safe for
// concurrent use.
type Transport struct {
	next   http.RoundTripper
	o      Options
	block  *regexp.Regexp
	logger *slog.Logger

	// Replaceable in tests.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	rand  func() float64

	attempts, retries, waitTime, gaveUp, blocks atomic.Int64
	mu                                          sync.Mutex
	pauses                                      map[string]int64
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns the retry stage in front of next (nil means
// http.DefaultTransport). It fails when an option is out of range or
// BlockHosts does not compile.
func New(next http.RoundTripper, o Options) (*Transport, error) {
	if o.MaxAttempts < 0 {
		return nil, fmt.Errorf("retry: Options.MaxAttempts %d: must not be negative", o.MaxAttempts)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MaxRetryAfter", o.MaxRetryAfter}, {"BaseBackoff", o.BaseBackoff}, {"MaxBackoff", o.MaxBackoff}, {"BlockPause", o.BlockPause}} {
		if d.v < 0 {
			return nil, fmt.Errorf("retry: Options.%s %v: must not be negative", d.name, d.v)
		}
	}
	o.MaxAttempts = cmp.Or(o.MaxAttempts, 4)
	o.MaxRetryAfter = cmp.Or(o.MaxRetryAfter, 10*time.Minute)
	o.BaseBackoff = cmp.Or(o.BaseBackoff, time.Second)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, 30*time.Second)
	if o.MaxBackoff < o.BaseBackoff {
		return nil, fmt.Errorf("retry: Options.MaxBackoff %v is shorter than BaseBackoff %v", o.MaxBackoff, o.BaseBackoff)
	}
	o.BlockHosts = cmp.Or(o.BlockHosts, ratelimit.EDGARHosts)
	o.BlockTitle = cmp.Or(o.BlockTitle, ratelimit.EDGARBlockTitle)
	o.BlockPause = cmp.Or(o.BlockPause, ratelimit.EDGARBlockPause)
	t := &Transport{
		next:   cmp.Or[http.RoundTripper](next, http.DefaultTransport),
		o:      o,
		logger: o.Logger,
		now:    time.Now,
		sleep:  sleepCtx,
		rand:   defaultRand,
		pauses: make(map[string]int64),
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	if !o.DisableBlockDetection {
		re, err := rules.CompilePattern(o.BlockHosts)
		if err != nil {
			return nil, fmt.Errorf("retry: Options.BlockHosts %q: %w", o.BlockHosts, err)
		}
		t.block = re
	}
	return t, nil
}

// RoundTrip sends req, and sends it again (a clone, with the body from
// GetBody) while the server answers 429 or 503, or blocks the client, and
// the request can be retried. It returns the last response, or the error
// of the attempt that got none, or the context's error when the context
// ended during a wait.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	host := req.Host
	if req.URL != nil && req.URL.Host != "" {
		host = req.URL.Host
	}
	canRetry := replayable(req)
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			// Each attempt has its own request: the transport below may
			// still hold the previous one (a body being written).
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("retry: %s %s: replaying the body: %w", req.Method, redact(req), err)
				}
				r.Body = body
			}
		}
		t.attempts.Add(1)
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		wait, retry := t.decide(req, host, resp, attempt)
		if !retry {
			return resp, nil
		}
		why := ""
		switch {
		case !canRetry:
			why = "the request cannot be sent again"
		case attempt >= t.o.MaxAttempts:
			why = fmt.Sprintf("%d attempts made", attempt)
		default:
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				why = "the wait would outlast the request's deadline"
			}
		}
		if why != "" {
			t.gaveUp.Add(1)
			t.logger.Debug("retry: returning the response", "url", redact(req), "status", resp.StatusCode, "why", why)
			return resp, nil
		}
		discard(resp)
		t.retries.Add(1)
		t.logger.Debug("retry: waiting to try again", "url", redact(req), "status", resp.StatusCode,
			"wait", wait, "attempt", attempt+1)
		start := time.Now()
		err = t.sleep(ctx, wait)
		t.waitTime.Add(int64(time.Since(start)))
		if err != nil {
			return nil, err
		}
	}
}

// decide looks at a response: whether the request should be tried again
// (retry), and after what wait. It pauses the host when the response says
// so, whatever happens to the request.
func (t *Transport) decide(req *http.Request, host string, resp *http.Response, attempt int) (wait time.Duration, retry bool) {
	blockHost := t.block != nil && t.block.MatchString(ratelimit.Hostname(host))
	switch resp.StatusCode {
	case http.StatusForbidden:
		if !blockHost || !isBlockPage(resp, t.o.BlockTitle) {
			return 0, false
		}
		t.blocks.Add(1)
		t.pause(req, host, t.o.BlockPause, ReasonBlockPage, resp.StatusCode)
		return min(t.o.BlockPause, t.o.MaxRetryAfter), t.o.BlockPause <= t.o.MaxRetryAfter
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
	default:
		return 0, false
	}
	if ra, ok := RetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
		t.pause(req, host, min(ra, t.o.MaxRetryAfter), ReasonRetryAfter, resp.StatusCode)
		return ra, ra <= t.o.MaxRetryAfter
	}
	if resp.StatusCode == http.StatusTooManyRequests && blockHost {
		t.blocks.Add(1)
		t.pause(req, host, t.o.BlockPause, ReasonBlock429, resp.StatusCode)
		return min(t.o.BlockPause, t.o.MaxRetryAfter), t.o.BlockPause <= t.o.MaxRetryAfter
	}
	wait = backoff(attempt, t.o.BaseBackoff, t.o.MaxBackoff, t.rand)
	if resp.StatusCode == http.StatusTooManyRequests {
		t.pause(req, host, wait, ReasonTooManyRequests, resp.StatusCode)
	}
	return wait, true
}

// pause counts, logs and hands a pause to the Pauser.
func (t *Transport) pause(req *http.Request, host string, d time.Duration, reason string, status int) {
	if d <= 0 {
		return
	}
	t.mu.Lock()
	t.pauses[reason]++
	t.mu.Unlock()
	until := t.now().Add(d)
	level := slog.LevelWarn
	if reason == ReasonTooManyRequests {
		level = slog.LevelInfo
	}
	t.logger.Log(req.Context(), level, "retry: the server asked the client to hold back",
		"host", ratelimit.Hostname(host), "status", status, "reason", reason, "pause", d, "url", redact(req))
	if t.o.Pauser != nil {
		t.o.Pauser.Pause(host, until, reason)
	}
}

// Stats counts what the stage did since it was made.
type Stats struct {
	// Attempts is the number of requests sent to the next stage, first
	// attempts included.
	Attempts int64
	// Retries is the number of attempts after a first one.
	Retries int64
	// RetryWaitTime is the total time spent waiting between attempts.
	RetryWaitTime time.Duration
	// GaveUp is the number of retryable responses returned to the caller
	// without a retry: attempts used up, a body that cannot be replayed, a
	// wait beyond MaxRetryAfter or the request's deadline.
	GaveUp int64
	// Blocks is the number of times the SEC's block was recognised.
	Blocks int64
	// Pauses counts the pauses asked for, by reason (the Reason constants).
	Pauses map[string]int64
}

// Stats returns what the stage did since it was made.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	p := maps.Clone(t.pauses)
	t.mu.Unlock()
	return Stats{
		Attempts:      t.attempts.Load(),
		Retries:       t.retries.Load(),
		RetryWaitTime: time.Duration(t.waitTime.Load()),
		GaveUp:        t.gaveUp.Load(),
		Blocks:        t.blocks.Load(),
		Pauses:        p,
	}
}

// replayable reports whether req may be sent again: an idempotent method
// (RFC 9110) or an Idempotency-Key, with no body or a GetBody; any other
// method only with a GetBody.
func replayable(req *http.Request) bool {
	if req.GetBody != nil {
		return true
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func redact(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.Redacted()
}
