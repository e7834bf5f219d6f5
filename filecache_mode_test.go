package throttlecache

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func fileCacheManager(t *testing.T, extra func(*Config)) (*Manager, *testserver.Server) {
	t.Helper()
	srv := testserver.New()
	t.Cleanup(srv.Close)
	cfg := Config{
		CacheMode: FileCache,
		CacheDir:  t.TempDir(),
		Rules: rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{
			{Match: `/forever`, MaxAge: rules.Forever},
			{Match: `/never`, MaxAge: 0},
		}}},
		RequestsPerSecond: 1,
		MaxWait:           50 * time.Millisecond,
	}
	if extra != nil {
		extra(&cfg)
	}
	return newManager(t, cfg), srv
}

// TestFileCacheHitsSkipTheLimiter checks the order of the chain: a hit
// returns before the limiter, so it is served even when the limiter would
// refuse a network request.
func TestFileCacheHitsSkipTheLimiter(t *testing.T) {
	m, srv := fileCacheManager(t, nil)
	srv.Handle("/forever/a.txt", testserver.NewResource([]byte("immutable")))
	srv.Handle("/never/b.txt", testserver.NewResource([]byte("volatile")))

	resp, body := get(t, m.Client(), srv.URL+"/forever/a.txt")
	if body != "immutable" || resp.Header.Get(CacheStatusHeader) != CacheMiss {
		t.Fatalf("first: %q, %s", body, resp.Header.Get(CacheStatusHeader))
	}
	srv.MustNotHit(t, "/forever/a.txt")
	for range 5 {
		resp, body = get(t, m.Client(), srv.URL+"/forever/a.txt")
		if body != "immutable" || resp.Header.Get(CacheStatusHeader) != CacheHit {
			t.Fatalf("repeat: %q, %s", body, resp.Header.Get(CacheStatusHeader))
		}
	}
	// A network request now needs a token the limiter cannot give in 50ms.
	if _, err := m.Client().Get(srv.URL + "/never/b.txt"); err == nil {
		t.Fatal("a bypassed request got through a limiter that had no token")
	}
	s := m.Stats()
	if s.Cache.Hits != 5 || s.Cache.Misses != 1 || s.Network.Requests != 1 || s.Cache.Stored != 1 || s.Limiter.Errors != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFileCacheSharedByWrap(t *testing.T) {
	m, srv := fileCacheManager(t, func(c *Config) { c.DisableRateLimit = true })
	srv.Handle("/forever/a.txt", testserver.NewResource([]byte("shared")))
	get(t, m.Client(), srv.URL+"/forever/a.txt")
	resp, body := get(t, m.Wrap(&http.Client{}), srv.URL+"/forever/a.txt")
	if body != "shared" || resp.Header.Get(CacheStatusHeader) != CacheHit || srv.Hits("/forever/a.txt") != 1 {
		t.Fatalf("through Wrap: %q, %s, %d origin hits", body, resp.Header.Get(CacheStatusHeader), srv.Hits("/forever/a.txt"))
	}
}

func TestFileCacheBatch(t *testing.T) {
	m, srv := fileCacheManager(t, func(c *Config) { c.DisableRateLimit = true })
	srv.Handle("/forever/a.txt", testserver.NewResource([]byte("a")))
	urls := []string{srv.URL + "/forever/a.txt", srv.URL + "/forever/a.txt", srv.URL + "/forever/a.txt"}
	m.GetBatch(context.Background(), urls[:1])
	for _, r := range m.GetBatch(context.Background(), urls) {
		if r.Err != nil || r.Cache != CacheHit || string(r.Body) != "a" {
			t.Fatalf("%+v", r)
		}
	}
	if srv.Hits("/forever/a.txt") != 1 {
		t.Fatalf("%d origin hits", srv.Hits("/forever/a.txt"))
	}
}

func TestFileCacheClose(t *testing.T) {
	m, _ := fileCacheManager(t, nil)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFileCacheMissKeepsWriterTo checks that no stage of the chain hides
// the download's WriteTo, which lets io.Copy hand the network's bytes to
// the caller and the cache file without copying them once more.
func TestFileCacheMissKeepsWriterTo(t *testing.T) {
	m, srv := fileCacheManager(t, nil)
	const size = 300 << 10
	srv.Handle("/forever/big", testserver.Generated(size, 3))
	want, _ := io.ReadAll(testserver.GeneratedReader(size, 3))
	for _, cache := range []string{"MISS", "HIT"} {
		resp, err := m.Client().Get(srv.URL + "/forever/big")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-Cache"); got != cache {
			t.Fatalf("X-Cache %s, want %s", got, cache)
		}
		if _, ok := resp.Body.(io.WriterTo); cache == "MISS" && !ok {
			t.Fatalf("a miss's body %T is not an io.WriterTo", resp.Body)
		}
		var got bytes.Buffer
		_, err = io.Copy(&got, resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s: copied %d bytes, %v", cache, got.Len(), err)
		}
	}
}
