package throttlecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/storetest"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// cachingConfigs returns a Config of every caching mode, each on its own
// folder ("cache", alone in a temporary folder) or bucket; URLs under
// /ruled/forever are cached by every one.
func cachingConfigs(t *testing.T) []Config {
	t.Helper()
	bucket := storetest.NewS3(t)
	return []Config{
		{CacheMode: FileCache, CacheDir: filepath.Join(t.TempDir(), "cache"), Rules: localRules, DisableRateLimit: true},
		{CacheMode: RFCFile, CacheDir: filepath.Join(t.TempDir(), "cache"), Rules: localRules, DisableRateLimit: true},
		{CacheMode: RFCS3, S3Client: bucket.Client(), S3Bucket: bucket.Bucket, S3Prefix: "modes/" + t.Name() + "/",
			Rules: localRules, DisableRateLimit: true},
	}
}

// eachCachingMode runs f once per caching mode, with a fresh Manager.
func eachCachingMode(t *testing.T, f func(t *testing.T, m *Manager)) {
	for _, cfg := range cachingConfigs(t) {
		t.Run(string(cfg.CacheMode), func(t *testing.T) {
			f(t, newManager(t, cfg))
			if cfg.CacheDir == "" {
				return
			}
			outside, _ := os.ReadDir(filepath.Dir(cfg.CacheDir))
			if len(outside) != 1 {
				t.Errorf("%d files beside the cache folder, want none", len(outside)-1)
			}
		})
	}
}

// getWithin GETs u with a deadline and returns the X-Cache status and body.
func getWithin(t *testing.T, c *http.Client, u string, d time.Duration) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.Header.Get(CacheStatusHeader), string(b), err
}

// TestModesKeepReservedCharactersApart: /a+b and /a%2Bb (and the other
// reserved characters, literal or encoded) are different resources in
// every mode (RFC 3986 §2.2); none is served another's bytes.
func TestModesKeepReservedCharactersApart(t *testing.T) {
	eachCachingMode(t, func(t *testing.T, m *Manager) {
		srv := testserver.New()
		defer srv.Close()
		srv.HandlePrefix("/ruled/forever/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "path "+r.URL.EscapedPath())
		}))
		var paths []string
		for _, c := range "+,=!;:@$&" {
			paths = append(paths, fmt.Sprintf("a%cb", c), fmt.Sprintf("a%%%02Xb", c))
		}
		for round := range 2 {
			for _, p := range paths {
				u := srv.URL + "/ruled/forever/" + p
				status, body, err := getWithin(t, m.Client(), u, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if want := "path /ruled/forever/" + p; body != want {
					t.Fatalf("round %d: %s gave %q (%s), want %q", round+1, p, body, status, want)
				}
				if round == 1 && status != CacheHit {
					t.Errorf("%s again: X-Cache %s, want HIT", p, status)
				}
			}
		}
	})
}

// versionedDoc serves /ruled/forever/doc, version 1 at first: a POST
// makes the next version. It returns the URL and a function that GETs
// version 1 through getter, POSTs through poster while that GET is still
// downloading, and returns what the GET read.
func versionedDoc(t *testing.T, srv *testserver.Server) (string, func(getter, poster *Manager) string) {
	var version atomic.Int32
	version.Store(1)
	sending, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv.HandleFunc("/ruled/forever/doc", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			version.Add(1)
			return
		}
		v := version.Load()
		body := fmt.Sprintf("version %d %s", v, strings.Repeat(".", 100<<10))
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if v == 1 {
			io.WriteString(w, body[:1000])
			w.(http.Flusher).Flush()
			once.Do(func() { close(sending) })
			<-release
			body = body[1000:]
		}
		io.WriteString(w, body)
	})
	u := srv.URL + "/ruled/forever/doc"
	return u, func(getter, poster *Manager) string {
		first := make(chan string, 1)
		go func() {
			_, body, err := getWithin(t, getter.Client(), u, 20*time.Second)
			if err != nil {
				body = err.Error()
			}
			first <- body
		}()
		<-sending
		post(t, poster, u)
		close(release)
		return <-first
	}
}

func post(t *testing.T, m *Manager, u string) {
	t.Helper()
	resp, err := m.Client().Post(u, "text/plain", strings.NewReader("change"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// expectVersion fails t unless two GETs of u through each of ms read the
// given version.
func expectVersion(t *testing.T, u, version string, ms ...*Manager) {
	t.Helper()
	for i, m := range ms {
		for range 2 {
			status, body, err := getWithin(t, m.Client(), u, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(body, version+" ") {
				t.Fatalf("client %d: %.20q (%s), want %s", i+1, body, status, version)
			}
		}
	}
}

// TestModesInvalidationWinsOverADownload: a POST that completes while a GET
// is still downloading version 1 of its URL leaves no version 1 behind.
func TestModesInvalidationWinsOverADownload(t *testing.T) {
	eachCachingMode(t, func(t *testing.T, m *Manager) {
		srv := testserver.New()
		defer srv.Close()
		u, race := versionedDoc(t, srv)
		if got := race(m, m); !strings.HasPrefix(got, "version 1 ") {
			t.Fatalf("the GET in flight got %.40q", got)
		}
		expectVersion(t, u, "version 2", m)
	})
}

// TestModesLeakedBodyStallsNobody: a GET whose body is neither read nor
// closed costs later GETs of the URL nothing in any mode, whatever the
// body's size (0 included).
func TestModesLeakedBodyStallsNobody(t *testing.T) {
	eachCachingMode(t, func(t *testing.T, m *Manager) {
		srv := testserver.New()
		defer srv.Close()
		for _, size := range []int{0, 100, 3 << 20} {
			path := fmt.Sprintf("/ruled/forever/leak-%d", size)
			body := strings.Repeat("l", size)
			srv.Handle(path, testserver.NewResource([]byte(body)))
			leaked, err := m.Client().Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			_ = leaked // never read, never closed
			for i := range 3 {
				status, got, err := getWithin(t, m.Client(), srv.URL+path, 10*time.Second)
				if err != nil {
					t.Fatalf("%d bytes, GET %d after the leaked one: %v", size, i+1, err)
				}
				if got != body {
					t.Fatalf("%d bytes, GET %d: %d bytes (%s)", size, i+1, len(got), status)
				}
			}
			if n := srv.Hits(path); n != 1 {
				t.Errorf("%d bytes: %d origin requests, want 1", size, n)
			}
		}
	})
}

// TestModesConcurrentUnsafeRequests: 100 goroutines sending POSTs (and
// GETs) to one URL never wait on each other's invalidations.
func TestModesConcurrentUnsafeRequests(t *testing.T) {
	eachCachingMode(t, func(t *testing.T, m *Manager) {
		srv := testserver.New()
		defer srv.Close()
		srv.HandleFunc("/ruled/forever/r", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strings.Repeat("r", 10_000))
		})
		u := srv.URL + "/ruled/forever/r"
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for range 100 {
			wg.Go(func() {
				for range 5 {
					for _, method := range []string{http.MethodPost, http.MethodGet} {
						req, _ := http.NewRequestWithContext(ctx, method, u, strings.NewReader("x"))
						resp, err := m.Client().Do(req)
						if err != nil {
							errs <- fmt.Errorf("%s: %w", method, err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("500 POSTs and GETs to one URL did not finish in two minutes")
			}
			t.Fatal(err)
		}
	})
}

// TestModesStampede: 50 concurrent GETs of a missing entry make one origin
// request in every mode, and all get the whole body.
func TestModesStampede(t *testing.T) {
	eachCachingMode(t, func(t *testing.T, m *Manager) {
		srv := testserver.New()
		defer srv.Close()
		body := strings.Repeat("s", 200_000)
		srv.Handle("/ruled/forever/s", testserver.Slow(testserver.NewResource([]byte(body)), 100*time.Millisecond))
		var wg sync.WaitGroup
		var bad atomic.Int32
		for range 50 {
			wg.Go(func() {
				if _, got, err := getWithin(t, m.Client(), srv.URL+"/ruled/forever/s", 20*time.Second); err != nil || got != body {
					bad.Add(1)
				}
			})
		}
		wg.Wait()
		if bad.Load() != 0 || srv.Hits("/ruled/forever/s") != 1 {
			t.Fatalf("%d failed requests, %d origin requests; want 0 and 1", bad.Load(), srv.Hits("/ruled/forever/s"))
		}
	})
}

// TestRFCModesVaryVariants: two Accept-Language variants of one URL are
// both kept and both served as HITs, alternately, in both RFC modes.
func TestRFCModesVaryVariants(t *testing.T) {
	for mode, cfg := range rfcConfigs(t) {
		t.Run(string(mode), func(t *testing.T) {
			m := newManager(t, cfg)
			srv := testserver.New()
			defer srv.Close()
			srv.HandleFunc("/vary", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Header().Set("Vary", "Accept-Language")
				io.WriteString(w, "lang "+r.Header.Get("Accept-Language"))
			})
			for round := range 3 {
				for _, lang := range []string{"en", "fr"} {
					req, _ := http.NewRequest(http.MethodGet, srv.URL+"/vary", nil)
					req.Header.Set("Accept-Language", lang)
					resp, err := m.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					status := resp.Header.Get(CacheStatusHeader)
					if string(b) != "lang "+lang {
						t.Fatalf("round %d, %s: %q", round+1, lang, b)
					}
					if round > 0 && status != CacheHit {
						t.Errorf("round %d, %s: X-Cache %s, want HIT", round+1, lang, status)
					}
				}
			}
			if n := srv.Hits("/vary"); n != 2 {
				t.Errorf("%d origin requests, want 2", n)
			}
		})
	}
}

// TestFileModesLockWaitHonoursDeadline: while another Manager on the same
// folder (as another process would) holds an entry's lock for a slow
// download, a request with a 500 ms deadline ends at its deadline.
func TestFileModesLockWaitHonoursDeadline(t *testing.T) {
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			cfg := Config{CacheMode: mode, CacheDir: dir, Rules: localRules, DisableRateLimit: true}
			holder, waiter := newManager(t, cfg), newManager(t, cfg)
			srv := testserver.New()
			defer srv.Close()
			body := []byte(strings.Repeat("w", 40<<10))
			srv.Handle("/ruled/forever/slow", testserver.SlowBody(body, 1<<10, 100*time.Millisecond)) // 4 s
			u := srv.URL + "/ruled/forever/slow"
			resp, err := holder.Client().Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			start := time.Now()
			_, _, err = getWithin(t, waiter.Client(), u, 500*time.Millisecond)
			if waited := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || waited > 3*time.Second {
				t.Fatalf("after %v: %v, want the deadline's error at about 500ms", waited, err)
			}
			if got, err := io.ReadAll(resp.Body); err != nil || len(got) != len(body) {
				t.Fatalf("the holder's body: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestModesHostilePaths: dot segments, encoded slashes and NULs, names
// that look like the store's own, very long and very deep paths each get
// their own bytes in every mode, and files stay inside the cache folder.
func TestModesHostilePaths(t *testing.T) {
	paths := []string{
		"..", ".", "%2e%2e", "%2E", "a/../b", "a/./b", "a%2Fb", "a/b", "a//b", "a/", "a",
		"a%00b", "%C3%A9t%C3%A9", "x@@meta.json", "x%40%40meta.json", ".tmp", ".key", "%25kv",
		strings.Repeat("L", 300), strings.Repeat("d/", 120) + "deep", "../../../../../escape", "%2e%2e/%2e%2e/%2e%2e/escape", "q?x=/../y", "q?x=%2F", "q?", "q",
	}
	eachCachingMode(t, func(t *testing.T, m *Manager) {
		srv := testserver.New()
		defer srv.Close()
		srv.HandlePrefix("/ruled/forever/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "at "+r.URL.RequestURI())
		}))
		for round := range 2 {
			for _, p := range paths {
				req, err := http.NewRequest(http.MethodGet, srv.URL+"/ruled/forever/"+p, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := m.Client().Do(req)
				if err != nil {
					t.Fatalf("%.40s: %v", p, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := "at " + req.URL.RequestURI(); err != nil || string(b) != want {
					t.Fatalf("round %d, %.40s: %.60q, %v; want %.60q", round+1, p, b, err, want)
				}
				if status := resp.Header.Get(CacheStatusHeader); round == 1 && status != CacheHit {
					t.Errorf("%.40s again: X-Cache %s, want HIT", p, status)
				}
			}
		}
	})
}

// TestRFCS3InvalidationAcrossMachines: a POST through one machine while
// another is still downloading version 1 of the URL, both sharing a
// bucket, leaves no version 1 behind for either of them or a third; and a
// POST is seen at once by machines that have just read the entry.
func TestRFCS3InvalidationAcrossMachines(t *testing.T) {
	bucket := storetest.NewS3(t)
	cfg := Config{CacheMode: RFCS3, S3Client: bucket.Client(), S3Bucket: bucket.Bucket, S3Prefix: "fleet/",
		Rules: localRules, DisableRateLimit: true}
	a, b := newManager(t, cfg), newManager(t, cfg)
	srv := testserver.New()
	defer srv.Close()
	u, race := versionedDoc(t, srv)
	if got := race(a, b); !strings.HasPrefix(got, "version 1 ") {
		t.Fatalf("the GET in flight got %.40q", got)
	}
	machines := []*Manager{a, b, newManager(t, cfg)}
	expectVersion(t, u, "version 2", machines...)
	post(t, b, u)
	expectVersion(t, u, "version 3", machines...)
}

// TestModesServeStaleWithoutRetrying: with StaleIfError, a stale entry
// whose origin now answers 503 is served STALE after one attempt in every
// mode; the retry stage does not back off first (its default would try
// four times over several seconds), since the cache has the answer.
func TestModesServeStaleWithoutRetrying(t *testing.T) {
	for _, cfg := range cachingConfigs(t) {
		t.Run(string(cfg.CacheMode), func(t *testing.T) {
			cfg.StaleIfError = true
			cfg.Rules = append(localRules[:0:0], localRules...)
			cfg.Rules[0].Paths = append(cfg.Rules[0].Paths[:0:0], cfg.Rules[0].Paths...)
			cfg.Rules[0].Paths = append(cfg.Rules[0].Paths, rules.Path{Match: `/ruled/brief`, MaxAge: time.Millisecond})
			m := newManager(t, cfg)
			srv := testserver.New()
			defer srv.Close()
			var down atomic.Bool
			srv.Handle("/ruled/brief", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				io.WriteString(w, "v1")
			}))
			if status, body, err := getWithin(t, m.Client(), srv.URL+"/ruled/brief", 10*time.Second); err != nil || status != CacheMiss || body != "v1" {
				t.Fatalf("first GET: %s %q %v", status, body, err)
			}
			down.Store(true)
			time.Sleep(5 * time.Millisecond) // past the rule's max-age
			if status, body, err := getWithin(t, m.Client(), srv.URL+"/ruled/brief", 30*time.Second); err != nil || status != CacheStale || body != "v1" {
				t.Fatalf("GET with the origin down: %s %q %v; want v1 served stale", status, body, err)
			}
			if n := srv.Hits("/ruled/brief"); n != 2 {
				t.Fatalf("the origin saw %d requests, want 2: the stale answer was retried first", n)
			}
			if s := m.Stats(); s.Retry.Retries != 0 {
				t.Fatalf("retry stats %+v: want no retries", s.Retry)
			}
		})
	}
}

// TestModesRevalidateKeepsBody: a stale entry the origin confirms with a
// 304 is served REVALIDATED with its stored bytes in every mode, and so
// again after the refreshed metadata goes stale, for a body S3 keeps with
// its metadata (6 bytes) and for one in an object of its own (200 KiB).
func TestModesRevalidateKeepsBody(t *testing.T) {
	for _, cfg := range cachingConfigs(t) {
		t.Run(string(cfg.CacheMode), func(t *testing.T) {
			cfg.Rules = rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{{Match: `/brief`, MaxAge: time.Millisecond}}}}
			m := newManager(t, cfg)
			srv := testserver.New()
			defer srv.Close()
			for _, n := range []int{6, 200 << 10} {
				path := fmt.Sprintf("/brief/%d", n)
				body := strings.Repeat("r", n)
				srv.Handle(path, testserver.NewResource([]byte(body), testserver.WithETag("v1")))
				for i, want := range []string{CacheMiss, CacheRevalidated, CacheRevalidated} {
					time.Sleep(5 * time.Millisecond) // past the rule's max-age
					status, got, err := getWithin(t, m.Client(), srv.URL+path, 10*time.Second)
					if err != nil || status != want || got != body {
						t.Fatalf("%s request %d: %s, %d bytes, %v; want %s with the %d bytes", path, i+1, status, len(got), err, want, n)
					}
				}
				if hits := srv.Hits(path); hits != 3 {
					t.Fatalf("%s: %d origin requests, want 3 (one fetch, two 304s)", path, hits)
				}
			}
		})
	}
}
