package throttlecache

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/retry"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestRetryAfterPausesTheHost checks the retry stage in the Manager's chain:
// a 429 with Retry-After is retried after the pause, the pause holds back
// every other request to that host, and other hosts go on, whatever the
// limiter: built in, none, or a custom one that cannot pause by itself.
func TestRetryAfterPausesTheHost(t *testing.T) {
	plain, err := ratelimit.NewSlidingWindow(100, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	perHost, err := ratelimit.NewPerHost([]ratelimit.HostLimit{{Pattern: `127\.0\.0\.1`, Limiter: plain}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	file, err := ratelimit.NewFileLimiter(filepath.Join(t.TempDir(), "state"), 100, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       Config
		pausesAll bool // the limiter shares one pause among all its hosts
	}{
		{"built-in", Config{RequestsPerSecond: 100}, false},
		{"no limit", Config{DisableRateLimit: true}, false},
		{"per-host over plain windows", Config{Limiter: perHost}, false},
		// A FileLimiter keeps the pause in its file, for every process and
		// every host that shares it.
		{"file limiter with max wait", Config{Limiter: file, MaxWait: 5 * time.Second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/busy", testserver.Sequence(
				testserver.Status(http.StatusTooManyRequests, "slow down", "Retry-After", "1"),
				testserver.Status(http.StatusOK, "done"),
			))
			srv.Handle("/other", testserver.Status(http.StatusOK, "other"))
			other := testserver.New() // a second host: 127.0.0.1 and localhost are different names
			defer other.Close()
			other.Handle("/x", testserver.Status(http.StatusOK, "x"))
			otherURL := "http://localhost" + other.URL[len("http://127.0.0.1"):]

			m := newManager(t, tt.cfg)
			start := time.Now()
			var wg sync.WaitGroup
			var sameHost, otherHost time.Duration
			wg.Go(func() {
				resp, body := get(t, m.Client(), srv.URL+"/busy")
				if resp.StatusCode != http.StatusOK || body != "done" {
					t.Errorf("after the retry: %d %q", resp.StatusCode, body)
				}
			})
			time.Sleep(200 * time.Millisecond) // the 429 has arrived and paused the host
			wg.Go(func() {
				get(t, m.Client(), srv.URL+"/other")
				sameHost = time.Since(start)
			})
			wg.Go(func() {
				get(t, m.Client(), otherURL+"/x")
				otherHost = time.Since(start)
			})
			wg.Wait()
			if sameHost < 900*time.Millisecond {
				t.Errorf("a request to the paused host went out after %v, before the pause ended", sameHost)
			}
			if !tt.pausesAll && otherHost > 800*time.Millisecond {
				t.Errorf("a request to another host waited %v for a pause that was not its own", otherHost)
			}
			if tt.pausesAll && otherHost < 900*time.Millisecond {
				t.Errorf("the shared limiter did not get the pause: another host went after %v", otherHost)
			}
			s := m.Stats()
			if s.Retry.Retries != 1 || s.Retry.Pauses[retry.ReasonRetryAfter] != 1 || s.Limiter.PauseWaits < 1 || s.Network.Requests != 4 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestDisableRetry(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/busy", testserver.Status(http.StatusServiceUnavailable, "down", "Retry-After", "1"))
	m := newManager(t, Config{DisableRetry: true})
	resp, _ := get(t, m.Client(), srv.URL+"/busy")
	if resp.StatusCode != http.StatusServiceUnavailable || srv.Hits("/busy") != 1 || m.Stats().Retry.Retries != 0 {
		t.Fatalf("status %d, %d origin hits", resp.StatusCode, srv.Hits("/busy"))
	}
}

// TestRetrySpendsTokens checks the order of the chain: each attempt passes
// the limiter, so retries cannot exceed the rate.
func TestRetrySpendsTokens(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/flaky", testserver.Sequence(
		testserver.Status(http.StatusServiceUnavailable, "", "Retry-After", "0"),
		testserver.Status(http.StatusServiceUnavailable, "", "Retry-After", "0"),
		testserver.Status(http.StatusOK, "ok"),
	))
	m := newManager(t, Config{RequestsPerSecond: 2, Retry: retry.Options{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}})
	res := m.GetBatch(context.Background(), []string{srv.URL + "/flaky"})
	if res[0].Err != nil || string(res[0].Body) != "ok" {
		t.Fatalf("%+v", res[0])
	}
	s := m.Stats()
	if s.Retry.Retries != 2 || s.Network.Requests != 3 || s.Limiter.Waits < 1 {
		t.Fatalf("stats %+v: the retries did not go through the limiter", s)
	}
}

func TestRetryConfigErrors(t *testing.T) {
	_, err := New(Config{Retry: retry.Options{MaxAttempts: -1}})
	if err == nil || !strings.Contains(err.Error(), "Config.Retry") {
		t.Fatalf("New = %v, want an error naming Config.Retry", err)
	}
}

// fastRetry is the default policy with millisecond waits.
var fastRetry = retry.Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

// TestRetryTransientFailures is the policy seen from outside: a GET that
// meets two connection resets and a 502 succeeds, in every cache mode; a
// POST with a body is sent once on 503, and once on a reset.
func TestRetryTransientFailures(t *testing.T) {
	for _, mode := range []CacheMode{Disabled, FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/flaky", testserver.Sequence(testserver.Reset(), testserver.Reset(),
				testserver.Status(http.StatusBadGateway, "bad gateway"), testserver.NewResource([]byte("filing"))))
			srv.Handle("/post", testserver.Status(http.StatusServiceUnavailable, "busy"))
			srv.Handle("/post-reset", testserver.Reset())
			cfg := Config{CacheMode: mode, Retry: fastRetry, DisableRateLimit: true}
			if mode != Disabled {
				cfg.CacheDir = t.TempDir()
			}
			m := newManager(t, cfg)
			resp, body := get(t, m.Client(), srv.URL+"/flaky")
			if resp.StatusCode != http.StatusOK || body != "filing" || srv.Hits("/flaky") != 4 {
				t.Fatalf("got %d %q after %d origin hits, want 200 \"filing\" after 4", resp.StatusCode, body, srv.Hits("/flaky"))
			}
			if s := m.Stats(); s.Retry.Retries != 3 {
				t.Errorf("%d retries, want 3", s.Retry.Retries)
			}

			resp, err := m.Client().Post(srv.URL+"/post", "text/plain", strings.NewReader("order=1"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || srv.Hits("/post") != 1 {
				t.Fatalf("POST: %d after %d origin hits, want 503 after 1", resp.StatusCode, srv.Hits("/post"))
			}
			if _, err := m.Client().Post(srv.URL+"/post-reset", "text/plain", strings.NewReader("order=2")); err == nil {
				t.Fatal("a POST that met a reset succeeded")
			}
			if n := srv.Hits("/post-reset"); n != 1 {
				t.Fatalf("a POST that met a reset was sent %d times", n)
			}
		})
	}
}

// TestBatchItemsRecover: 20 batch items whose first attempt meets a reset
// all succeed, each attempt passing the limiter, in both batch calls.
func TestBatchItemsRecover(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	urls := make([]string, 20)
	var targets []Target
	dir := t.TempDir()
	for i := range urls {
		path := fmt.Sprintf("/item/%d", i)
		srv.Handle(path, testserver.Sequence(testserver.Reset(), testserver.NewResource([]byte("item "+path))))
		urls[i] = srv.URL + path
		targets = append(targets, Target{URL: urls[i], Path: filepath.Join(dir, fmt.Sprint(i))})
	}
	lim := &countingLimiter{}
	// net/http sends a request again by itself, once and without asking
	// the limiter, when a reused connection closes before answering; with
	// a new connection for every request every resend is the retry stage's.
	base := &http.Transport{DisableKeepAlives: true}
	defer base.CloseIdleConnections()
	m := newManager(t, Config{Retry: fastRetry, Limiter: lim, Base: base})
	for i, r := range m.GetBatch(context.Background(), urls, WithConcurrency(8)) {
		if r.Err != nil || string(r.Body) != fmt.Sprintf("item /item/%d", i) {
			t.Errorf("item %d: %q, %v", i, r.Body, r.Err)
		}
	}
	s := m.Stats()
	if s.Retry.Retries != 20 || s.Network.Requests != 40 || s.Network.Errors != 20 || lim.n.Load() != 40 || srv.TotalHits() != 40 {
		t.Fatalf("stats %+v, %d limiter waits: want 20 retries among 40 network requests, each through the limiter", s, lim.n.Load())
	}
	for i := range urls {
		srv.Handle(fmt.Sprintf("/item/%d", i), testserver.Sequence(testserver.Reset(), testserver.NewResource([]byte("file"))))
	}
	for i, r := range m.GetBatchToFiles(context.Background(), targets, WithConcurrency(8)) {
		b, _ := os.ReadFile(targets[i].Path)
		if r.Err != nil || string(b) != "file" {
			t.Errorf("item %d: %q, %v", i, b, r.Err)
		}
	}
}

// countingLimiter lets every request go and counts them.
type countingLimiter struct{ n atomic.Int64 }

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.n.Add(1)
	return ctx.Err()
}
