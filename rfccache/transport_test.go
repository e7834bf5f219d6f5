package rfccache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache httpcache.Cache
		opts  Options
		want  string
	}{
		{"nil cache", nil, Options{}, "rfccache: cache is nil"},
		{"negative MaxBodyBytes", httpcache.NewMemoryCache(), Options{MaxBodyBytes: -1}, "rfccache: Options.MaxBodyBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(nil, tc.cache, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error starting %q", err, tc.want)
			}
		})
	}
}

// TestResponseHeaders covers RFC 9111 freshness from the origin's headers.
func TestResponseHeaders(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []testserver.ResourceOption
		advance  time.Duration // between the first and the second request
		want     []string
		wantHits int64
	}{
		{"max-age fresh", []testserver.ResourceOption{testserver.WithHeader("Cache-Control", "max-age=60")},
			30 * time.Second, []string{Miss, Hit}, 1},
		{"max-age expired, revalidated with a 304", []testserver.ResourceOption{testserver.WithHeader("Cache-Control", "max-age=60")},
			61 * time.Second, []string{Miss, Revalidated}, 2},
		{"directive names are case-insensitive", []testserver.ResourceOption{testserver.WithHeader("Cache-Control", "MAX-AGE=60")},
			0, []string{Miss, Hit}, 1},
		{"NO-STORE in capitals is no-store", []testserver.ResourceOption{testserver.WithHeader("Cache-Control", "max-age=60, NO-STORE")},
			0, []string{Miss, Miss}, 2},
		{"no-store", []testserver.ResourceOption{testserver.WithHeader("Cache-Control", "no-store")},
			0, []string{Miss, Miss}, 2},
		{"no-cache revalidates every time", []testserver.ResourceOption{testserver.WithHeader("Cache-Control", "max-age=600, No-Cache")},
			0, []string{Miss, Revalidated, Revalidated}, 3},
		{"Age counts: max-age=60 with Age 100 is stale at once", []testserver.ResourceOption{
			testserver.WithHeader("Cache-Control", "max-age=60"), testserver.WithHeader("Age", "100")},
			0, []string{Miss, Revalidated}, 2},
		{"Age counts: max-age=60 with Age 30 is stale after 31s", []testserver.ResourceOption{
			testserver.WithHeader("Cache-Control", "max-age=60"), testserver.WithHeader("Age", "30")},
			31 * time.Second, []string{Miss, Revalidated}, 2},
		{"Age 30 and max-age=60 still fresh after 20s", []testserver.ResourceOption{
			testserver.WithHeader("Cache-Control", "max-age=60"), testserver.WithHeader("Age", "30")},
			20 * time.Second, []string{Miss, Hit}, 1},
		{"Expires in the future", []testserver.ResourceOption{
			testserver.WithHeader("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))},
			time.Minute, []string{Miss, Hit}, 1},
		{"invalid Expires is expired", []testserver.ResourceOption{testserver.WithHeader("Expires", "0")},
			0, []string{Miss, Revalidated}, 2},
		{"heuristic: 10% of the time since Last-Modified", []testserver.ResourceOption{
			testserver.WithLastModified(time.Now().Add(-100 * time.Hour))},
			9 * time.Hour, []string{Miss, Hit}, 1},
		{"heuristic expired", []testserver.ResourceOption{testserver.WithLastModified(time.Now().Add(-100 * time.Hour))},
			11 * time.Hour, []string{Miss, Revalidated}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.srv.Handle("/r", testserver.NewResource([]byte("content"), tc.opts...))
			for i, w := range tc.want {
				if i == 1 {
					f.clock.Advance(tc.advance)
				}
				r := f.get(t, "/r")
				if r.cache != w || r.body != "content" {
					t.Fatalf("request %d: X-Cache %q body %q, want %q and the content", i+1, r.cache, r.body, w)
				}
			}
			if got := f.srv.Hits("/r"); got != tc.wantHits {
				t.Fatalf("origin hits = %d, want %d", got, tc.wantHits)
			}
		})
	}
}

func TestAgeHeaderOnHits(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.Handle("/r", testserver.NewResource([]byte("x"),
		testserver.WithHeader("Cache-Control", "max-age=600"), testserver.WithHeader("Age", "10")))
	f.get(t, "/r")
	f.clock.Advance(50 * time.Second)
	r := f.get(t, "/r")
	if r.cache != Hit || r.header.Get("Age") != "60" {
		t.Fatalf("X-Cache %q, Age %q; want HIT and 60", r.cache, r.header.Get("Age"))
	}
}

// TestStatuses checks that only what RFC 9111 allows is stored.
func TestStatuses(t *testing.T) {
	for _, tc := range []struct {
		code       int
		cc         string
		wantStored bool
	}{
		{200, "", true}, {203, "", true}, {204, "", true}, {300, "", true}, {301, "", true},
		{308, "", true}, {404, "", true}, {405, "", true}, {410, "", true}, {414, "", true}, {501, "", true},
		{302, "", false}, {307, "", false}, {400, "", false}, {403, "", false}, {500, "", false}, {503, "", false},
		{302, "max-age=60", true}, {500, "max-age=60", true}, {403, "public", true}, {403, "private", true},
		// §3: a final status this cache does not know, with explicit
		// freshness, is stored; heuristics only for statuses cacheable by
		// default.
		{299, "max-age=60", true}, {599, "max-age=60", true}, {299, "", false}, {599, "", false},
		{206, "max-age=60", false},
		{200, "no-store", false}, {404, "no-store", false},
		// §5.2.2.3: must-understand with a known status overrides
		// no-store; with an unknown one, nothing is stored.
		{200, "must-understand, no-store", true}, {299, "must-understand, no-store, max-age=60", false},
	} {
		t.Run(strings.TrimSpace(strconv.Itoa(tc.code)+" "+tc.cc), func(t *testing.T) {
			f := newFixture(t, Options{})
			var hdr []string
			if tc.cc != "" {
				hdr = []string{"Cache-Control", tc.cc}
			}
			if tc.code == 206 {
				hdr = append(hdr, "Content-Range", "bytes 0-1/10")
			}
			f.srv.Handle("/s", testserver.Status(tc.code, "body", hdr...))
			r := f.get(t, "/s")
			if r.status != tc.code || r.cache != Miss {
				t.Fatalf("status %d X-Cache %q, want %d MISS", r.status, r.cache, tc.code)
			}
			if stored := f.stored(t, "/s"); stored != tc.wantStored {
				t.Fatalf("stored = %v, want %v", stored, tc.wantStored)
			}
		})
	}
}

// TestRulesOverHeaders checks that a rule decides whatever the headers say.
func TestRulesOverHeaders(t *testing.T) {
	rs := rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{
		{Match: `/never`, MaxAge: 0},
		{Match: `/forever`, MaxAge: rules.Forever},
		{Match: `/`, MaxAge: time.Hour},
	}}}
	for _, tc := range []struct {
		name     string
		path     string
		cc       string
		advance  time.Duration
		want     []string
		wantHits int64
	}{
		{"no-store is cached for the rule's hour", "/data", "no-store", 59 * time.Minute, []string{Miss, Hit}, 1},
		{"private, no-cache, max-age=0 too", "/data", "private, no-cache, max-age=0", time.Minute, []string{Miss, Hit}, 1},
		{"revalidated after the rule's hour", "/data", "max-age=999999", 61 * time.Minute, []string{Miss, Revalidated}, 2},
		{"Forever is never revalidated", "/forever/x", "max-age=0", 10000 * time.Hour, []string{Miss, Hit}, 1},
		{"rule 0 is never stored", "/never", "max-age=3600", 0, []string{Bypass, Bypass}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{Rules: mustCompile(t, rs)})
			f.srv.Handle(tc.path, testserver.NewResource([]byte("data"), testserver.WithHeader("Cache-Control", tc.cc)))
			for i, w := range tc.want {
				if i == 1 {
					f.clock.Advance(tc.advance)
				}
				if r := f.get(t, tc.path); r.cache != w || r.body != "data" {
					t.Fatalf("request %d: X-Cache %q body %q, want %q", i+1, r.cache, r.body, w)
				}
			}
			if got := f.srv.Hits(tc.path); got != tc.wantHits {
				t.Fatalf("origin hits = %d, want %d", got, tc.wantHits)
			}
		})
	}
	t.Run("a 404 under a rule follows its headers", func(t *testing.T) {
		f := newFixture(t, Options{Rules: mustCompile(t, rs)})
		f.srv.Handle("/missing", testserver.Status(404, "not yet", "Cache-Control", "no-store"))
		f.expect(t, "/missing", []string{Miss, Miss}, 2)
	})
}

// TestRulesApplyAtReadTime checks that a changed rule judges stored entries.
func TestRulesApplyAtReadTime(t *testing.T) {
	f := newFixture(t, Options{Rules: mustCompile(t, rules.Rules{{Host: ``, Paths: []rules.Path{{Match: `/`, MaxAge: time.Hour}}}})})
	f.srv.Handle("/d", testserver.NewResource([]byte("d"), testserver.WithHeader("Cache-Control", "no-store")))
	f.expect(t, "/d", []string{Miss, Hit}, 1)
	f.clock.Advance(10 * time.Minute)

	shorter := f.newTransport(t, Options{Now: f.clock.Now,
		Rules: mustCompile(t, rules.Rules{{Host: ``, Paths: []rules.Path{{Match: `/`, MaxAge: 5 * time.Minute}}}})})
	if r := do(t, &http.Client{Transport: shorter}, "GET", f.srv.URL+"/d"); r.cache != Revalidated {
		t.Fatalf("with a 5-minute rule, a 10-minute-old entry: X-Cache %q, want REVALIDATED", r.cache)
	}
	never := f.newTransport(t, Options{Now: f.clock.Now,
		Rules: mustCompile(t, rules.Rules{{Host: ``, Paths: []rules.Path{{Match: `/`, MaxAge: 0}}}})})
	if r := do(t, &http.Client{Transport: never}, "GET", f.srv.URL+"/d"); r.cache != Bypass {
		t.Fatalf("with a rule of 0: X-Cache %q, want BYPASS", r.cache)
	}
	none := f.newTransport(t, Options{Now: f.clock.Now})
	if r := do(t, &http.Client{Transport: none}, "GET", f.srv.URL+"/d"); r.cache == Hit {
		t.Fatalf("without rules, a no-store entry answered as a HIT")
	}
}

func TestRequestDirectives(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hdr     []string
		advance time.Duration
		want    string
	}{
		{"no-cache revalidates", []string{"Cache-Control", "no-cache"}, 0, Revalidated},
		{"Pragma no-cache revalidates", []string{"Pragma", "no-cache"}, 0, Revalidated},
		{"max-age=0 revalidates", []string{"Cache-Control", "max-age=0"}, time.Second, Revalidated},
		{"max-age larger than the age is a hit", []string{"Cache-Control", "max-age=100"}, time.Second, Hit},
		{"min-fresh beyond the lifetime", []string{"Cache-Control", "min-fresh=120"}, 0, Revalidated},
		{"max-stale accepts a stale entry", []string{"Cache-Control", "max-stale=600"}, 5 * time.Minute, Hit},
		{"max-stale too small", []string{"Cache-Control", "max-stale=10"}, 5 * time.Minute, Revalidated},
		{"no-store bypasses", []string{"Cache-Control", "no-store"}, 0, Bypass},
		{"Range bypasses", []string{"Range", "bytes=0-1"}, 0, Bypass},
		{"own If-None-Match that does not match: the full entry", []string{"If-None-Match", `"x"`}, 0, Hit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.srv.Handle("/r", testserver.NewResource([]byte("r"), testserver.WithHeader("Cache-Control", "max-age=60")))
			f.get(t, "/r")
			f.clock.Advance(tc.advance)
			if r := f.get(t, "/r", tc.hdr...); r.cache != tc.want {
				t.Fatalf("X-Cache %q, want %q", r.cache, tc.want)
			}
		})
	}
	t.Run("only-if-cached without an entry is a 504", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.MustNotHit(t, "/r")
		if r := f.get(t, "/r", "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
			t.Fatalf("status %d, want 504", r.status)
		}
	})
}

func TestVary(t *testing.T) {
	lang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "accept-language")
		w.Write([]byte("lang=" + r.Header.Get("Accept-Language")))
	})
	t.Run("only equal values match", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.Handle("/v", lang)
		for i, step := range []struct{ lang, want, body string }{
			{"en", Miss, "lang=en"}, {"en", Hit, "lang=en"}, {"fr", Miss, "lang=fr"}, {"fr", Hit, "lang=fr"},
			{"", Miss, "lang="}, {"", Hit, "lang="},
		} {
			var hdr []string
			if step.lang != "" {
				hdr = []string{"Accept-Language", step.lang}
			}
			if r := f.get(t, "/v", hdr...); r.cache != step.want || r.body != step.body {
				t.Fatalf("step %d (%q): X-Cache %q body %q, want %q %q", i, step.lang, r.cache, r.body, step.want, step.body)
			}
		}
	})
	t.Run("Vary star is never served from cache", func(t *testing.T) {
		f := newFixture(t, Options{Rules: mustCompile(t, rules.Rules{{Host: ``, Paths: []rules.Path{{Match: `/`, MaxAge: rules.Forever}}}})})
		f.srv.Handle("/star", testserver.NewResource([]byte("s"), testserver.WithHeader("Cache-Control", "max-age=60"), testserver.WithHeader("Vary", "*")))
		f.expect(t, "/star", []string{Miss, Miss, Miss}, 3)
	})
}

func TestCredentialsNeverCross(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.Handle("/me", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("user=" + r.Header.Get("Authorization") + r.Header.Get("Cookie")))
	}))
	// A streaming store keeps every credential's entry side by side; a
	// plain httpcache.Cache has one value per URL, which they replace.
	again := Miss
	if _, ok := f.cache.(*httpcachestore.Store); ok {
		again = Hit
	}
	for i, step := range []struct{ k, v, want, body string }{
		{"Authorization", "Bearer alice", Miss, "user=Bearer alice"},
		{"Authorization", "Bearer alice", Hit, "user=Bearer alice"},
		{"Authorization", "Bearer bob", Miss, "user=Bearer bob"},
		{"", "", Miss, "user="},
		{"Cookie", "session=carol", Miss, "user=session=carol"},
		{"Authorization", "Bearer bob", again, "user=Bearer bob"},
		{"Authorization", "Bearer bob", Hit, "user=Bearer bob"},
	} {
		var hdr []string
		if step.k != "" {
			hdr = []string{step.k, step.v}
		}
		if r := f.get(t, "/me", hdr...); r.cache != step.want || r.body != step.body {
			t.Fatalf("step %d: X-Cache %q body %q, want %q %q", i, r.cache, r.body, step.want, step.body)
		}
	}
	// Nothing in the store holds the credentials themselves, outside the
	// bodies the origin sent.
	if st, ok := f.cache.(*httpcachestore.Store); ok {
		filepath.WalkDir(st.Dir(), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(p, "bob") || strings.Contains(p, "alice") ||
				(strings.HasSuffix(p, "@@meta.json") && strings.Contains(string(b), "bob")) {
				t.Errorf("a credential in %s", p)
			}
			return nil
		})
	}
}

// TestUnsafeMethodsInvalidate: an unsafe request that succeeded (2xx, 3xx)
// invalidates its URL (RFC 9111 §4.4); one that failed, or got no answer,
// leaves the entry alone.
func TestUnsafeMethodsInvalidate(t *testing.T) {
	unsafe := func(code int) http.Handler {
		res := testserver.NewResource([]byte("r"), testserver.WithHeader("Cache-Control", "max-age=600"))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				res.ServeHTTP(w, r)
				return
			}
			w.WriteHeader(code)
		})
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, "PROPPATCH"} {
		for _, tc := range []struct {
			code        int
			invalidates bool
		}{{200, true}, {204, true}, {303, true}, {400, false}, {405, false}, {500, false}, {503, false}} {
			t.Run(fmt.Sprint(method, " ", tc.code), func(t *testing.T) {
				f := newFixture(t, Options{})
				f.srv.Handle("/r", unsafe(tc.code))
				f.expect(t, "/r", []string{Miss, Hit}, 1)
				if r := do(t, f.client, method, f.srv.URL+"/r"); r.cache != Bypass || r.status != tc.code {
					t.Fatalf("%s: %d X-Cache %q, want %d BYPASS", method, r.status, r.cache, tc.code)
				}
				if tc.invalidates {
					f.expect(t, "/r", []string{Miss, Hit}, 3)
				} else {
					f.expect(t, "/r", []string{Hit}, 2)
				}
			})
		}
	}
	t.Run("no answer leaves the entry", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.Handle("/r", testserver.NewResource([]byte("r"), testserver.WithHeader("Cache-Control", "max-age=600")))
		f.get(t, "/r")
		f.srv.Close()
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/r", nil)
		if _, err := f.tr.RoundTrip(req); err == nil {
			t.Fatal("a POST to a closed origin succeeded")
		}
		if !f.stored(t, "/r") {
			t.Fatal("a POST that got no answer removed the entry")
		}
	})
	t.Run("safe methods keep the entry", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.Handle("/r", testserver.NewResource([]byte("r"), testserver.WithHeader("Cache-Control", "max-age=600")))
		f.get(t, "/r")
		do(t, f.client, http.MethodOptions, f.srv.URL+"/r")
		f.expect(t, "/r", []string{Hit}, 2)
	})
	t.Run("Location and Content-Location, same origin only", func(t *testing.T) {
		f := newFixture(t, Options{})
		for _, p := range []string{"/a", "/b", "/c"} {
			f.srv.Handle(p, testserver.NewResource([]byte(p), testserver.WithHeader("Cache-Control", "max-age=600")))
			f.get(t, p)
		}
		f.srv.Handle("/form", testserver.Status(201, "created",
			"Location", "/a", "Content-Location", f.srv.URL+"/b", "Link", "</c>"))
		f.srv.Handle("/other", testserver.Status(201, "", "Location", "http://elsewhere.example/c"))
		do(t, f.client, http.MethodPost, f.srv.URL+"/form")
		do(t, f.client, http.MethodPost, f.srv.URL+"/other")
		for _, tc := range []struct{ path, want string }{{"/a", Miss}, {"/b", Miss}, {"/c", Hit}} {
			if r := f.get(t, tc.path); r.cache != tc.want {
				t.Errorf("%s after the POSTs: X-Cache %q, want %q", tc.path, r.cache, tc.want)
			}
		}
	})
}

func TestHead(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.Handle("/r", testserver.NewResource([]byte("body"), testserver.WithHeader("Cache-Control", "max-age=60")))
	if r := do(t, f.client, http.MethodHead, f.srv.URL+"/r"); r.cache != Miss || r.body != "" {
		t.Fatalf("HEAD before GET: X-Cache %q body %q", r.cache, r.body)
	}
	f.get(t, "/r")
	r := do(t, f.client, http.MethodHead, f.srv.URL+"/r")
	if r.cache != Hit || r.body != "" || r.header.Get("Content-Length") != "4" {
		t.Fatalf("HEAD after GET: X-Cache %q body %q Content-Length %q", r.cache, r.body, r.header.Get("Content-Length"))
	}
	if got := f.srv.Hits("/r"); got != 2 {
		t.Fatalf("origin hits = %d, want 2", got)
	}
}

func TestStaleIfError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		cc      string
		advance time.Duration
		want    string
		status  int
	}{
		{"option serves stale on 503", Options{StaleIfError: true}, "max-age=60", time.Hour, Stale, 200},
		{"no option, no directive: the 503", Options{}, "max-age=60", time.Hour, Miss, 503},
		{"stale-if-error within its limit", Options{}, "max-age=60, stale-if-error=600", 5 * time.Minute, Stale, 200},
		{"stale-if-error past its limit", Options{}, "max-age=60, stale-if-error=60", 5 * time.Minute, Miss, 503},
		{"must-revalidate beats the option", Options{StaleIfError: true}, "max-age=60, must-revalidate", time.Hour, Miss, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			f.srv.Handle("/r", testserver.Sequence(
				testserver.NewResource([]byte("good"), testserver.WithHeader("Cache-Control", tc.cc)),
				testserver.Status(503, "down")))
			f.get(t, "/r")
			f.clock.Advance(tc.advance)
			if r := f.get(t, "/r"); r.cache != tc.want || r.status != tc.status {
				t.Fatalf("X-Cache %q status %d, want %q %d", r.cache, r.status, tc.want, tc.status)
			}
		})
	}
	t.Run("dead origin", func(t *testing.T) {
		f := newFixture(t, Options{StaleIfError: true})
		f.srv.Handle("/r", testserver.NewResource([]byte("good"), testserver.WithHeader("Cache-Control", "max-age=60")))
		f.get(t, "/r")
		f.srv.Close()
		f.clock.Advance(time.Hour)
		if r := f.get(t, "/r"); r.cache != Stale || r.body != "good" {
			t.Fatalf("X-Cache %q body %q, want STALE good", r.cache, r.body)
		}
	})
}

func TestNeverAWrongByte(t *testing.T) {
	t.Run("truncated body is not stored", func(t *testing.T) {
		f := newFixture(t, Options{})
		body := []byte(strings.Repeat("x", 10000))
		f.srv.Handle("/t", testserver.Sequence(testserver.Short(body, 5000),
			testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=60"))))
		req, _ := http.NewRequest("GET", f.srv.URL+"/t", nil)
		resp, err := f.client.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatal("truncated body read without error")
		}
		f.expect(t, "/t", []string{Miss, Hit}, 2)
	})
	t.Run("damaged entry is a miss and removed", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.Handle("/r", testserver.NewResource([]byte("right"), testserver.WithHeader("Cache-Control", "max-age=60")))
		f.get(t, "/r")
		f.damage(t, "/r")
		if r := f.get(t, "/r"); r.cache != Miss || r.body != "right" {
			t.Fatalf("X-Cache %q body %q", r.cache, r.body)
		}
		if st := f.tr.Stats(); st.Corrupt != 1 {
			t.Fatalf("Corrupt = %d, want 1", st.Corrupt)
		}
		f.expect(t, "/r", []string{Hit}, 2)
	})
	t.Run("early close still stores a small body", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.srv.Handle("/j", testserver.NewResource([]byte(`{"a":1}`+"\n"), testserver.WithHeader("Cache-Control", "max-age=60")))
		resp, err := f.client.Get(f.srv.URL + "/j")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Read(make([]byte, 3))
		resp.Body.Close()
		f.expect(t, "/j", []string{Hit}, 1)
	})
}

func TestContextCancelledWhileWaiting(t *testing.T) {
	f := newFixture(t, Options{})
	release := make(chan struct{})
	f.srv.Handle("/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("done"))
	}))
	leaderDone := make(chan reply)
	go func() { leaderDone <- f.get(t, "/slow") }()
	for f.srv.Hits("/slow") == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/slow", nil)
	start := time.Now()
	_, err := f.client.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("waiting request: %v after %v, want the deadline promptly", err, time.Since(start))
	}
	close(release)
	if r := <-leaderDone; r.body != "done" || r.cache != Miss {
		t.Fatalf("leader: %+v", r)
	}
	f.expect(t, "/slow", []string{Hit}, 1)
}
