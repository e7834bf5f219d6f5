package filecache

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func TestMissThenHit(t *testing.T) {
	e := newEnv(t)
	body := []byte("%PDF-1.4 a small pdf")
	e.srv.Handle("/doc.pdf", testserver.NewResource(body, testserver.WithContentType("application/pdf")))
	u := e.srv.URL + "/doc.pdf"

	r := get(t, e.tr, "GET", u)
	expect(t, r, 200, Miss, body)
	r = get(t, e.tr, "GET", u)
	expect(t, r, 200, Hit, body)
	if got := r.header.Get("Content-Type"); got != "application/pdf" {
		t.Errorf("Content-Type %q", got)
	}
	if r.header.Get("Etag") == "" || r.header.Get("Last-Modified") == "" {
		t.Errorf("validators not kept: %v", r.header)
	}
	if n := e.srv.Hits("/doc.pdf"); n != 1 {
		t.Errorf("origin hits %d, want 1", n)
	}
	// The body is stored exactly as received, browsable beside its sidecar.
	host := strings.ReplaceAll(mustParse(t, e.srv.URL).Host, ":", "_")
	stored, err := os.ReadFile(filepath.Join(e.dir, host, "@doc.pdf"))
	if err != nil || !bytes.Equal(stored, body) {
		t.Fatalf("stored body %q, %v", stored, err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, host, "@doc.pdf"+metaSuffix)); err != nil {
		t.Fatal(err)
	}
	s := e.tr.Stats()
	if s.Hits != 1 || s.Misses != 1 || s.Stored != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestBypass(t *testing.T) {
	tests := []struct {
		name string
		rule *rules.Matcher
		path string
		hdr  []string
	}{
		{name: "nil rules", rule: nil, path: "/x"},
		{name: "no matching site", rule: rules.MustCompile(rules.Rules{{Host: `example\.com`, Paths: []rules.Path{{Match: "/", MaxAge: time.Hour}}}}), path: "/x"},
		{name: "max age 0", rule: localRules(t, time.Hour), path: "/nocache/x"},
		{name: "range", rule: localRules(t, time.Hour), path: "/x", hdr: []string{"Range", "bytes=0-1"}},
		{name: "caller's own validator", rule: localRules(t, time.Hour), path: "/x", hdr: []string{"If-None-Match", `"abc"`}},
		{name: "no-store", rule: localRules(t, time.Hour), path: "/x", hdr: []string{"Cache-Control", "no-store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Rules = tt.rule })
			e.srv.HandlePrefix("/", testserver.Status(200, "hello"))
			for range 2 {
				r := get(t, e.tr, "GET", e.srv.URL+tt.path, tt.hdr...)
				expect(t, r, 200, Bypass, nil)
			}
			if n := e.srv.TotalHits(); n != 2 {
				t.Errorf("origin hits %d, want 2", n)
			}
			if s := e.tr.Stats(); s.Bypass != 2 || s.Stored != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestRevalidation(t *testing.T) {
	e := newEnv(t)
	res := testserver.NewResource([]byte("version 1"))
	e.srv.Handle("/r", res)
	u := e.srv.URL + "/r"

	expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("version 1"))
	e.clock.Advance(59 * time.Minute)
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("version 1"))

	e.clock.Advance(2 * time.Minute) // stale now
	r := get(t, e.tr, "GET", u)
	expect(t, r, 200, Revalidated, []byte("version 1"))
	reqs := e.srv.Requests()
	last := reqs[len(reqs)-1]
	if last.Header.Get("If-None-Match") != res.ETag() || last.Header.Get("If-Modified-Since") == "" {
		t.Fatalf("revalidation headers: %v", last.Header)
	}
	if full, nm := res.Served(); full != 1 || nm != 1 {
		t.Fatalf("served %d full, %d not modified", full, nm)
	}
	// Fresh again after the 304.
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("version 1"))

	e.clock.Advance(2 * time.Hour)
	res.Set([]byte("version 2, longer"))
	expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("version 2, longer"))
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("version 2, longer"))
	if n := e.srv.Hits("/r"); n != 3 {
		t.Fatalf("origin hits %d, want 3", n)
	}
}

func TestRevalidationWithoutValidators(t *testing.T) {
	e := newEnv(t)
	e.srv.Handle("/r", testserver.NewResource([]byte("plain"), testserver.WithoutValidators()))
	u := e.srv.URL + "/r"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("plain"))
	e.clock.Advance(2 * time.Hour)
	expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("plain"))
	for _, r := range e.srv.Requests() {
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
			t.Fatalf("conditional request without validators: %v", r.Header)
		}
	}
}

func TestForeverAndRulesAtReadTime(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Rules = localRules(t, rules.Forever) })
	e.srv.Handle("/f", testserver.NewResource([]byte("immutable")))
	u := e.srv.URL + "/f"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, nil)
	e.clock.Advance(100 * 365 * 24 * time.Hour)
	expect(t, get(t, e.tr, "GET", u), 200, Hit, []byte("immutable"))

	// The same entry judged by shorter rules: stale now.
	short := e.reopen(t, func(o *Options) { o.Rules = localRules(t, time.Minute) })
	expect(t, get(t, short, "GET", u), 200, Revalidated, []byte("immutable"))
	// And by rules that no longer cache it: bypassed, entry not served.
	none := e.reopen(t, func(o *Options) { o.Rules = nil })
	expect(t, get(t, none, "GET", u), 200, Bypass, []byte("immutable"))
}

func TestCallerNoCacheRevalidates(t *testing.T) {
	e := newEnv(t)
	res := testserver.NewResource([]byte("x"))
	e.srv.Handle("/r", res)
	u := e.srv.URL + "/r"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, nil)
	expect(t, get(t, e.tr, "GET", u, "Cache-Control", "no-cache"), 200, Revalidated, []byte("x"))
}

// A request with no-cache that arrives while an earlier request's
// download is still going on does not get that download, which the origin
// sent before it was made: it gets an answer of its own. (It followed the
// earlier download, as a HIT.)
func TestCallerNoCacheDoesNotShareAnOlderDownload(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var served atomic.Int32
	e.srv.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 1 {
			w.Write([]byte("new"))
			return
		}
		w.Header().Set("Content-Length", "6")
		w.Write([]byte("old"))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("old"))
	})
	u := e.srv.URL + "/r"
	first, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	second := make(chan result, 1)
	go func() { second <- get(t, e.tr, "GET", u, "Cache-Control", "no-cache") }()
	time.Sleep(50 * time.Millisecond) // the second request waits for the first download
	close(release)
	if body, err := io.ReadAll(first.Body); err != nil || string(body) != "oldold" {
		t.Fatalf("first body %q, %v", body, err)
	}
	first.Body.Close()
	r := <-second
	if string(r.body) != "new" || r.cache == Hit {
		t.Fatalf("no-cache request during an older download got %q (%s), want the origin's new answer", r.body, r.cache)
	}
	if n := served.Load(); n != 2 {
		t.Fatalf("origin served %d requests, want 2", n)
	}
}

func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name     string
		failure  http.Handler
		stale    bool
		want     string
		wantCode int
	}{
		{name: "5xx, option on", failure: testserver.Status(503, "down"), stale: true, want: Stale, wantCode: 200},
		{name: "5xx, option off", failure: testserver.Status(503, "down"), stale: false, want: Miss, wantCode: 503},
		{name: "404 keeps the entry", failure: testserver.Status(404, "gone"), stale: true, want: Miss, wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.StaleIfError = tt.stale })
			e.srv.Handle("/r", testserver.Sequence(testserver.NewResource([]byte("good")), tt.failure))
			u := e.srv.URL + "/r"
			expect(t, get(t, e.tr, "GET", u), 200, Miss, []byte("good"))
			e.clock.Advance(2 * time.Hour)
			r := get(t, e.tr, "GET", u)
			if r.status != tt.wantCode || r.cache != tt.want {
				t.Fatalf("got %d %s, want %d %s", r.status, r.cache, tt.wantCode, tt.want)
			}
			if tt.want == Stale && string(r.body) != "good" {
				t.Fatalf("stale body %q", r.body)
			}
			// The entry survives for later.
			if _, err := os.Stat(e.locFor(t, u).meta); err != nil {
				t.Fatalf("entry lost: %v", err)
			}
		})
	}
}

func TestStaleIfTransportError(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StaleIfError = true })
	e.srv.Handle("/r", testserver.NewResource([]byte("good")))
	u := e.srv.URL + "/r"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, nil)
	e.clock.Advance(2 * time.Hour)
	e.srv.Close()
	expect(t, get(t, e.tr, "GET", u), 200, Stale, []byte("good"))
	if s := e.tr.Stats(); s.Stale != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHead(t *testing.T) {
	e := newEnv(t)
	e.srv.Handle("/h", testserver.NewResource([]byte("0123456789")))
	u := e.srv.URL + "/h"
	r := get(t, e.tr, "HEAD", u)
	if r.cache != Miss || len(r.body) != 0 {
		t.Fatalf("HEAD before GET: %s %q", r.cache, r.body)
	}
	get(t, e.tr, "GET", u)
	before := e.srv.Hits("/h")
	req, _ := http.NewRequest("HEAD", u, nil)
	resp, err := e.tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(Header) != Hit || resp.ContentLength != 10 || resp.Header.Get("Content-Length") != "10" {
		t.Fatalf("HEAD from entry: %s %d %v", resp.Header.Get(Header), resp.ContentLength, resp.Header)
	}
	if e.srv.Hits("/h") != before {
		t.Fatal("HEAD from a fresh entry reached the origin")
	}
}

func TestUnsafeMethodsInvalidate(t *testing.T) {
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t)
			e.srv.Handle("/r", testserver.NewResource([]byte("x")))
			u := e.srv.URL + "/r"
			get(t, e.tr, "GET", u)
			get(t, e.tr, "GET", u, "Accept-Encoding", "gzip") // a second variant
			expect(t, get(t, e.tr, method, u), 405, Bypass, nil)
			expect(t, get(t, e.tr, "GET", u), 200, Miss, nil)
			expect(t, get(t, e.tr, "GET", u, "Accept-Encoding", "gzip"), 200, Miss, nil)
			if s := e.tr.Stats(); s.Invalidated != 2 {
				t.Fatalf("invalidated %d, want 2", s.Invalidated)
			}
		})
	}
}

func TestCredentialsNeverShared(t *testing.T) {
	e := newEnv(t)
	e.srv.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "user="+r.Header.Get("Authorization")+r.Header.Get("Cookie"))
	})
	u := e.srv.URL + "/me"
	cases := [][]string{
		nil,
		{"Authorization", "Bearer alice"},
		{"Authorization", "Bearer bob"},
		{"Cookie", "session=alice"},
		{"Cookie", "session=bob"},
		{"Authorization", "Bearer alice", "Cookie", "session=bob"},
	}
	for _, hdr := range cases {
		want := "user="
		for i := 1; i < len(hdr); i += 2 {
			want += hdr[i]
		}
		expect(t, get(t, e.tr, "GET", u, hdr...), 200, Miss, []byte(want))
	}
	for _, hdr := range cases {
		r := get(t, e.tr, "GET", u, hdr...)
		want := "user="
		for i := 1; i < len(hdr); i += 2 {
			want += hdr[i]
		}
		expect(t, r, 200, Hit, []byte(want))
	}
	// No file name reveals a credential.
	filepath.WalkDir(e.dir, func(p string, _ os.DirEntry, _ error) error {
		if strings.Contains(p, "alice") || strings.Contains(p, "bob") {
			t.Errorf("credential in path %s", p)
		}
		return nil
	})
}

func TestContentEncodingVariants(t *testing.T) {
	e := newEnv(t)
	plain := bytes.Repeat([]byte("compressible text "), 200)
	e.srv.Handle("/z", testserver.NewResource(plain, testserver.WithGzip()))
	u := e.srv.URL + "/z"
	isGzip := func(b []byte) bool { return len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b }

	for _, cache := range []string{Miss, Hit} {
		// Go's transport asks for gzip itself and decompresses.
		req, _ := http.NewRequest("GET", u, nil)
		resp, err := e.tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get(Header) != cache || !bytes.Equal(got, plain) || !resp.Uncompressed || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("transparent %s: cache %s, %d bytes, uncompressed %v, encoding %q",
				cache, resp.Header.Get(Header), len(got), resp.Uncompressed, resp.Header.Get("Content-Encoding"))
		}
		// An explicit Accept-Encoding gets the encoded bytes.
		r := get(t, e.tr, "GET", u, "Accept-Encoding", "gzip")
		if r.cache != cache || !isGzip(r.body) || r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("explicit %s: cache %s, gzip %v, encoding %q", cache, r.cache, isGzip(r.body), r.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if dec, _ := io.ReadAll(zr); !bytes.Equal(dec, plain) {
			t.Fatal("gzip body does not decode to the original")
		}
		// And identity is yet another representation.
		r = get(t, e.tr, "GET", u, "Accept-Encoding", "identity")
		if r.cache != cache || !bytes.Equal(r.body, plain) || r.header.Get("Content-Encoding") != "" {
			t.Fatalf("identity %s: %s %d bytes", cache, r.cache, len(r.body))
		}
	}
}

func TestPrefixFolderAndFileBothCached(t *testing.T) {
	e := newEnv(t)
	paths := []string{"/a", "/a/b", "/a/b/c", "/a-b", "/a%2Fb", "/a?b", "/a?b=1&c=2", "/a/", "/", "/a@@meta.json", "/a%3Fb",
		// A reserved character and its escaped form are different resources.
		"/r/a+b", "/r/a%2Bb", "/r/a,b", "/r/a%2Cb", "/r/a=b", "/r/a%3Db", "/r/a!b", "/r/a%21b", "/r/a;b", "/r/a%3Bb",
		"/r/a:b", "/r/a%3Ab", "/r/a@b", "/r/a%40b", "/r/a$b", "/r/a%24b", "/r/a&b", "/r/a%26b"}
	e.srv.HandlePrefix("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("body of " + r.URL.RequestURI()))
	}))
	for _, p := range paths {
		expect(t, get(t, e.tr, "GET", e.srv.URL+p), 200, Miss, nil)
	}
	for _, p := range paths {
		r := get(t, e.tr, "GET", e.srv.URL+p)
		u, _ := url.Parse(e.srv.URL + p)
		expect(t, r, 200, Hit, []byte("body of "+u.RequestURI()))
	}
	if n := e.srv.TotalHits(); n != int64(len(paths)) {
		t.Fatalf("origin hits %d, want %d", n, len(paths))
	}
}
