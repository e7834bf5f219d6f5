package throttlecache

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/testserver"
	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/retry"
)

// TestRetryAfterPausesTheHost checks the retry stage in the Manager's chain:
// a 429 with Retry-After is retried after the pause, the pause holds back
// every other request to that host, and other hosts go on, whatever the
// limiter: built in, none, or a custom one that cannot pause by itself.
func TestRetryAfterPausesTheHost(t *testing.T) {
	plain, err := ratelimit.NewSlidingWindow(100, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	perHost, err := ratelimit.NewPerHost([]ratelimit.HostLimit{{Pattern: `127\.0\.0\.1`, Limiter: plain}}, ratelimit.Unlimited())
	if err != nil {
		t.Fatal(err)
	}
	file, err := ratelimit.NewFileLimiter(filepath.Join(t.TempDir(), "state"), 100, time.Second)
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
			if s.Retries != 1 || s.Pauses[retry.ReasonRetryAfter] != 1 || s.PauseWaits < 1 || s.NetworkRequests != 4 {
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
	if resp.StatusCode != http.StatusServiceUnavailable || srv.Hits("/busy") != 1 || m.Stats().Retries != 0 {
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
	m := newManager(t, Config{RequestsPerSecond: 2, Retry: retry.Options{BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond}})
	res := m.GetBatch(context.Background(), []string{srv.URL + "/flaky"})
	if res[0].Err != nil || string(res[0].Body) != "ok" {
		t.Fatalf("%+v", res[0])
	}
	s := m.Stats()
	if s.Retries != 2 || s.NetworkRequests != 3 || s.LimiterWaits < 1 {
		t.Fatalf("stats %+v: the retries did not go through the limiter", s)
	}
}

func TestRetryConfigErrors(t *testing.T) {
	_, err := New(Config{Retry: retry.Options{MaxAttempts: -1}})
	if err == nil || !strings.Contains(err.Error(), "Config.Retry") {
		t.Fatalf("New = %v, want an error naming Config.Retry", err)
	}
}
