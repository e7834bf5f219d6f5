package rfccache

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestAgeParsing: Age is read as RFC 9111 §5.1 and the HTTP cache
// conformance suite have it: the first line's first member, a
// non-negative integer; anything else is ignored.
func TestAgeParsing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ages  []string
		fresh bool
	}{
		{"valid", []string{"100"}, true},
		{"beyond max-age", []string{"7200"}, false},
		{"non-numeric, ignored", []string{"abc"}, true},
		{"negative, ignored", []string{"-7200"}, true},
		{"float, ignored", []string{"7200.0"}, true},
		{"list: the first member, old", []string{"7200, 0"}, false},
		{"list: the first member, new", []string{"0, 7200"}, true},
		{"two lines: the first, old", []string{"7200", "0"}, false},
		{"two lines: the first, new", []string{"0", "7200"}, true},
		{"parameters", []string{"7200;foo=bar"}, false},
		{"2^31", []string{"2147483648"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.srv.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600")
				w.Header().Set("Etag", `"a"`)
				for _, a := range tc.ages {
					w.Header().Add("Age", a)
				}
				if r.Header.Get("If-None-Match") == `"a"` {
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Write([]byte("a"))
			})
			want, hits := Revalidated, int64(2)
			if tc.fresh {
				want, hits = Hit, 1
			}
			f.expect(t, "/a", []string{Miss, want}, hits)
		})
	}
}

// TestExpiresParsing: an Expires that is not exactly one HTTP date (RFC
// 9110 §5.6.7) means already expired.
func TestExpiresParsing(t *testing.T) {
	future := time.Now().Add(24 * time.Hour).UTC()
	for _, tc := range []struct {
		expires []string
		fresh   bool
	}{
		{[]string{future.Format(http.TimeFormat)}, true},
		{[]string{future.Format(time.ANSIC)}, true},
		{[]string{strings.Replace(future.Format(http.TimeFormat), " ", "  ", 1)}, false},
		{[]string{strings.Replace(future.Format(http.TimeFormat), "GMT", "UTC", 1)}, false},
		{[]string{future.Format(http.TimeFormat), future.Format(http.TimeFormat)}, false},
	} {
		t.Run(strings.Join(tc.expires, " | "), func(t *testing.T) {
			f := newFixture(t, Options{})
			f.srv.HandleFunc("/e", func(w http.ResponseWriter, r *http.Request) {
				for _, e := range tc.expires {
					w.Header().Add("Expires", e)
				}
				w.Write([]byte("e"))
			})
			want, hits := Miss, int64(2)
			if tc.fresh {
				want, hits = Hit, 1
			}
			f.expect(t, "/e", []string{Miss, want}, hits)
		})
	}
}

// TestNoStaleWhenForbidden: a stored response whose directives forbid
// serving it stale is not served when the origin cannot be reached, nor
// for max-stale, whatever Options.StaleIfError and stale-if-error say
// (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10).
func TestNoStaleWhenForbidden(t *testing.T) {
	for _, cc := range []string{"must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=60", "max-age=60, stale-if-error=86400, must-revalidate"} {
		t.Run(cc, func(t *testing.T) {
			f := newFixture(t, Options{StaleIfError: true})
			if !strings.Contains(cc, "max-age") {
				cc += ", max-age=60"
			}
			f.srv.Handle("/r", testserver.NewResource([]byte("good"), testserver.WithHeader("Cache-Control", cc)))
			f.get(t, "/r")
			f.clock.Advance(time.Hour)
			if r := f.get(t, "/r", "Cache-Control", "max-stale=86400"); r.cache == Hit || r.cache == Stale {
				t.Fatalf("max-stale: %s", r.cache)
			}
			f.srv.Close()
			if _, err := f.client.Get(f.srv.URL + "/r"); err == nil {
				t.Fatal("a dead origin's error was answered from a stale entry")
			}
			if r := f.get(t, "/r", "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
				t.Fatalf("only-if-cached: %d, want 504", r.status)
			}
		})
	}
	t.Run("allowed: served stale", func(t *testing.T) {
		f := newFixture(t, Options{StaleIfError: true})
		f.srv.Handle("/r", testserver.NewResource([]byte("good"), testserver.WithHeader("Cache-Control", "max-age=60")))
		f.get(t, "/r")
		f.clock.Advance(time.Hour)
		f.srv.Close()
		if r := f.get(t, "/r"); r.cache != Stale || r.body != "good" {
			t.Fatalf("%s %q", r.cache, r.body)
		}
	})
}

// Test304UpdatesTheEntry: every field of a 304 but those §3.2 excludes
// replaces the stored one, the validator included, so the next
// revalidation sends the new ETag; the body's length and encoding stay;
// Set-Cookie is never stored.
func Test304UpdatesTheEntry(t *testing.T) {
	f := newFixture(t, Options{})
	var seen atomic.Value
	f.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("If-None-Match"))
		h := w.Header()
		h.Set("Cache-Control", "max-age=60")
		if inm := r.Header.Get("If-None-Match"); inm != "" {
			h.Set("Etag", `W/"v1"`) // the same representation (weak comparison), its validator now weak
			h.Set("Content-Md5", "new")
			h.Set("X-Extra", "added")
			h.Set("Content-Length", "0")
			h.Set("Set-Cookie", "s=1")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Etag", `"v1"`)
		h.Set("Content-Md5", "old")
		w.Write([]byte("body"))
	})
	f.get(t, "/r")
	f.clock.Advance(time.Hour)
	r := f.get(t, "/r")
	if r.cache != Revalidated || r.body != "body" || r.header.Get("Etag") != `W/"v1"` || r.header.Get("Content-Md5") != "new" ||
		r.header.Get("X-Extra") != "added" || r.header.Get("Content-Length") != "4" || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("after the 304: %s %q %v", r.cache, r.body, r.header)
	}
	if got := seen.Load(); got != `"v1"` {
		t.Fatalf("first revalidation sent %q", got)
	}
	f.clock.Advance(time.Hour)
	f.get(t, "/r")
	if got := seen.Load(); got != `W/"v1"` {
		t.Fatalf("second revalidation sent %q, want the 304's ETag", got)
	}
}

// TestVaryNormalised: request values are compared after combining lines
// and normalising whitespace, and, for the Accept fields, case (§4.1).
func TestVaryNormalised(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.HandleFunc("/v", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language, Accept-Encoding")
		w.Write([]byte("v"))
	})
	f.expect(t, "/v", nil, 0)
	if r := f.get(t, "/v", "Accept-Language", "en, fr"); r.cache != Miss {
		t.Fatal(r.cache)
	}
	for _, v := range [][]string{{"Accept-Language", "en,fr"}, {"Accept-Language", "EN,  Fr"}, {"Accept-Language", "en", "Accept-Language", "fr"}} {
		if r := f.get(t, "/v", v...); r.cache != Hit {
			t.Fatalf("%v after en, fr: %s", v, r.cache)
		}
	}
	if r := f.get(t, "/v", "Accept-Language", "fr, en"); r.cache != Miss {
		t.Fatalf("another order: %s", r.cache)
	}
}

// TestValidationRequests: a request with its own If-None-Match or
// If-Modified-Since is answered from a fresh entry, with a 304 when the
// entry matches (RFC 9111 §4.3.2), and passed on as it is otherwise.
func TestValidationRequests(t *testing.T) {
	lm := time.Now().Add(-time.Hour).UTC()
	f := newFixture(t, Options{})
	f.srv.Handle("/r", testserver.NewResource([]byte("body"), testserver.WithHeader("Cache-Control", "max-age=60"),
		testserver.WithETag(`"abc"`), testserver.WithLastModified(lm)))
	f.get(t, "/r")
	for _, tc := range []struct {
		hdr    []string
		status int
	}{
		{[]string{"If-None-Match", `"abc"`}, 304},
		{[]string{"If-None-Match", `W/"abc"`}, 304},
		{[]string{"If-None-Match", `"x", "abc"`}, 304},
		{[]string{"If-None-Match", `*`}, 304},
		{[]string{"If-None-Match", `"x"`}, 200},
		{[]string{"If-Modified-Since", lm.Format(http.TimeFormat)}, 304},
		{[]string{"If-Modified-Since", lm.Add(-time.Minute).Format(http.TimeFormat)}, 200},
		{[]string{"If-None-Match", `"x"`, "If-Modified-Since", lm.Format(http.TimeFormat)}, 200},
	} {
		r := f.get(t, "/r", tc.hdr...)
		if r.status != tc.status || r.cache != Hit || (tc.status == 304 && r.body != "") || (tc.status == 200 && r.body != "body") {
			t.Errorf("%v: %d %s %q, want %d HIT", tc.hdr, r.status, r.cache, r.body, tc.status)
		}
	}
	if got := f.srv.Hits("/r"); got != 1 {
		t.Fatalf("origin hits %d, want 1", got)
	}
	f.clock.Advance(time.Hour)
	if r := f.get(t, "/r", "If-None-Match", `"abc"`); r.cache != Bypass || r.status != 304 {
		t.Fatalf("stale entry: %d %s, want the origin's 304, BYPASS", r.status, r.cache)
	}
}

// TestStaleWhileRevalidate: within the response's stale-while-revalidate
// (RFC 5861 §3) a stale entry is served at once, as STALE, while one
// background request revalidates it; the next request gets what that
// request stored. Past the window, or when the request asks for a fresh
// answer, it is revalidated first.
func TestStaleWhileRevalidate(t *testing.T) {
	f := newFixture(t, Options{})
	var version atomic.Int64
	release := make(chan struct{}) // the background request waits until the stale GETs are done
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free)
	f.srv.Handle("/swr", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if version.Load() > 0 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		w.Header().Set("Date", f.clock.Now().UTC().Format(http.TimeFormat)) // the origin's clock is the test's
		fmt.Fprintf(w, "v%d", version.Add(1))
	}))
	if r := f.get(t, "/swr"); r.body != "v1" || r.cache != Miss {
		t.Fatalf("first GET: %q %s", r.body, r.cache)
	}
	f.clock.Advance(30 * time.Second) // stale, within the window
	for range 3 {
		if r := f.get(t, "/swr"); r.body != "v1" || r.cache != Stale {
			t.Fatalf("GET in the window: %q %s, want v1 served stale", r.body, r.cache)
		}
	}
	free()
	deadline := time.Now().Add(5 * time.Second)
	for f.srv.Hits("/swr") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var r reply
	for time.Now().Before(deadline) { // the background request's commit
		if r = f.get(t, "/swr"); r.body == "v2" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.body != "v2" || r.cache != Hit || f.srv.Hits("/swr") != 2 {
		t.Fatalf("after the background revalidation: %q %s, origin %d; want v2 as a HIT after one background request", r.body, r.cache, f.srv.Hits("/swr"))
	}
	if r := f.get(t, "/swr", "Cache-Control", "max-age=0"); r.body != "v3" {
		t.Fatalf("a request asking for a fresh answer: %q %s, want it revalidated first", r.body, r.cache)
	}
	f.clock.Advance(80 * time.Second) // past max-age plus the window
	if r := f.get(t, "/swr"); r.body != "v4" || r.cache == Stale {
		t.Fatalf("past the window: %q %s, want a revalidated answer", r.body, r.cache)
	}
}
