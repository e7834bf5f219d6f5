package throttlecache

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/gregjones/httpcache"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/filecache"
	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/retry"
	"github.com/throttlecache/throttlecache/rfccache"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func newManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestNewValidates(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{"unknown mode", Config{CacheMode: "memory"},
			[]string{"Config.CacheMode", `"memory"`, `"disabled"`, `"rfc-file"`, `"rfc-s3"`, `"filecache"`}},
		{"filecache without dir", Config{CacheMode: FileCache}, []string{"Config.CacheDir", "filecache"}},
		{"rfc-file without dir", Config{CacheMode: RFCFile}, []string{"Config.CacheDir", "rfc-file"}},
		{"rfc-s3 without bucket", Config{CacheMode: RFCS3}, []string{"Config.S3Bucket", "rfc-s3"}},
		{"negative rate", Config{RequestsPerSecond: -1}, []string{"Config.RequestsPerSecond", "-1"}},
		{"NaN rate", Config{RequestsPerSecond: nan()}, []string{"Config.RequestsPerSecond", "NaN"}},
		{"bad host pattern", Config{Rules: rules.Rules{{Host: "([a-z", Paths: []rules.Path{{Match: "/", MaxAge: time.Second}}}}},
			[]string{"Config.Rules", `"([a-z"`}},
		{"bad path pattern", Config{Rules: rules.Rules{{Host: ".*", Paths: []rules.Path{{Match: "/x[", MaxAge: time.Second}}}}},
			[]string{"Config.Rules", `"/x["`}},
		{"negative max wait", Config{MaxWait: -time.Second}, []string{"Config.MaxWait"}},
		{"huge rate", Config{RequestsPerSecond: 1e12}, []string{"Config.RequestsPerSecond", "DisableRateLimit"}},
		{"no limit and a limiter", Config{DisableRateLimit: true, Limiter: rate.NewLimiter(rate.Inf, 1)}, []string{"Config.DisableRateLimit", "Config.Limiter"}},
		{"tiny rate", Config{RequestsPerSecond: 1e-12}, []string{"Config.RequestsPerSecond", "a day"}},
		{"header value with newline", Config{Header: http.Header{"X-A": {"a\r\nX-Evil: 1"}}}, []string{"Config.Header", `"X-A"`}},
		{"negative retry option", Config{Retry: retry.Options{MinBackoff: -time.Second}}, []string{"Config.Retry", "MinBackoff"}},
		{"force HTTP/1 with a base", Config{ForceHTTP1: true, Base: http.DefaultTransport}, []string{"Config.ForceHTTP1", "Config.Base"}},
		{"bad header name", Config{Header: http.Header{"Bad Name": {"x"}}}, []string{"Config.Header", `"Bad Name"`}},
		{"user agent with newline", Config{UserAgent: "a\r\nX-Evil: 1"}, []string{"Config.UserAgent"}},
		{"user agent with NUL", Config{UserAgent: "a\x00b"}, []string{"Config.UserAgent", "control character"}},
		{"header value with DEL", Config{Header: http.Header{"X-A": {"a\x7fb"}}}, []string{"Config.Header", `"X-A"`, "control character"}},
		{"header name with parentheses", Config{Header: http.Header{"X(A)": {"x"}}}, []string{"Config.Header", `"X(A)"`, "token"}},
		{"header name with a slash", Config{Header: http.Header{"X/A": {"x"}}}, []string{"Config.Header", `"X/A"`}},
		{"empty header name", Config{Header: http.Header{"": {"x"}}}, []string{"Config.Header", `""`}},
		{"typed-nil limiter", Config{Limiter: (*ratelimit.SharedWindow)(nil)}, []string{"Config.Limiter", "*ratelimit.SharedWindow"}},
		{"typed-nil base", Config{Base: (*http.Transport)(nil)}, []string{"Config.Base", "*http.Transport"}},
		{"Redis with a file mode", Config{CacheMode: FileCache, CacheDir: t.TempDir(), Redis: redis.NewClient(&redis.Options{})}, []string{"Config.Redis", `"rfc-s3"`, `"filecache"`}},
		{"typed-nil Redis", Config{CacheMode: RFCS3, S3Bucket: "b", Redis: (*redis.Client)(nil)}, []string{"Config.Redis", "*redis.Client"}},
		{"cache dir under a file", Config{CacheMode: FileCache, CacheDir: filepath.Join(file, "cache")}, []string{"Config.CacheDir", file}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.cfg)
			if err == nil {
				m.Close()
				t.Fatal("New accepted a bad configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestNewCreatesCacheDir(t *testing.T) {
	for _, mode := range []CacheMode{RFCFile, FileCache} {
		t.Run(string(mode), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "b", "cache")
			m := newManager(t, Config{CacheMode: mode, CacheDir: dir})
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Fatalf("CacheDir not created: %v", err)
			}
			if !reflect.DeepEqual(m.Stats(), Stats{}) {
				t.Fatalf("fresh Manager has stats %+v", m.Stats())
			}
		})
	}
}

func TestZeroConfig(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("hello")))
	m := newManager(t, Config{})
	resp, body := get(t, m.Client(), srv.URL+"/x")
	if body != "hello" || resp.Header.Get(CacheStatusHeader) != CacheBypass {
		t.Fatalf("body %q, X-Cache %q", body, resp.Header.Get(CacheStatusHeader))
	}
	if c1, c2 := m.Client(), m.Client(); c1 != c2 {
		t.Fatal("Client() returns a new client each time")
	}
	if m.Client().Transport != m.Transport() {
		t.Fatal("Transport() is not the client's transport")
	}
}

func TestUserAgentAndHeaders(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	m := newManager(t, Config{
		UserAgent: "Example Corp admin@example.com",
		Header:    http.Header{"Accept-Language": {"en"}},
	})
	tests := []struct {
		name       string
		set        http.Header
		wantUA     string
		wantAccept string
	}{
		{"none set", nil, "Example Corp admin@example.com", "en"},
		{"caller's own kept", http.Header{"User-Agent": {"mine/1.0"}, "Accept-Language": {"fr"}}, "mine/1.0", "fr"},
		// An empty User-Agent is net/http's way of sending none.
		{"explicit empty User-Agent kept", http.Header{"User-Agent": {""}}, "", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Reset()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
			for k, v := range tt.set {
				req.Header[k] = v
			}
			before := req.Header.Clone()
			resp, err := m.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := srv.Requests()[0].Header
			if _, sent := got["User-Agent"]; sent != (tt.wantUA != "") {
				t.Fatalf("origin saw User-Agent %q", got["User-Agent"])
			}
			if got.Get("User-Agent") != tt.wantUA || got.Get("Accept-Language") != tt.wantAccept {
				t.Fatalf("origin saw User-Agent %q, Accept-Language %q", got.Get("User-Agent"), got.Get("Accept-Language"))
			}
			if len(req.Header) != len(before) || req.Header.Get("User-Agent") != before.Get("User-Agent") {
				t.Fatal("the caller's request was modified")
			}
		})
	}
}

type countingRT struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestWrap(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	srv.Handle("/redirect", testserver.Status(http.StatusFound, "", "Location", "/x"))

	m := newManager(t, Config{UserAgent: "ua/1"})
	jar, _ := cookiejar.New(nil)
	base := &countingRT{next: http.DefaultTransport}
	redirects := 0
	orig := &http.Client{
		Transport: base,
		Timeout:   7 * time.Second,
		Jar:       jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			redirects++
			return http.ErrUseLastResponse
		},
	}
	w := m.Wrap(orig)
	if w == orig || orig.Transport != base {
		t.Fatal("Wrap modified or returned the original client")
	}
	if w.Timeout != orig.Timeout || w.Jar != orig.Jar || w.CheckRedirect == nil {
		t.Fatal("Wrap lost Timeout, Jar or CheckRedirect")
	}
	resp, _ := get(t, w, srv.URL+"/redirect")
	if resp.StatusCode != http.StatusFound || redirects != 1 {
		t.Fatalf("status %d, CheckRedirect called %d times", resp.StatusCode, redirects)
	}
	if base.n.Load() != 1 {
		t.Fatalf("the wrapped client's transport carried %d requests, want 1", base.n.Load())
	}
	if ua := srv.Requests()[0].Header.Get("User-Agent"); ua != "ua/1" {
		t.Fatalf("User-Agent %q through Wrap", ua)
	}
	if s := m.Stats(); s.Requests != 1 || s.Network.Requests != 1 {
		t.Fatalf("Wrap's requests not counted by the Manager: %+v", s)
	}
	// A nil client and a client without transport use http.DefaultTransport.
	for _, c := range []*http.Client{nil, {}} {
		if _, body := get(t, m.Wrap(c), srv.URL+"/x"); body != "x" {
			t.Fatalf("body %q", body)
		}
	}
}

// idleCloser is a base transport that counts CloseIdleConnections calls.
type idleCloser struct {
	http.RoundTripper
	closed atomic.Int32
}

func (c *idleCloser) CloseIdleConnections() { c.closed.Add(1) }

// TestCloseIdleConnectionsReachesBase checks that a client's
// CloseIdleConnections reaches the transport under the chain, as
// go-retryablehttp expects of a wrapped client.
func TestCloseIdleConnectionsReachesBase(t *testing.T) {
	for _, mode := range []CacheMode{Disabled, FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			base := &idleCloser{RoundTripper: http.DefaultTransport}
			wrapped := &idleCloser{RoundTripper: http.DefaultTransport}
			m := newManager(t, Config{CacheMode: mode, CacheDir: t.TempDir(), Base: base})
			w := m.Wrap(&http.Client{Transport: wrapped})
			w.CloseIdleConnections()
			if wrapped.closed.Load() != 1 || base.closed.Load() != 0 {
				t.Fatalf("Wrap(c).CloseIdleConnections reached c's transport %d times, the Manager's %d",
					wrapped.closed.Load(), base.closed.Load())
			}
			m.Client().CloseIdleConnections()
			if base.closed.Load() != 1 {
				t.Fatalf("Client().CloseIdleConnections reached the base %d times", base.closed.Load())
			}
		})
	}
}

// TestStagesForwardCloseIdleConnections composes the stages by hand, as a
// user of the packages would, and checks that an http.Client's
// CloseIdleConnections reaches the base through each of them.
func TestStagesForwardCloseIdleConnections(t *testing.T) {
	base := &idleCloser{RoundTripper: http.DefaultTransport}
	rt, err := retry.New(ratelimit.New(base, nil), retry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fc, err := filecache.New(rt, filecache.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	rc, err := rfccache.New(ratelimit.New(base, nil), httpcache.NewMemoryCache(), rfccache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for i, rt := range []http.RoundTripper{ratelimit.New(base, nil), rt, fc, rc} {
		(&http.Client{Transport: rt}).CloseIdleConnections()
		if got := base.closed.Load(); got != int32(i+1) {
			t.Fatalf("stage %d (%T): the base saw %d calls, want %d", i, rt, got, i+1)
		}
	}
}

// TestWrapSharesStages checks that a client from Wrap goes through the
// Manager's retry stage and cache, and is counted by them: a reset is
// retried, and the entry it stores is a HIT for the Manager's own client.
func TestWrapSharesStages(t *testing.T) {
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/x", testserver.Sequence(testserver.Reset(), testserver.NewResource([]byte("body"))))
			m := newManager(t, Config{CacheMode: mode, CacheDir: t.TempDir(), DisableRateLimit: true, Retry: fastRetry,
				Rules: rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{{Match: `/x`, MaxAge: time.Hour}}}}})
			base := &countingRT{next: http.DefaultTransport}
			if _, body := get(t, m.Wrap(&http.Client{Transport: base}), srv.URL+"/x"); body != "body" {
				t.Fatalf("body %q through Wrap", body)
			}
			resp, body := get(t, m.Client(), srv.URL+"/x")
			if body != "body" || resp.Header.Get(CacheStatusHeader) != CacheHit {
				t.Fatalf("Manager's client after Wrap's miss: %q, X-Cache %q", body, resp.Header.Get(CacheStatusHeader))
			}
			s := m.Stats()
			if base.n.Load() != 2 || s.Retry.Retries != 1 || s.Cache.Misses != 1 || s.Cache.Hits != 1 || s.Network.Requests != 2 {
				t.Fatalf("wrapped base carried %d requests; stats %+v", base.n.Load(), s)
			}
		})
	}
}

// TestWrapSharesLimiter checks that clients from Wrap and the Manager's own
// client spend tokens of one limiter.
func TestWrapSharesLimiter(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	m := newManager(t, Config{RequestsPerSecond: 1, MaxWait: 50 * time.Millisecond})
	get(t, m.Client(), srv.URL+"/x")
	_, err := m.Wrap(&http.Client{}).Get(srv.URL + "/x")
	if !errors.Is(err, ratelimit.ErrMaxWait) {
		t.Fatalf("second request through Wrap = %v, want ErrMaxWait from the shared limiter", err)
	}
}

func TestClose(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	m := newManager(t, Config{})
	get(t, m.Client(), srv.URL+"/x")
	for range 2 {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Client().Get(srv.URL + "/x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after Close = %v, want ErrClosed", err)
	}
	if srv.Hits("/x") != 1 {
		t.Fatal("a request after Close reached the origin")
	}
}

func TestMaxWait(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	tests := []struct {
		name string
		cfg  Config
	}{
		{"built-in limiter", Config{RequestsPerSecond: 1, MaxWait: 100 * time.Millisecond}},
		{"custom limiter", Config{Limiter: rate.NewLimiter(1, 1), MaxWait: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, tt.cfg)
			get(t, m.Client(), srv.URL+"/x")
			_, err := m.Client().Get(srv.URL + "/x")
			if !errors.Is(err, ratelimit.ErrMaxWait) {
				t.Fatalf("second request = %v, want ErrMaxWait", err)
			}
			if !strings.Contains(err.Error(), "maximum") {
				t.Errorf("error %q does not say why", err)
			}
			if s := m.Stats(); s.Limiter.Errors != 1 || s.Network.Requests != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestDisableRateLimit(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	m := newManager(t, Config{RequestsPerSecond: 1, DisableRateLimit: true, MaxWait: time.Millisecond})
	for range 20 {
		get(t, m.Client(), srv.URL+"/x")
	}
	if s := m.Stats(); s.Limiter.Waits != 0 || s.Limiter.Errors != 0 || s.Network.Requests != 20 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWindowFor(t *testing.T) {
	tests := []struct {
		rps float64
		n   int
		per time.Duration
	}{
		{0, 10, time.Second},
		{10, 10, time.Second},
		{9.5, 9, time.Second},
		{1, 1, time.Second},
		{0.5, 1, 2 * time.Second},
		{0.25, 1, 4 * time.Second},
	}
	for _, tt := range tests {
		n, per := windowFor(tt.rps)
		if n != tt.n || per != tt.per {
			t.Errorf("windowFor(%v) = %d per %v, want %d per %v", tt.rps, n, per, tt.n, tt.per)
		}
	}
}

// TestLimitAtOrigin measures the default limiter where it matters: 35
// concurrent requests at 10 per second may not put more than 10 into any
// one-second window at the origin.
func TestLimitAtOrigin(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	m := newManager(t, Config{})
	urls := make([]string, 35)
	for i := range urls {
		urls[i] = srv.URL + "/x"
	}
	start := time.Now()
	for _, r := range m.GetBatch(context.Background(), urls, WithConcurrency(35)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	elapsed := time.Since(start)
	got := testserver.MaxInWindow(srv.ArrivalTimes(), time.Second)
	s := m.Stats()
	t.Logf("35 requests at 10/s: largest count in any 1s window %d, elapsed %v, %d waits, %v waited",
		got, elapsed.Round(time.Millisecond), s.Limiter.Waits, s.Limiter.WaitTime.Round(time.Millisecond))
	if got > 10 {
		t.Fatalf("%d requests in one second at the origin, limit 10", got)
	}
	if s.Limiter.Waits < 25 {
		t.Fatalf("only %d requests waited; at least 25 had to", s.Limiter.Waits)
	}
}

func TestStats(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	body := strings.Repeat("b", 1000)
	srv.Handle("/x", testserver.NewResource([]byte(body)))
	m := newManager(t, Config{DisableRateLimit: true, Retry: retry.Options{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}})
	for range 3 {
		get(t, m.Client(), srv.URL+"/x")
	}
	_, err := m.Client().Get("http://127.0.0.1:1/refused")
	if err == nil {
		t.Fatal("request to a closed port succeeded")
	}
	s := m.Stats()
	// The refused connection is tried 4 times, then given up.
	want := Stats{
		Requests: 4,
		Cache:    CacheStats{Bypass: 3},
		Retry:    RetryStats{Attempts: 7, Retries: 3, GaveUp: 1},
		Network:  NetworkStats{Requests: 7, Errors: 4, Bytes: 3000},
	}
	if s.Retry.RetryWaitTime <= 0 {
		t.Errorf("RetryWaitTime %v after 3 retries", s.Retry.RetryWaitTime)
	}
	s.Limiter.WaitTime, s.Retry.RetryWaitTime = 0, 0
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Stats() = %+v, want %+v", s, want)
	}
}

func TestForceHTTP1(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, force := range []bool{false, true} {
		tr := defaultBase(force)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		_, proto := get(t, &http.Client{Transport: tr}, srv.URL)
		want := "HTTP/2.0"
		if force {
			want = "HTTP/1.1"
		}
		if proto != want {
			t.Errorf("ForceHTTP1=%v: server saw %s, want %s", force, proto, want)
		}
		if tr.Proxy == nil {
			t.Error("the default base ignores proxy environment variables")
		}
	}
}

func TestContextCancelsLimiterWait(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	m := newManager(t, Config{RequestsPerSecond: 0.01})
	get(t, m.Client(), srv.URL+"/x")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	errc := make(chan error, 1)
	go func() {
		_, err := m.Client().Do(req)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled request = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelling the context did not end the limiter wait")
	}
	if srv.Hits("/x") != 1 {
		t.Fatal("the cancelled request reached the origin")
	}
}

// TestTransportDirect uses the chain as a bare RoundTripper, with a request
// whose Header is nil (http.Client would have filled it in).
func TestTransportDirect(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("x")))
	m := newManager(t, Config{UserAgent: "ua/2"})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	req.Header = nil
	resp, err := m.Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ua := srv.Requests()[0].Header.Get("User-Agent"); ua != "ua/2" || req.Header != nil {
		t.Fatalf("User-Agent %q; caller's header %v", ua, req.Header)
	}
}

// TestCacheStatusVocabulary keeps the public names and the stages' shared
// vocabulary the same words.
func TestCacheStatusVocabulary(t *testing.T) {
	pairs := [][2]string{
		{CacheStatusHeader, cachestatus.Header}, {CacheHit, cachestatus.Hit}, {CacheMiss, cachestatus.Miss},
		{CacheRevalidated, cachestatus.Revalidated}, {CacheStale, cachestatus.Stale}, {CacheBypass, cachestatus.Bypass},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("%q != %q", p[0], p[1])
		}
	}
}

// TestLimiterWaitTimeout checks that a request the limiter holds past
// Client.Timeout, or past its context's deadline, fails with a timeout as
// the network would: url.Error.Timeout() true, wrapping
// context.DeadlineExceeded, in every cache mode.
func TestLimiterWaitTimeout(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/", testserver.Status(200, "ok"))
	for _, mode := range []CacheMode{Disabled, FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			m := newManager(t, Config{CacheMode: mode, CacheDir: t.TempDir(), RequestsPerSecond: 1})
			get(t, m.Client(), srv.URL+"/first")
			c := m.Wrap(&http.Client{Timeout: 200 * time.Millisecond})
			_, err := c.Get(srv.URL + "/second")
			var ue *url.Error
			if !errors.As(err, &ue) || !ue.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait past Client.Timeout = %v (Timeout() %v), want a timeout wrapping context.DeadlineExceeded",
					err, ue != nil && ue.Timeout())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/third", nil)
			_, err = m.Client().Do(req)
			if !errors.As(err, &ue) || !ue.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait past the context's deadline = %v, want a timeout", err)
			}
		})
	}
}
