package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// fake replaces the stage's clock and sleep: waits are recorded, not slept.
type fake struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fake) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

// noJitter is DefaultBackoff's schedule without its random half.
func noJitter(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if ra, ok := retryAfter(resp); ok {
		return ra
	}
	return min(hi, lo<<(attempt-1))
}

func newFake(t *testing.T, next http.RoundTripper, o Options) (*Transport, *fake) {
	t.Helper()
	if o.Backoff == nil {
		o.Backoff = noJitter
	}
	rt, err := New(next, o)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	rt.now = func() time.Time { return epoch }
	rt.sleep = f.sleep
	return rt, f
}

// pauses records what a Pauser is told.
type pauses struct {
	mu  sync.Mutex
	got []string
}

func (p *pauses) Pause(host string, until time.Time, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, until.Sub(epoch).String()+" "+reason)
}

func do(t *testing.T, rt http.RoundTripper, method, url string, body io.Reader) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b), nil
}

// blockOn is a Block that recognises a 403 whose body says "blocked".
func blockOn(req *http.Request, resp *http.Response) (time.Duration, string) {
	if resp.StatusCode != http.StatusForbidden {
		return 0, ""
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	if strings.Contains(string(b), "blocked") {
		return 10 * time.Minute, "block"
	}
	return 0, ""
}

func TestRetryResponses(t *testing.T) {
	ok := testserver.Status(200, "ok")
	tests := []struct {
		name       string
		o          Options
		method     string
		handler    http.Handler
		wantStatus int
		wantBody   string
		wantHits   int64
		wantWaits  []time.Duration
		wantPauses []string
		anyPauses  bool // the pause depends on the real clock
	}{
		{name: "429 with Retry-After in seconds", handler: testserver.Sequence(testserver.Status(429, "slow down", "Retry-After", "2"), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2, wantWaits: []time.Duration{2 * time.Second}, wantPauses: []string{"2s retry-after"}},
		{name: "503 with Retry-After as a date",
			handler:    testserver.Sequence(testserver.Status(503, "later", "Retry-After", time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2, anyPauses: true},
		{name: "500, 502, 503 and 504 back off", handler: testserver.Sequence(testserver.Status(500, "x"), testserver.Status(502, "x"),
			testserver.Status(503, "x"), testserver.Status(504, "x"), ok), o: Options{MaxAttempts: 5},
			wantStatus: 200, wantBody: "ok", wantHits: 5, wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{name: "429 without Retry-After backs off and pauses", handler: testserver.Sequence(testserver.Status(429, "x"), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2, wantWaits: []time.Duration{time.Second}, wantPauses: []string{"1s 429-backoff"}},
		{name: "attempts are bounded; the last response is returned whole", o: Options{MaxAttempts: 3},
			handler: testserver.Status(503, "still down"), wantStatus: 503, wantBody: "still down", wantHits: 3,
			wantWaits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "Retry-After above the ceiling is returned, pause capped", o: Options{MaxRetryAfter: time.Minute},
			handler: testserver.Status(429, "come back tomorrow", "Retry-After", "86400"), wantStatus: 429, wantBody: "come back tomorrow",
			wantHits: 1, wantPauses: []string{"1m0s retry-after"}},
		{name: "other statuses are returned", handler: testserver.Status(404, "no"), wantStatus: 404, wantBody: "no", wantHits: 1},
		{name: "a POST is sent once on 503", method: http.MethodPost, handler: testserver.Status(503, "busy"),
			wantStatus: 503, wantBody: "busy", wantHits: 1},
		{name: "a PATCH is sent once on 429", method: http.MethodPatch, handler: testserver.Status(429, "x", "Retry-After", "1"),
			wantStatus: 429, wantBody: "x", wantHits: 1, wantPauses: []string{"1s retry-after"}},
		{name: "a Block pauses and retries after the pause", o: Options{Block: blockOn},
			handler: testserver.Sequence(testserver.Status(403, "you are blocked"), ok), wantStatus: 200, wantBody: "ok", wantHits: 2,
			wantWaits: []time.Duration{10 * time.Minute}, wantPauses: []string{"10m0s block"}},
		{name: "another 403 is returned as it is", o: Options{Block: blockOn}, handler: testserver.Status(403, "User-Agent not declared"),
			wantStatus: 403, wantBody: "User-Agent not declared", wantHits: 1},
		{name: "a Block longer than MaxRetryAfter is returned", o: Options{Block: blockOn, MaxRetryAfter: time.Minute},
			handler: testserver.Status(403, "blocked"), wantStatus: 403, wantBody: "blocked", wantHits: 1, wantPauses: []string{"1m0s block"}},
		{name: "no retries", o: Options{MaxAttempts: 1}, handler: testserver.Status(429, "x", "Retry-After", "1"),
			wantStatus: 429, wantBody: "x", wantHits: 1, wantPauses: []string{"1s retry-after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/x", tt.handler)
			p := &pauses{}
			tt.o.Pauser = p
			rt, f := newFake(t, nil, tt.o)
			var body io.Reader
			if tt.method == http.MethodPost || tt.method == http.MethodPatch {
				body = strings.NewReader("payload") // replayable, but not idempotent
			}
			resp, got, err := do(t, rt, tt.method, srv.URL+"/x", body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || got != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, got, tt.wantStatus, tt.wantBody)
			}
			if hits := srv.Hits("/x"); hits != tt.wantHits {
				t.Errorf("%d requests reached the origin, want %d", hits, tt.wantHits)
			}
			if tt.wantWaits != nil && fmt.Sprint(f.waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits %v, want %v", f.waits, tt.wantWaits)
			}
			if !tt.anyPauses && fmt.Sprint(p.got) != fmt.Sprint(tt.wantPauses) && !(len(p.got) == 0 && tt.wantPauses == nil) {
				t.Errorf("pauses %q, want %q", p.got, tt.wantPauses)
			}
			if s := rt.Stats(); s.Attempts != tt.wantHits || s.Retries != tt.wantHits-1 {
				t.Errorf("Stats = %+v", s)
			}
		})
	}
}

// flaky fails its first n round trips with err, then answers 200.
type flaky struct {
	n     atomic.Int32
	err   error
	calls atomic.Int32
}

func (f *flaky) RoundTrip(req *http.Request) (*http.Response, error) {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return nil, f.err
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestTransportErrors: an idempotent request that got no response for a
// reason that may pass is tried again; the context's errors and a POST are
// not.
func TestTransportErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		method string
		calls  int32
		ok     bool
	}{
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, "GET", 3, true},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "GET", 3, true},
		{"EOF", io.EOF, "GET", 3, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, "HEAD", 3, true},
		{"dial timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, "DELETE", 3, true},
		{"a POST after a reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, "POST", 1, false},
		{"canceled", context.Canceled, "GET", 1, false},
		{"deadline", context.DeadlineExceeded, "GET", 1, false},
		{"other", errors.New("x509: certificate signed by unknown authority"), "GET", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &flaky{err: tc.err}
			next.n.Store(2)
			rt, _ := newFake(t, next, Options{})
			resp, body, err := do(t, rt, tc.method, "http://example.com/x", nil)
			if tc.ok != (err == nil) || next.calls.Load() != tc.calls {
				t.Fatalf("%d calls, %v; want %d calls, success %v", next.calls.Load(), err, tc.calls, tc.ok)
			}
			if tc.ok && (resp.StatusCode != 200 || body != "ok") {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if !tc.ok && !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
		})
	}
}

func TestDefaultCheckRetry(t *testing.T) {
	ctx := context.Background()
	oneShot := func() io.Reader { return io.NopCloser(strings.NewReader("x")) }
	for _, tc := range []struct {
		method string
		body   io.Reader
		header string
		status int
		want   bool
	}{
		{"GET", nil, "", 503, true}, {"HEAD", nil, "", 502, true}, {"OPTIONS", nil, "", 504, true}, {"TRACE", nil, "", 500, true},
		{"PUT", strings.NewReader("x"), "", 429, true}, {"DELETE", nil, "", 503, true},
		{"PUT", oneShot(), "", 503, false}, {"POST", strings.NewReader("x"), "", 503, false}, {"PATCH", nil, "", 503, false},
		{"POST", strings.NewReader("x"), "Idempotency-Key", 503, true}, {"POST", oneShot(), "Idempotency-Key", 503, false},
		{"GET", nil, "", 200, false}, {"GET", nil, "", 404, false}, {"GET", nil, "", 403, false}, {"GET", nil, "", 501, false},
	} {
		req, _ := http.NewRequest(tc.method, "http://x/", tc.body)
		if tc.header != "" {
			req.Header.Set(tc.header, "k1")
		}
		if got, _ := DefaultCheckRetry(ctx, req, &http.Response{StatusCode: tc.status}, nil); got != tc.want {
			t.Errorf("%s %d (body %T, %s): %v, want %v", tc.method, tc.status, tc.body, tc.header, got, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	req, _ := http.NewRequest("GET", "http://x/", nil)
	if got, _ := DefaultCheckRetry(cancelled, req, &http.Response{StatusCode: 503}, nil); got {
		t.Error("retried after the context ended")
	}
}

func TestDefaultBackoff(t *testing.T) {
	for attempt := 1; attempt <= 8; attempt++ {
		d := DefaultBackoff(time.Second, 30*time.Second, attempt, nil)
		full := min(30*time.Second, time.Second<<(attempt-1))
		if d < full/2 || d > full {
			t.Errorf("attempt %d: %v, want within [%v, %v]", attempt, d, full/2, full)
		}
	}
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}}
	if d := DefaultBackoff(time.Second, 30*time.Second, 1, resp); d != 7*time.Second {
		t.Errorf("with Retry-After 7: %v", d)
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []Options{{MaxAttempts: -1}, {MinBackoff: -1}, {MaxBackoff: -1}, {MaxRetryAfter: -1},
		{MinBackoff: time.Minute, MaxBackoff: time.Second}} {
		if _, err := New(nil, o); err == nil || !strings.HasPrefix(err.Error(), "retry: Options.") {
			t.Errorf("New(%+v) = %v, want an error naming the option", o, err)
		}
	}
}

// TestRetryReplaysBody checks that a PUT with GetBody is sent again whole.
func TestRetryReplaysBody(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	var mu sync.Mutex
	var bodies []string
	srv.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		first := len(bodies) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, "done")
	})
	rt, _ := newFake(t, nil, Options{})
	resp, _, err := do(t, rt, http.MethodPut, srv.URL+"/put", strings.NewReader("payload"))
	if err != nil || resp.StatusCode != 200 || fmt.Sprint(bodies) != "[payload payload]" {
		t.Fatalf("%v, %v, bodies %q", resp, err, bodies)
	}
}

// TestRetryContext uses real time: a cancelled context ends the wait at
// once, and a wait past the deadline is not started.
func TestRetryContext(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.Status(429, "x", "Retry-After", "60"))
	rt, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	if resp != nil || !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("RoundTrip = %v, %v after %v; want the context's error at once", resp, err, time.Since(start))
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	start = time.Now()
	resp, err = rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 429 || time.Since(start) > time.Second {
		t.Fatalf("RoundTrip = %v, %v after %v; want the 429 back at once", resp, err, time.Since(start))
	}
	resp.Body.Close()
}

// TestStaleAboveIsNotRetried: a request whose failure the cache above
// answers from a stale entry gets its 5xx or transport error back at once,
// and a Retry-After still pauses the host; a 429 is still waited out, since
// the cache serves stale only for 5xx and errors.
func TestStaleAboveIsNotRetried(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/down", testserver.Status(503, "down", "Retry-After", "3"))
	srv.Handle("/slow", testserver.Sequence(testserver.Status(429, "slow down", "Retry-After", "2"), testserver.Status(200, "ok")))
	p := &pauses{}
	rt, f := newFake(t, nil, Options{Pauser: p})
	get := func(path string) (int, error) {
		req, _ := http.NewRequestWithContext(cachestatus.WithStale(context.Background()), http.MethodGet, srv.URL+path, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get("/down"); err != nil || code != 503 || srv.Hits("/down") != 1 || len(f.waits) != 0 {
		t.Fatalf("a 503 with a stale entry above: %d %v, %d attempts, waits %v; want the 503 after one attempt", code, err, srv.Hits("/down"), f.waits)
	}
	if fmt.Sprint(p.got) != "[3s retry-after]" {
		t.Fatalf("pauses %q, want the host paused for its Retry-After", p.got)
	}
	if code, err := get("/slow"); err != nil || code != 200 || srv.Hits("/slow") != 2 {
		t.Fatalf("a 429 with a stale entry above: %d %v, %d attempts; want it waited out", code, err, srv.Hits("/slow"))
	}
	next := &flaky{err: io.ErrUnexpectedEOF}
	next.n.Store(2)
	rt2, _ := newFake(t, next, Options{})
	req, _ := http.NewRequestWithContext(cachestatus.WithStale(context.Background()), http.MethodGet, "http://example.com/x", nil)
	if _, err := rt2.RoundTrip(req); !errors.Is(err, io.ErrUnexpectedEOF) || next.calls.Load() != 1 {
		t.Fatalf("a transport error with a stale entry above: %v after %d calls; want it back after one", err, next.calls.Load())
	}
	if s := rt.Stats(); s.GaveUp != 1 || s.Retries != 1 {
		t.Fatalf("stats %+v: want the stale case given up once, the 429 retried once", s)
	}
}
