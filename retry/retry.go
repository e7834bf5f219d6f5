package retry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
	"github.com/throttlecache/throttlecache/rules"
)

// A Pauser holds back every request to a host until a given time.
// *ratelimit.PerHost implements it (a ratelimit.SharedWindow too, for the
// processes that share it): give the retry stage the limiter of the
// rate-limit stage below it.
type Pauser interface {
	Pause(host string, until time.Time, reason string)
}

// CheckRetry decides whether an attempt is tried again: after resp, or
// after err when no response arrived. A non-nil error ends the request
// with it. The default is [DefaultCheckRetry].
type CheckRetry func(ctx context.Context, req *http.Request, resp *http.Response, err error) (bool, error)

// Backoff returns the wait before the next attempt, after attempt (1 for
// the first) got resp (nil when it got no response). The default is
// [DefaultBackoff].
type Backoff func(min, max time.Duration, attempt int, resp *http.Response) time.Duration

// Block recognises a response that blocks the client (the SEC's block
// page, say): it returns how long to hold every request to the host back,
// and why, or 0. The request is tried again after the pause when it is not
// longer than Options.MaxRetryAfter. ratelimit.EDGARBlock is the SEC's.
type Block func(req *http.Request, resp *http.Response) (pause time.Duration, reason string)

// The reasons the stage gives a Pauser, and counts in Stats; a Block
// gives its own.
const (
	ReasonRetryAfter      = "retry-after" // a 429 or 503 with Retry-After
	ReasonTooManyRequests = "429-backoff" // a 429 without it: the host pauses for the backoff
)

// Options configures the retry stage. The zero value is ready to use: 4
// attempts, idempotent requests retried after transport errors and 429,
// 500, 502, 503 and 504, Retry-After honoured up to 10 minutes, backoff
// from 1 s to 30 s with jitter.
type Options struct {
	// MaxAttempts bounds the attempts per request, the first included.
	// Default: 4. 1 disables retries (Block and pauses still work).
	MaxAttempts int
	// MaxRetryAfter is the longest wait taken on a server's word
	// (Retry-After, or a Block's pause); a longer one is not waited out:
	// the response goes back to the caller, and the Pauser pauses for
	// MaxRetryAfter only. Default: 10 minutes.
	MaxRetryAfter time.Duration
	// MinBackoff and MaxBackoff bound the waits of Backoff. Defaults: 1
	// second and 30 seconds.
	MinBackoff, MaxBackoff time.Duration
	// CheckRetry decides what is tried again. Default: DefaultCheckRetry.
	CheckRetry CheckRetry
	// Backoff decides the waits. Default: DefaultBackoff.
	Backoff Backoff
	// Block recognises a block of the client. Default: none.
	Block Block
	// Pauser is told about every pause, so that all requests to the host
	// hold back. Default: nil, only the request that was told waits.
	Pauser Pauser
	// Logger receives a warning for every pause and a debug line for
	// every retry. Default: discarded.
	Logger *slog.Logger
}

// Transport is the retry stage. Build one with New; it is safe for
// concurrent use.
type Transport struct {
	next http.RoundTripper
	o    Options
	log  *slog.Logger
	now  func() time.Time // replaceable in tests
	// sleep waits d or until ctx ends; replaceable in tests.
	sleep func(ctx context.Context, d time.Duration) error
	*counts
}

// counts are shared by the Transports Over makes.
type counts struct {
	attempts, retries, waitTime, gaveUp, blocks atomic.Int64
	mu                                          sync.Mutex
	pauses                                      map[string]int64
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns the retry stage in front of next (nil means
// http.DefaultTransport). It fails when an option is out of range.
func New(next http.RoundTripper, o Options) (*Transport, error) {
	if o.MaxAttempts < 0 {
		return nil, fmt.Errorf("retry: Options.MaxAttempts %d: must not be negative", o.MaxAttempts)
	}
	for name, v := range map[string]time.Duration{"MaxRetryAfter": o.MaxRetryAfter, "MinBackoff": o.MinBackoff, "MaxBackoff": o.MaxBackoff} {
		if v < 0 {
			return nil, fmt.Errorf("retry: Options.%s %v: must not be negative", name, v)
		}
	}
	o.MaxAttempts = cmp.Or(o.MaxAttempts, 4)
	o.MaxRetryAfter = cmp.Or(o.MaxRetryAfter, 10*time.Minute)
	o.MinBackoff = cmp.Or(o.MinBackoff, time.Second)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, 30*time.Second)
	if o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("retry: Options.MaxBackoff %v is shorter than MinBackoff %v", o.MaxBackoff, o.MinBackoff)
	}
	if o.CheckRetry == nil {
		o.CheckRetry = DefaultCheckRetry
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	return &Transport{next: cmp.Or[http.RoundTripper](next, http.DefaultTransport), o: o,
		log: cmp.Or(o.Logger, slog.New(slog.DiscardHandler)), now: time.Now, sleep: sleepCtx,
		counts: &counts{pauses: make(map[string]int64)}}, nil
}

// Over returns a Transport with t's policy and counters that sends to next
// (nil: http.DefaultTransport).
func (t *Transport) Over(next http.RoundTripper) *Transport {
	c := *t
	c.next = cmp.Or[http.RoundTripper](next, http.DefaultTransport)
	return &c
}

// CloseIdleConnections closes the idle connections of the next stage, when
// it has any, so that http.Client.CloseIdleConnections reaches the network.
func (t *Transport) CloseIdleConnections() { httpbody.CloseIdle(t.next) }

// DefaultCheckRetry retries an idempotent request (GET, HEAD, OPTIONS,
// TRACE, PUT and DELETE, RFC 9110 §9.2.2, or one with an Idempotency-Key)
// whose body can be sent again, after 429, 500, 502, 503 or 504, or after a
// transport error where no response arrived (a reset or refused
// connection, an early EOF, a timeout dialling or waiting for the header).
// It never retries a POST or PATCH, nor once the context ended.
func DefaultCheckRetry(ctx context.Context, req *http.Request, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil || !Idempotent(req) {
		return false, nil
	}
	if err != nil {
		return transient(err), nil
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, nil
	}
	return false, nil
}

// Idempotent reports whether req may be sent again: an idempotent method or
// an Idempotency-Key, and no body or a GetBody to replay it.
func Idempotent(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// transient reports whether err says the request got no response for a
// reason that may pass: not the context, not a refusal of a limiter.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DefaultBackoff waits as a 429 or 503's Retry-After says, and otherwise
// min doubled for every attempt, at most max, with "equal jitter" (half
// fixed, half random) so that clients told to back off at the same moment
// do not come back together.
func DefaultBackoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if ra, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return ra
		}
	}
	d := max
	if attempt-1 < 62 && min<<(attempt-1) > 0 && min<<(attempt-1) < max {
		d = min << (attempt - 1)
	}
	return d/2 + time.Duration(rand.Float64()*float64(d/2))
}

// RoundTrip sends req, and sends it again (a clone, with the body from
// GetBody) while CheckRetry says so, or a Block's pause ends, within
// MaxAttempts. It returns the last response, or the error of the attempt
// that got none, or the context's error when it ended during a wait.
//
// A request the cache stage above will answer from a stale entry when it
// fails (StaleIfError, stale-if-error) is not tried again after a 5xx or a
// transport error: the stale entry is the answer, at once, rather than
// after the backoff. A Retry-After still pauses the host.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	host := req.Host
	if req.URL != nil && req.URL.Host != "" {
		host = req.URL.Host
	}
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 { // the transport below may still hold the previous request
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("retry: %s %s: replaying the body: %w", req.Method, req.URL.Redacted(), err)
				}
				r.Body = body
			}
		}
		t.attempts.Add(1)
		resp, err := t.next.RoundTrip(r)
		wait, again, why, stop := t.decide(ctx, req, host, resp, err, attempt)
		if stop != nil { // CheckRetry's error ends the request with it
			if resp != nil {
				httpbody.Discard(resp.Body)
			}
			return nil, stop
		}
		if !again {
			if why != "" {
				t.gaveUp.Add(1)
				t.log.Debug("retry: giving up", "url", req.URL.Redacted(), "why", why)
			}
			return resp, err
		}
		if resp != nil {
			httpbody.Discard(resp.Body)
		}
		t.retries.Add(1)
		t.log.Debug("retry: waiting to try again", "url", req.URL.Redacted(), "wait", wait, "attempt", attempt+1, "err", err)
		start := time.Now()
		err = t.sleep(ctx, wait)
		t.waitTime.Add(int64(time.Since(start)))
		if err != nil {
			return nil, err
		}
	}
}

// decide says whether the attempt is tried again, after what wait, and,
// when a retryable answer is not, why. It pauses the host when the answer
// says so, whatever happens to the request.
func (t *Transport) decide(ctx context.Context, req *http.Request, host string, resp *http.Response, err error,
	attempt int) (wait time.Duration, again bool, why string, stop error) {
	block := time.Duration(0)
	if resp != nil && t.o.Block != nil {
		var reason string
		if block, reason = t.o.Block(req, resp); block > 0 {
			t.blocks.Add(1)
			t.pause(req, host, min(block, t.o.MaxRetryAfter), reason)
		}
	}
	ra, hasRA := retryAfter(resp)
	if hasRA && block == 0 {
		t.pause(req, host, min(ra, t.o.MaxRetryAfter), ReasonRetryAfter)
	}
	retry, cerr := t.o.CheckRetry(ctx, req, resp, err)
	switch {
	case cerr != nil:
		return 0, false, "", cerr
	case retry && req.Body != nil && req.Body != http.NoBody && req.GetBody == nil:
		return 0, false, "its body cannot be sent again (no GetBody)", nil
	case retry && cachestatus.HasStale(ctx) && (resp == nil || resp.StatusCode >= 500):
		return 0, false, "the cache above answers it from a stale entry", nil
	case block > 0 && Idempotent(req):
		wait, retry = block, block <= t.o.MaxRetryAfter
	case !retry:
		return 0, false, "", nil
	default:
		wait = t.o.Backoff(t.o.MinBackoff, t.o.MaxBackoff, attempt, resp)
		if hasRA {
			retry = ra <= t.o.MaxRetryAfter
		} else if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			t.pause(req, host, wait, ReasonTooManyRequests)
		}
	}
	switch {
	case !retry:
		return 0, false, "the server asked for a longer wait than MaxRetryAfter", nil
	case attempt >= t.o.MaxAttempts:
		return 0, false, fmt.Sprintf("%d attempts made", attempt), nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		return 0, false, "the wait would outlast the request's deadline", nil
	}
	return wait, true, "", nil
}

// retryAfter returns the Retry-After of a 429 or 503.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	return RetryAfter(resp.Header.Get("Retry-After"), time.Now())
}

// pause counts, logs and hands a pause to the Pauser.
func (t *Transport) pause(req *http.Request, host string, d time.Duration, reason string) {
	if d <= 0 {
		return
	}
	t.mu.Lock()
	t.pauses[reason]++
	t.mu.Unlock()
	level := slog.LevelWarn
	if reason == ReasonTooManyRequests {
		level = slog.LevelInfo
	}
	t.log.Log(req.Context(), level, "retry: the server asked the client to hold back",
		"host", rules.Hostname(host), "reason", reason, "pause", d, "url", req.URL.Redacted())
	if t.o.Pauser != nil {
		t.o.Pauser.Pause(host, t.now().Add(d), reason)
	}
}

// Stats counts what the stage did since it was made.
type Stats struct {
	Attempts      int64            // requests sent to the next stage, first attempts included
	Retries       int64            // attempts after a first one
	RetryWaitTime time.Duration    // time spent waiting between attempts
	GaveUp        int64            // retryable answers returned without a retry: attempts used up, a wait too long, a stale entry above
	Blocks        int64            // responses Block recognised
	Pauses        map[string]int64 // pauses asked for, by reason; nil when none
}

// Stats returns what the stage did since it was made.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	var p map[string]int64
	if len(t.pauses) > 0 {
		p = maps.Clone(t.pauses)
	}
	t.mu.Unlock()
	return Stats{Attempts: t.attempts.Load(), Retries: t.retries.Load(), RetryWaitTime: time.Duration(t.waitTime.Load()),
		GaveUp: t.gaveUp.Load(), Blocks: t.blocks.Load(), Pauses: p}
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
