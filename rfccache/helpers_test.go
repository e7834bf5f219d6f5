package rfccache

import (
	"bytes"
	"context"
	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// The X-Cache vocabulary, named as the tests use it (the public names are
// the root package's CacheStatusHeader and CacheHit…CacheBypass).
const (
	Header      = cachestatus.Header
	Hit         = cachestatus.Hit
	Miss        = cachestatus.Miss
	Revalidated = cachestatus.Revalidated
	Stale       = cachestatus.Stale
	Bypass      = cachestatus.Bypass
)

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	srv    *testserver.Server
	cache  httpcache.Cache
	tr     *Transport
	client *http.Client
	clock  *clock
}

// fixtureCache returns the cache of a new fixture: a memory cache, or the
// file store while TestOnFileStore runs the tests again.
var fixtureCache = func(t *testing.T) httpcache.Cache { return httpcache.NewMemoryCache() }

// newFixture starts an origin and a Transport over it with the cache of
// fixtureCache and a test clock. Options.Now is set unless opts has one.
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{srv: testserver.New(), cache: fixtureCache(t), clock: newClock()}
	t.Cleanup(f.srv.Close)
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	f.tr = f.newTransport(t, opts)
	f.client = &http.Client{Transport: f.tr}
	return f
}

func (f *fixture) newTransport(t *testing.T, opts Options) *Transport {
	t.Helper()
	tr, err := New(f.srv.Client().Transport, f.cache, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// reply is what a test needs of a response.
type reply struct {
	status int
	cache  string
	body   string
	header http.Header
}

// do sends a request through c and reads the whole body.
func do(t *testing.T, c *http.Client, method, url string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return reply{status: resp.StatusCode, cache: resp.Header.Get(Header), body: string(b), header: resp.Header}
}

func (f *fixture) get(t *testing.T, path string, hdr ...string) reply {
	t.Helper()
	return do(t, f.client, http.MethodGet, f.srv.URL+path, hdr...)
}

// expect checks the X-Cache of a sequence of GETs of path and the origin's
// hit count afterwards.
func (f *fixture) expect(t *testing.T, path string, want []string, wantHits int64) {
	t.Helper()
	for i, w := range want {
		if r := f.get(t, path); r.cache != w {
			t.Fatalf("request %d for %s: X-Cache %q, want %q", i+1, path, r.cache, w)
		}
	}
	if got := f.srv.Hits(path); got != wantHits {
		t.Fatalf("origin hits for %s = %d, want %d", path, got, wantHits)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustCompile(t *testing.T, r rules.Rules) *rules.Matcher {
	t.Helper()
	m, err := rules.Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// key returns the store key of path's entry, without variants.
func (f *fixture) key(t *testing.T, path string) cache.Key {
	t.Helper()
	k, ok := cache.KeyFor(mustURL(t, f.srv.URL+path))
	if !ok {
		t.Fatalf("%s cannot be cached", path)
	}
	return k
}

// stored reports whether the store holds an entry (or a Vary marker) for
// path.
func (f *fixture) stored(t *testing.T, path string) bool {
	t.Helper()
	_, body, err := f.tr.tr.Store().Lookup(context.Background(), f.key(t, path))
	if body != nil {
		body.Close()
	}
	return err == nil
}

// damage changes one byte of path's stored body, whatever the store.
func (f *fixture) damage(t *testing.T, path string) {
	t.Helper()
	k := f.key(t, path)
	switch st := f.tr.tr.Store().(type) {
	case *cache.ByteStore:
		raw, ok := f.cache.Get(st.Slot(k))
		if !ok {
			t.Fatal("nothing stored to damage")
		}
		bad := bytes.Clone(raw)
		bad[len(bad)-1] ^= 1
		f.cache.Set(st.Slot(k), bad)
	default:
		p := filepath.Join(f.cache.(*httpcachestore.Store).Dir(), filepath.FromSlash(k.String()))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 1
		os.Remove(p)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
