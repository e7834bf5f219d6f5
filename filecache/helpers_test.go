package filecache

import (
	"bytes"
	"context"
	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/filestore"
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

// clock is a settable time source for freshness tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// localRules caches everything on the loopback origin for maxAge.
func localRules(t testing.TB, maxAge time.Duration) *rules.Matcher {
	t.Helper()
	m, err := rules.Compile(rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{
		{Match: `/nocache`, MaxAge: 0},
		{Match: `/`, MaxAge: maxAge},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type env struct {
	srv   *testserver.Server
	tr    *Transport
	clock *clock
	dir   string
}

// newEnv starts an origin and a Transport on a fresh folder; edit adjusts
// the options.
func newEnv(t testing.TB, edit ...func(*Options)) *env {
	t.Helper()
	srv := testserver.New()
	t.Cleanup(srv.Close)
	c := newClock()
	dir := t.TempDir()
	opts := Options{Dir: dir, Rules: localRules(t, time.Hour), Now: c.Now}
	for _, e := range edit {
		e(&opts)
	}
	tr, err := New(srv.Client().Transport, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &env{srv: srv, tr: tr, clock: c, dir: dir}
}

// reopen returns a second Transport on the same folder.
func (e *env) reopen(t testing.TB, edit ...func(*Options)) *Transport {
	t.Helper()
	opts := Options{Dir: e.dir, Rules: localRules(t, time.Hour), Now: e.clock.Now}
	for _, f := range edit {
		f(&opts)
	}
	tr, err := New(e.srv.Client().Transport, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

type result struct {
	status int
	cache  string
	body   []byte
	header http.Header
}

// newRequest builds a request with the header fields hdr (name, value, …).
func newRequest(t testing.TB, method, u string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

// get sends a request through tr and reads the whole body.
func get(t testing.TB, tr http.RoundTripper, method, u string, hdr ...string) result {
	t.Helper()
	resp, err := tr.RoundTrip(newRequest(t, method, u, hdr...))
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	if method != "HEAD" && resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		t.Fatalf("%s %s: Content-Length %d, body %d bytes", method, u, resp.ContentLength, len(body))
	}
	return result{status: resp.StatusCode, cache: resp.Header.Get(Header), body: body, header: resp.Header}
}

// expect checks a result.
func expect(t testing.TB, r result, status int, cache string, body []byte) {
	t.Helper()
	if r.status != status || r.cache != cache {
		t.Fatalf("got %d %s, want %d %s", r.status, r.cache, status, cache)
	}
	if body != nil && !bytes.Equal(r.body, body) {
		t.Fatalf("body: got %d bytes %.40q, want %d bytes %.40q", len(r.body), r.body, len(body), body)
	}
}

func mustParse(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The store's names, as the tests see them on disk.
const (
	metaSuffix = "@@meta.json"
	tmpDir     = ".tmp"
)

// loc names the files of a URL's entry (without variants).
type loc struct {
	k          cache.Key
	key        string
	body, meta string
}

func (e *env) locFor(t testing.TB, u string) loc {
	t.Helper()
	k, ok := cache.KeyFor(mustParse(t, u))
	if !ok {
		t.Fatalf("%s cannot be cached", u)
	}
	body := filepath.Join(e.dir, filepath.FromSlash(k.String()))
	return loc{k: k, key: k.String(), body: body, meta: body + metaSuffix}
}

// hold takes the entry lock of l as another process would, until the test
// ends or release is called.
func (e *env) hold(t testing.TB, l loc) (release func()) {
	t.Helper()
	st, err := filestore.New(e.dir, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock(context.Background(), l.k, nil)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(unlock) }
	t.Cleanup(release)
	return release
}

// withStore sets the file store's test seams.
func withStore(so filestore.Options) func(*Options) {
	return func(o *Options) { o.store = so }
}
