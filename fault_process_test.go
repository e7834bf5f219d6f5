package throttlecache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// Fault tests with several processes: the test binary runs itself as the
// children (TestFaultChild), which do nothing in an ordinary run.

const (
	envChild  = "THROTTLECACHE_FAULT_CHILD" // the child's job: "writer" or "shared"
	envMode   = "THROTTLECACHE_FAULT_MODE"
	envDir    = "THROTTLECACHE_FAULT_DIR"
	envOrigin = "THROTTLECACHE_FAULT_ORIGIN"
	envState  = "THROTTLECACHE_FAULT_LIMITER"
	envUntil  = "THROTTLECACHE_FAULT_UNTIL"
)

// versionedOrigin serves /f/v/<size>/<key>: every request gets a new version
// of the body, named in X-Version, so any body can be checked against the
// headers it came with.
func versionedOrigin() http.Handler {
	var counter atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.ParseInt(strings.Split(r.URL.Path, "/")[3], 10, 64)
		v := counter.Add(1)
		w.Header().Set("X-Version", strconv.FormatInt(v, 10))
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.Header().Set("Cache-Control", "max-age=3600")
		io.Copy(w, testserver.GeneratedReader(size, versionSeed(r.URL.Path, v)))
	})
}

func versionSeed(path string, v int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	return int64(h.Sum64()>>2) + v
}

var versionedSizes = []int{1000, 100_000, 1 << 20, 3 << 20}

func versionedURL(origin string, i int) string {
	return fmt.Sprintf("%s/f/v/%d/%d", origin, versionedSizes[i%len(versionedSizes)], i%5)
}

// checkVersioned reads resp and reports a mismatch between its body and the
// version its headers name.
func checkVersioned(resp *http.Response) error {
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return nil // a broken read is an error for the caller, not a wrong byte
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", resp.Request.URL.Path, resp.StatusCode)
	}
	v, _ := strconv.ParseInt(resp.Header.Get("X-Version"), 10, 64)
	size, _ := strconv.ParseInt(strings.Split(resp.Request.URL.Path, "/")[3], 10, 64)
	w := sha256.New()
	io.Copy(w, testserver.GeneratedReader(size, versionSeed(resp.Request.URL.Path, v)))
	if n != size || !bytes.Equal(h.Sum(nil), w.Sum(nil)) {
		return fmt.Errorf("%s: %s with %d bytes that are not version %d (%d bytes)",
			resp.Request.URL.Path, resp.Header.Get(CacheStatusHeader), n, v, size)
	}
	return nil
}

func faultChildConfig() Config {
	return Config{CacheMode: CacheMode(os.Getenv(envMode)), CacheDir: os.Getenv(envDir), Rules: faultRules}
}

// TestFaultChild is the child process of the tests below.
func TestFaultChild(t *testing.T) {
	switch os.Getenv(envChild) {
	case "":
		t.Skip("run by the multi-process fault tests")
	case "writer":
		cfg := faultChildConfig()
		cfg.DisableRateLimit = true
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; ; i += 4 {
					req, _ := http.NewRequest("GET", versionedURL(os.Getenv(envOrigin), i), nil)
					req.Header.Set("Cache-Control", "no-cache") // replace entries over and over
					resp, err := m.Client().Do(req)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					once.Do(func() { fmt.Println("ready") })
				}
			})
		}
		wg.Wait()
	case "shared":
		l, err := ratelimit.NewFileLimiter(os.Getenv(envState), sharedLimit, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Open the connections first, outside the limiter: a cold dial
		// between admission and arrival is not what this test measures
		// (see the report of TestFaultProcessesShareCacheAndLimiter).
		base := http.DefaultTransport.(*http.Transport).Clone()
		base.MaxIdleConnsPerHost = 16
		defer base.CloseIdleConnections()
		var warm sync.WaitGroup
		for range 6 {
			warm.Go(func() {
				if resp, err := (&http.Client{Transport: base}).Get(os.Getenv(envOrigin) + "/warm"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		warm.Wait()
		cfg := faultChildConfig()
		cfg.Limiter = l
		rec := &startRecorder{next: base}
		cfg.Base = rec
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		untilNs, _ := strconv.ParseInt(os.Getenv(envUntil), 10, 64)
		until := time.Unix(0, untilNs)
		var wg sync.WaitGroup
		var requests, hits atomic.Int64
		for g := range 6 {
			wg.Go(func() {
				for i := g; time.Now().Before(until); i++ {
					ctx, cancel := context.WithDeadline(context.Background(), until)
					req, _ := http.NewRequestWithContext(ctx, "GET", versionedURL(os.Getenv(envOrigin), i%3), nil)
					if i%4 == 0 {
						req.Header.Set("Cache-Control", "no-cache")
					}
					resp, err := m.Client().Do(req)
					if err == nil {
						requests.Add(1)
						if resp.Header.Get(CacheStatusHeader) == CacheHit {
							hits.Add(1)
						}
						if err := checkVersioned(resp); err != nil {
							t.Errorf("wrong bytes: %v", err)
						}
					}
					cancel()
				}
			})
		}
		wg.Wait()
		fmt.Printf("requests %d hits %d\n", requests.Load(), hits.Load())
		fmt.Println(rec.String())
	}
}

// startRecorder records when each request leaves the limiter for the
// network, for the /f/v/ paths.
type startRecorder struct {
	next   http.RoundTripper
	mu     sync.Mutex
	starts []int64
}

func (r *startRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/f/v/") {
		now := time.Now().UnixNano()
		r.mu.Lock()
		r.starts = append(r.starts, now)
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

// String returns "starts t1 t2 ...", in Unix nanoseconds.
func (r *startRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("starts")
	for _, t := range r.starts {
		fmt.Fprintf(&b, " %d", t)
	}
	return b.String()
}

// parseStarts reads the start times a child printed.
func parseStarts(out string) []time.Time {
	var ts []time.Time
	for _, f := range strings.Fields(strings.TrimPrefix(lastLine(out, "starts"), "starts")) {
		if n, err := strconv.ParseInt(f, 10, 64); err == nil {
			ts = append(ts, time.Unix(0, n))
		}
	}
	return ts
}

func childCommand(env ...string) *exec.Cmd { return childCommandFor("TestFaultChild", env...) }

// childCommandFor runs this test binary as a child that runs only test.
func childCommandFor(test string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// checkEntries GETs every versioned URL through a fresh Manager on dir and
// checks each HIT against the version it names. It returns the HITs.
func checkEntries(t *testing.T, mode CacheMode, dir, origin string) int {
	t.Helper()
	m := newManager(t, Config{CacheMode: mode, CacheDir: dir, Rules: faultRules, DisableRateLimit: true})
	defer m.Close()
	hits := 0
	for i := range 20 {
		resp, err := m.Client().Get(versionedURL(origin, i))
		if err != nil {
			t.Errorf("after the kill: %v", err)
			continue
		}
		if resp.Header.Get(CacheStatusHeader) == CacheHit {
			hits++
		}
		if err := checkVersioned(resp); err != nil {
			t.Errorf("after the kill: %v", err)
		}
	}
	return hits
}

// TestFaultKilledWriter kills (SIGKILL) a process that rewrites entries of
// 1 KB to 3 MiB without pause, at several moments, in both file modes: a
// later process is never served a body other than the version its headers
// name, and the folder stays usable.
func TestFaultKilledWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.SetMaxLog(1)
			srv.HandlePrefix("/f/v/", versionedOrigin())
			dir := t.TempDir()
			checked := 0
			for _, after := range []time.Duration{0, 10 * time.Millisecond, 40 * time.Millisecond, 120 * time.Millisecond, 250 * time.Millisecond} {
				cmd := childCommand(envChild+"=writer", envMode+"="+string(mode), envDir+"="+dir, envOrigin+"="+srv.URL)
				if err := testserver.KillWhenReady(cmd, after); err != nil {
					t.Fatal(err)
				}
				checked += checkEntries(t, mode, dir, srv.URL)
			}
			if checked == 0 {
				t.Fatal("no entry survived the kills to be checked")
			}
			t.Logf("%d HITs checked after 5 kills", checked)
		})
	}
}

const sharedLimit = 20

// TestFaultProcessesShareCacheAndLimiter runs three processes on one cache
// folder and one FileLimiter, hammering the same three keys (a quarter of
// the requests forcing a new download): every body matches its version,
// every process finishes (no deadlock), and the limit holds at the origin.
func TestFaultProcessesShareCacheAndLimiter(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.HandlePrefix("/f/v/", versionedOrigin())
			srv.Handle("/warm", testserver.Status(http.StatusOK, "warm"))
			dir := t.TempDir()
			state := filepath.Join(t.TempDir(), "limiter")
			until := time.Now().Add(3 * time.Second)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var starts []time.Time
			for i := range 3 {
				cmd := childCommand(envChild+"=shared", envMode+"="+string(mode), envDir+"="+dir,
					envOrigin+"="+srv.URL, envState+"="+state, envUntil+"="+strconv.FormatInt(until.UnixNano(), 10))
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				wg.Go(func() {
					go func() { done <- cmd.Wait() }()
					select {
					case err := <-done:
						if err != nil {
							t.Errorf("process %d: %v\n%s", i, err, out.String())
						} else if line := lastLine(out.String(), "requests "); line != "" {
							t.Logf("process %d: %s", i, line)
						}
						mu.Lock()
						starts = append(starts, parseStarts(out.String())...)
						mu.Unlock()
					case <-time.After(time.Until(until) + 30*time.Second):
						cmd.Process.Kill()
						<-done
						t.Errorf("process %d still running 30 s after its end: deadlocked?\n%s", i, out.String())
					}
				})
			}
			wg.Wait()
			// The promise: at most N requests start in any window, across
			// processes, measured at the origin. The limiter counts each
			// request from when it provably reached the server (its first
			// response byte), so delivery delays on a loaded machine, even
			// under the race detector, cannot squeeze N+1 into a window.
			largest := testserver.MaxInWindow(starts, time.Second)
			var times []time.Time
			for _, r := range srv.Requests() {
				if strings.HasPrefix(r.Path, "/f/v/") {
					times = append(times, r.At)
				}
			}
			atOrigin := testserver.MaxInWindow(times, time.Second)
			t.Logf("%d requests started, %d reached the origin; largest count in any 1 s window: %d started, %d at the origin (limit %d)",
				len(starts), len(times), largest, atOrigin, sharedLimit)
			// A request started just before the end can be cancelled by
			// its deadline before it arrives: fewer arrivals are fine.
			if len(times) > len(starts) {
				t.Errorf("%d requests reached the origin but only %d left a limiter", len(times), len(starts))
			}
			if largest > sharedLimit {
				t.Errorf("%d requests started within 1 s across the processes; limit %d", largest, sharedLimit)
			}
			if atOrigin > sharedLimit {
				t.Errorf("%d requests reached the origin within 1 s; limit %d", atOrigin, sharedLimit)
			}
			checkEntries(t, mode, dir, srv.URL)
		})
	}
}

func lastLine(s, prefix string) string {
	out := ""
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = l
		}
	}
	return out
}
