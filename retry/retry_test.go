package retry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/testserver"
	"github.com/throttlecache/throttlecache/ratelimit"
)

var (
	_ Pauser = (*ratelimit.Gate)(nil)
	_ Pauser = (*ratelimit.PerHost)(nil)
	_ Pauser = (*ratelimit.FileLimiter)(nil)
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

func newFake(t *testing.T, next http.RoundTripper, o Options) (*Transport, *fake) {
	t.Helper()
	rt, err := New(next, o)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	rt.now = func() time.Time { return epoch }
	rt.sleep = f.sleep
	rt.rand = func() float64 { return 1 }
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
	p.got = append(p.got, host+" "+until.Sub(epoch).String()+" "+reason)
}

func get(t *testing.T, rt http.RoundTripper, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{epoch.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{epoch.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Thursday, 02-Jan-25 03:05:05 GMT", time.Minute, true}, // RFC 850
		{"99999999999999999999999", math.MaxInt64, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := RetryAfter(tt.in, epoch)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 1, time.Second},
		{2, 1, 2 * time.Second},
		{4, 0.5, 6 * time.Second},
		{6, 1, 30 * time.Second}, // capped
		{100, 0, 15 * time.Second},
	}
	for _, tt := range tests {
		if got := backoff(tt.attempt, time.Second, 30*time.Second, func() float64 { return tt.rnd }); got != tt.want {
			t.Errorf("backoff(%d, rnd %v) = %v, want %v", tt.attempt, tt.rnd, got, tt.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"negative attempts", Options{MaxAttempts: -1}},
		{"negative ceiling", Options{MaxRetryAfter: -time.Second}},
		{"max below base", Options{BaseBackoff: time.Minute, MaxBackoff: time.Second}},
		{"bad block hosts", Options{BlockHosts: `([a-z`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(nil, tt.o); err == nil {
				t.Fatal("New accepted a bad configuration")
			}
		})
	}
}

// TestRetryResponses runs the stage against an origin for each kind of
// answer, with a fake sleep.
func TestRetryResponses(t *testing.T) {
	ok := testserver.Status(200, "ok")
	blockPage := "<html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head><body>Your request rate exceeded…</body></html>"
	tests := []struct {
		name       string
		o          Options
		handler    http.Handler
		wantStatus int
		wantBody   string
		wantHits   int64
		wantWaits  []time.Duration
		wantPauses []string
	}{
		{
			name:       "429 with Retry-After in seconds",
			handler:    testserver.Sequence(testserver.Status(429, "slow down", "Retry-After", "2"), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2,
			wantWaits:  []time.Duration{2 * time.Second},
			wantPauses: []string{"2s retry-after"},
		},
		{
			name:       "503 with Retry-After as a date",
			handler:    testserver.Sequence(testserver.Status(503, "later", "Retry-After", epoch.Add(time.Minute).Format(http.TimeFormat)), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2,
			wantWaits:  []time.Duration{time.Minute},
			wantPauses: []string{"1m0s retry-after"},
		},
		{
			name:       "503 without Retry-After backs off, no pause",
			handler:    testserver.Sequence(testserver.Status(503, "x"), testserver.Status(503, "x"), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 3,
			wantWaits: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:       "429 without Retry-After elsewhere backs off and pauses",
			o:          Options{BlockHosts: `www\.sec\.gov$`},
			handler:    testserver.Sequence(testserver.Status(429, "x"), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2,
			wantWaits:  []time.Duration{time.Second},
			wantPauses: []string{"1s 429-backoff"},
		},
		{
			name:       "attempts are bounded; the last response is returned whole",
			o:          Options{MaxAttempts: 3},
			handler:    testserver.Status(503, "still down"),
			wantStatus: 503, wantBody: "still down", wantHits: 3,
			wantWaits: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:       "Retry-After above the ceiling is returned, pause capped",
			o:          Options{MaxRetryAfter: time.Minute},
			handler:    testserver.Status(429, "come back tomorrow", "Retry-After", "86400"),
			wantStatus: 429, wantBody: "come back tomorrow", wantHits: 1,
			wantPauses: []string{"1m0s retry-after"},
		},
		{
			name:       "the block page pauses for ten minutes, then retries",
			o:          Options{BlockHosts: `127\.0\.0\.1$`},
			handler:    testserver.Sequence(testserver.Status(403, blockPage, "Content-Type", "text/html"), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2,
			wantWaits:  []time.Duration{10 * time.Minute},
			wantPauses: []string{"10m0s rate-threshold-page"},
		},
		{
			name:       "a 429 without Retry-After from a block host is the block",
			o:          Options{BlockHosts: `127\.0\.0\.1$`, BlockPause: 3 * time.Minute},
			handler:    testserver.Sequence(testserver.Status(429, "x"), ok),
			wantStatus: 200, wantBody: "ok", wantHits: 2,
			wantWaits:  []time.Duration{3 * time.Minute},
			wantPauses: []string{"3m0s 429-without-retry-after"},
		},
		{
			name:       "another 403 from a block host is returned as it is",
			o:          Options{BlockHosts: `127\.0\.0\.1$`},
			handler:    testserver.Status(403, "Your User-Agent is not declared"),
			wantStatus: 403, wantBody: "Your User-Agent is not declared", wantHits: 1,
		},
		{
			name:       "the block page from another host is returned as it is",
			handler:    testserver.Status(403, blockPage),
			wantStatus: 403, wantBody: blockPage, wantHits: 1,
		},
		{
			name:       "block detection off",
			o:          Options{BlockHosts: `127\.0\.0\.1$`, DisableBlockDetection: true},
			handler:    testserver.Status(403, blockPage),
			wantStatus: 403, wantBody: blockPage, wantHits: 1,
		},
		{
			name:       "no retries",
			o:          Options{MaxAttempts: 1},
			handler:    testserver.Status(429, "x", "Retry-After", "1"),
			wantStatus: 429, wantBody: "x", wantHits: 1,
			wantPauses: []string{"1s retry-after"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/x", tt.handler)
			p := &pauses{}
			tt.o.Pauser = p
			rt, f := newFake(t, nil, tt.o)
			resp, body := get(t, rt, srv.URL+"/x")
			if resp.StatusCode != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if hits := srv.Hits("/x"); hits != tt.wantHits {
				t.Errorf("%d requests reached the origin, want %d", hits, tt.wantHits)
			}
			if !equal(f.waits, tt.wantWaits) {
				t.Errorf("waits %v, want %v", f.waits, tt.wantWaits)
			}
			var want []string
			for _, w := range tt.wantPauses {
				want = append(want, "127.0.0.1:"+portOf(srv.URL)+" "+w)
			}
			if !equal(p.got, want) {
				t.Errorf("pauses %q, want %q", p.got, want)
			}
			s := rt.Stats()
			if s.Attempts != tt.wantHits || s.Retries != tt.wantHits-1 {
				t.Errorf("Stats = %+v", s)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func portOf(u string) string { return u[strings.LastIndexByte(u, ':')+1:] }

// roundTripFunc answers without a network, for hosts such as www.sec.gov.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type trackBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackBody) Close() error { b.closed.Store(true); return nil }

func canned(status int, body string, header ...string) (*http.Response, *trackBody) {
	b := &trackBody{Reader: strings.NewReader(body)}
	h := make(http.Header)
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: b}, b
}

// TestEDGARDefaults checks that the zero Options recognise the SEC's block
// on EDGAR hosts, and that discarded responses are closed.
func TestEDGARDefaults(t *testing.T) {
	page := strings.Repeat(" ", 1000) + "<TITLE>Request Rate Threshold Exceeded</TITLE>"
	tests := []struct {
		name, url string
		first     func() (*http.Response, *trackBody)
		reason    string
	}{
		{"403 page", "https://www.sec.gov/cgi-bin/browse-edgar", func() (*http.Response, *trackBody) { return canned(403, page) }, ReasonBlockPage},
		{"429 without Retry-After", "https://data.sec.gov/submissions/CIK0000320193.json", func() (*http.Response, *trackBody) { return canned(429, "") }, ReasonBlock429},
		{"bare sec.gov", "https://SEC.GOV:443/x", func() (*http.Response, *trackBody) { return canned(429, "") }, ReasonBlock429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, firstBody := tt.first()
			n := 0
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				n++
				if n == 1 {
					return first, nil
				}
				resp, _ := canned(200, "filing")
				return resp, nil
			})
			gate := &ratelimit.Gate{}
			rt, f := newFake(t, next, Options{Pauser: gate})
			rt.now = time.Now
			resp, body := get(t, rt, tt.url)
			if resp.StatusCode != 200 || body != "filing" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if !equal(f.waits, []time.Duration{10 * time.Minute}) {
				t.Fatalf("waits %v", f.waits)
			}
			if !firstBody.closed.Load() {
				t.Fatal("the discarded response was not closed")
			}
			until, reason := gate.PausedUntil("www.sec.gov")
			if reason != tt.reason || time.Until(until) < 9*time.Minute {
				t.Fatalf("gate paused until %v for %q", until, reason)
			}
			if s := rt.Stats(); s.Blocks != 1 || s.Pauses[tt.reason] != 1 {
				t.Fatalf("Stats = %+v", s)
			}
		})
	}
}

// TestForbiddenBodyUnchanged checks that a 403 that is not the block page
// reaches the caller byte for byte, even when much longer than the peek,
// and that a read error after the peeked bytes is passed on.
func TestForbiddenBodyUnchanged(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	big := bytes.Repeat([]byte("forbidden, and not because of the rate. "), 2000)
	srv.Handle("/big", testserver.Status(403, string(big)))
	srv.Handle("/short", testserver.Status(403, "no"))
	srv.Handle("/empty", testserver.Status(403, ""))
	rt, _ := newFake(t, nil, Options{BlockHosts: `127\.0\.0\.1$`})
	for path, want := range map[string]string{"/big": string(big), "/short": "no", "/empty": ""} {
		resp, body := get(t, rt, srv.URL+path)
		if resp.StatusCode != 403 || body != want {
			t.Errorf("%s: got %d, %d bytes; want 403, %d bytes", path, resp.StatusCode, len(body), len(want))
		}
	}

	boom := errors.New("connection reset")
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 403, Header: http.Header{},
			Body: io.NopCloser(io.MultiReader(strings.NewReader("partial"), errReader{boom}))}, nil
	})
	rt2, _ := newFake(t, next, Options{BlockHosts: `x$`})
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	resp, err := rt2.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if string(b) != "partial" || !errors.Is(err, boom) {
		t.Fatalf("read %q, %v; want the peeked bytes then the error", b, err)
	}
}

func TestReplayable(t *testing.T) {
	body := func() io.Reader { return &trackBody{Reader: strings.NewReader("x")} } // no GetBody
	tests := []struct {
		name   string
		method string
		body   io.Reader
		header string
		want   bool
	}{
		{"GET", "GET", nil, "", true},
		{"HEAD", "HEAD", nil, "", true},
		{"OPTIONS", "OPTIONS", nil, "", true},
		{"DELETE", "DELETE", nil, "", true},
		{"PUT with a replayable body", "PUT", strings.NewReader("x"), "", true},
		{"PUT with a one-shot body", "PUT", body(), "", false},
		{"POST without a body", "POST", nil, "", false},
		{"POST with a replayable body", "POST", strings.NewReader("x"), "", true},
		{"POST with a one-shot body", "POST", body(), "", false},
		{"POST with an Idempotency-Key", "POST", nil, "Idempotency-Key", true},
		{"PATCH", "PATCH", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://x/", tt.body)
			if tt.header != "" {
				req.Header.Set(tt.header, "k1")
			}
			if got := replayable(req); got != tt.want {
				t.Fatalf("replayable = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRetryReplaysBody checks that a POST with GetBody is sent again whole,
// and that a POST with a one-shot body is not retried.
func TestRetryReplaysBody(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	var mu sync.Mutex
	var bodies []string
	first := true
	srv.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		again := first
		first = false
		mu.Unlock()
		if again {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		io.WriteString(w, "done")
	})
	rt, _ := newFake(t, nil, Options{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/post", strings.NewReader("payload"))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !equal(bodies, []string{"payload", "payload"}) {
		t.Fatalf("status %d, bodies %q", resp.StatusCode, bodies)
	}

	mu.Lock()
	first, bodies = true, nil
	mu.Unlock()
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/post", io.NopCloser(strings.NewReader("once")))
	resp, err = rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || len(bodies) != 1 || rt.Stats().GaveUp != 1 {
		t.Fatalf("status %d, bodies %q, stats %+v: a one-shot body was retried", resp.StatusCode, bodies, rt.Stats())
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
	if resp != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("RoundTrip = %v, %v; want the context's error", resp, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancellation took %v", d)
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	start = time.Now()
	resp, err = rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 429 {
		t.Fatalf("RoundTrip = %v, %v; want the 429 back at once", resp, err)
	}
	resp.Body.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v: the stage waited although the deadline was too close", d)
	}
}

// TestPauseHoldsEveryGoroutine runs the whole chain in real time: one
// request gets a 429 with Retry-After: 1; requests from other goroutines
// that start after it must not reach the origin before the second is over.
func TestPauseHoldsEveryGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/first", testserver.Status(429, "x", "Retry-After", "1"))
	srv.Handle("/other", testserver.Status(200, "ok"))
	w, _ := ratelimit.NewSlidingWindow(100, time.Second)
	gate := ratelimit.NewGate(w)
	rt, err := New(ratelimit.New(nil, gate), Options{Pauser: gate, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	resp, err := client.Get(srv.URL + "/first")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	told := srv.Requests()[0].At
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/other")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	for _, r := range srv.Requests()[1:] {
		if d := r.At.Sub(told); d < 900*time.Millisecond {
			t.Errorf("a request from another goroutine reached the origin %v after the 429", d)
		}
	}
	if s := gate.Stats(); s.Waits != 5 || s.Reasons[ReasonRetryAfter] != 1 {
		t.Fatalf("gate stats %+v", s)
	}
}
