package rfccache

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A 304 without Date must count as dated when it was received (RFC 9110
// §6.6.1); the stored response's old Date must not make the freshened entry
// look as old as the original response (RFC 9111 §4.2.3, §4.3.4).
func Test304WithoutDateFreshens(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.HandleFunc("/d", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"x"`)
		if r.Header.Get("If-None-Match") == `"x"` {
			w.Header()["Date"] = nil // an origin without a clock: no Date
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Date", f.clock.Now().UTC().Format(http.TimeFormat))
		w.Write([]byte("d"))
	})
	f.get(t, "/d")
	f.clock.Advance(time.Hour)
	if r := f.get(t, "/d"); r.cache != Revalidated {
		t.Fatalf("after an hour: %s, want REVALIDATED", r.cache)
	}
	f.clock.Advance(10 * time.Second)
	if r := f.get(t, "/d"); r.cache != Hit {
		t.Fatalf("10s after the 304 (max-age=60): %s, Age %s; want HIT", r.cache, r.header.Get("Age"))
	}
}

// only-if-cached (RFC 9111 §5.2.1.7) must not reach the origin for a HEAD
// or a conditional GET either: a stored response or a 504.
func TestOnlyIfCachedHeadAndConditional(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.HandleFunc("/o", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"o"`)
		w.Write([]byte("o"))
	})
	if r := do(t, f.client, http.MethodHead, f.srv.URL+"/o", "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
		t.Errorf("HEAD only-if-cached, nothing stored: %d %s, want 504", r.status, r.cache)
	}
	if r := f.get(t, "/o", "Cache-Control", "only-if-cached", "If-None-Match", `"o"`); r.status != http.StatusGatewayTimeout {
		t.Errorf("conditional GET only-if-cached, nothing stored: %d %s, want 504", r.status, r.cache)
	}
	if n := f.srv.Hits("/o"); n != 0 {
		t.Fatalf("origin asked %d times despite only-if-cached", n)
	}
}

// StaleIfError serves stale only for 500, 502, 503, 504 (Options doc;
// RFC 5861 §4): a 501 or 505 is the origin's answer, not an error to hide.
func TestStaleOnlyFor500To504(t *testing.T) {
	for _, code := range []int{501, 505, 507} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			f := newFixture(t, Options{StaleIfError: true})
			var fail atomic.Bool
			f.srv.HandleFunc("/s", func(w http.ResponseWriter, r *http.Request) {
				if fail.Load() {
					w.WriteHeader(code)
					return
				}
				w.Header().Set("Cache-Control", "max-age=60")
				w.Write([]byte("good"))
			})
			f.get(t, "/s")
			f.clock.Advance(time.Hour)
			fail.Store(true)
			if r := f.get(t, "/s"); r.status != code {
				t.Fatalf("origin answered %d: got %d %s %q", code, r.status, r.cache, r.body)
			}
		})
	}
}

// RFC 9110 §5.6.7: a two-digit rfc850 year is the one within 50 years
// ahead; "06-Nov-75" is 2075, not 1975.
func TestRFC850TwoDigitYear(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.HandleFunc("/y", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Expires", "Wednesday, 06-Nov-75 08:49:37 GMT")
		w.Write([]byte("y"))
	})
	f.expect(t, "/y", []string{Miss, Hit}, 1)
}

// RFC 9111 §4.1: a header field absent from a request only matches a
// request where it is absent too; an empty value is not absence.
func TestVaryAbsentIsNotEmpty(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.HandleFunc("/v", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-Foo")
		w.Write([]byte("v:" + r.Header.Get("X-Foo")))
	})
	f.get(t, "/v")
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v", nil)
	req.Header["X-Foo"] = []string{""}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get(Header); c == Hit {
		t.Fatalf("X-Foo empty matched the entry stored for X-Foo absent: %s", c)
	}
}

// RFC 9111 §4.3.4: a 304 whose strong validator matches no stored response
// MUST NOT update any: the v1 body must not be served as the "v2" entity.
func Test304ForAnotherRepresentation(t *testing.T) {
	f := newFixture(t, Options{})
	var n atomic.Int64
	f.srv.HandleFunc("/m", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if n.Add(1) > 1 {
			w.Header().Set("Etag", `"v2"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Etag", `"v1"`)
		w.Write([]byte("v1 body"))
	})
	f.get(t, "/m")
	f.clock.Advance(time.Hour)
	r := f.get(t, "/m")
	if r.body == "v1 body" && r.header.Get("Etag") == `"v2"` {
		t.Fatalf("the v1 body served as ETag %s (%s): a 304 for another representation updated the entry", r.header.Get("Etag"), r.cache)
	}
}
