package testserver

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestResourceConditional(t *testing.T) {
	s := newServer(t)
	lm := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	res := NewResource([]byte("hello"), WithLastModified(lm.Add(400*time.Millisecond)),
		WithContentType("text/plain"), WithHeader("Cache-Control", "max-age=60"), WithHeader("X-Extra", "1"))
	s.Handle("/r", res)
	etag := res.ETag()
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
		t.Fatalf("ETag %s is not a strong quoted tag", etag)
	}
	if !res.LastModified().Equal(lm) {
		t.Fatalf("LastModified = %v, want %v (whole seconds)", res.LastModified(), lm)
	}
	opaque := strings.Trim(etag, `"`)
	at := func(t time.Time) string { return t.Format(http.TimeFormat) }

	tests := []struct {
		name    string
		method  string
		headers []string
		status  int
	}{
		{"plain GET", "GET", nil, 200},
		{"etag match", "GET", []string{"If-None-Match", etag}, 304},
		{"etag weak form matches", "GET", []string{"If-None-Match", "W/" + etag}, 304},
		{"etag in a list", "GET", []string{"If-None-Match", `"a", ` + etag + `, "b"`}, 304},
		{"etag in a second field line", "GET", []string{"If-None-Match", `"a"`, "If-None-Match", etag}, 304},
		{"etag star", "GET", []string{"If-None-Match", "*"}, 304},
		{"etag mismatch", "GET", []string{"If-None-Match", `"other"`}, 200},
		{"etag unquoted does not match", "GET", []string{"If-None-Match", opaque}, 200},
		{"ims equal", "GET", []string{"If-Modified-Since", at(lm)}, 304},
		{"ims later", "GET", []string{"If-Modified-Since", at(lm.Add(time.Hour))}, 304},
		{"ims earlier", "GET", []string{"If-Modified-Since", at(lm.Add(-time.Second))}, 200},
		{"ims malformed", "GET", []string{"If-Modified-Since", "yesterday"}, 200},
		{"etag mismatch beats ims match", "GET", []string{"If-None-Match", `"other"`, "If-Modified-Since", at(lm)}, 200},
		{"etag match beats ims mismatch", "GET", []string{"If-None-Match", etag, "If-Modified-Since", at(lm.Add(-time.Hour))}, 304},
		{"HEAD plain", "HEAD", nil, 200},
		{"HEAD etag match", "HEAD", []string{"If-None-Match", etag}, 304},
		{"POST", "POST", nil, 405},
		{"DELETE with a matching etag", "DELETE", []string{"If-None-Match", etag}, 405},
	}
	c := rawClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full0, nm0 := res.Served()
			resp, body := do(t, c, tt.method, s.URL+"/r", tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			h := resp.Header
			if h.Get("Date") == "" {
				t.Error("no Date")
			}
			full, nm := res.Served()
			switch tt.status {
			case 200:
				wantBody := "hello"
				if tt.method == "HEAD" {
					wantBody = ""
				}
				if string(body) != wantBody || resp.ContentLength != 5 || h.Get("Content-Type") != "text/plain" {
					t.Errorf("200: body %q, length %d, type %q", body, resp.ContentLength, h.Get("Content-Type"))
				}
				if full != full0+1 || nm != nm0 {
					t.Errorf("Served went from (%d, %d) to (%d, %d) on a 200", full0, nm0, full, nm)
				}
			case 304:
				if len(body) != 0 || h.Get("Content-Type") != "" {
					t.Errorf("304 with body %q or Content-Type %q", body, h.Get("Content-Type"))
				}
				if full != full0 || nm != nm0+1 {
					t.Errorf("Served went from (%d, %d) to (%d, %d) on a 304", full0, nm0, full, nm)
				}
			case 405:
				if h.Get("Allow") != "GET, HEAD" {
					t.Errorf("405 Allow = %q", h.Get("Allow"))
				}
				return
			}
			if h.Get("ETag") != etag || h.Get("Last-Modified") != at(lm) {
				t.Errorf("validators %s / %s, want %s / %s", h.Get("ETag"), h.Get("Last-Modified"), etag, at(lm))
			}
			if h.Get("Cache-Control") != "max-age=60" || h.Get("X-Extra") != "1" {
				t.Errorf("extra headers: Cache-Control %q, X-Extra %q", h.Get("Cache-Control"), h.Get("X-Extra"))
			}
		})
	}
}

func TestResourceSet(t *testing.T) {
	s := newServer(t)
	res := NewResource([]byte("v1"))
	s.Handle("/r", res)
	c := rawClient(t)
	etag1, lm1 := res.ETag(), res.LastModified()

	res.Set([]byte("v2"))
	etag2, lm2 := res.ETag(), res.LastModified()
	if etag2 == etag1 {
		t.Errorf("Set kept the ETag %s", etag1)
	}
	if lm2.Sub(lm1) < time.Second {
		t.Errorf("Last-Modified moved from %v to %v, want at least a second", lm1, lm2)
	}
	if string(res.Body()) != "v2" {
		t.Errorf("Body = %q", res.Body())
	}
	resp, body := do(t, c, "GET", s.URL+"/r", "If-None-Match", etag1)
	if resp.StatusCode != 200 || string(body) != "v2" || resp.Header.Get("ETag") != etag2 {
		t.Errorf("old ETag: %d %q %s, want 200 v2 %s", resp.StatusCode, body, resp.Header.Get("ETag"), etag2)
	}
	resp, _ = do(t, c, "GET", s.URL+"/r", "If-Modified-Since", lm1.Format(http.TimeFormat))
	if resp.StatusCode != 200 {
		t.Errorf("old Last-Modified: status %d, want 200", resp.StatusCode)
	}
	resp, _ = do(t, c, "GET", s.URL+"/r", "If-None-Match", etag2)
	if resp.StatusCode != 304 {
		t.Errorf("new ETag: status %d, want 304", resp.StatusCode)
	}

	res.Set([]byte("v1")) // same bytes as the first version, still a new tag
	if res.ETag() == etag1 || res.ETag() == etag2 {
		t.Errorf("Set back to v1 reused a tag: %s", res.ETag())
	}
}

func TestResourceBodyIsCopied(t *testing.T) {
	b := []byte("abc")
	res := NewResource(b)
	b[0] = 'X'
	got := res.Body()
	got[1] = 'Y'
	if string(res.Body()) != "abc" {
		t.Errorf("Body = %q, want abc", res.Body())
	}
}

func TestResourceWithETag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", `"abc"`},
		{`"abc"`, `"abc"`},
		{`W/"abc"`, `W/"abc"`},
	}
	for _, tt := range tests {
		if got := NewResource(nil, WithETag(tt.in)).ETag(); got != tt.want {
			t.Errorf("WithETag(%s): ETag = %s, want %s", tt.in, got, tt.want)
		}
	}
	s := newServer(t)
	s.Handle("/w", NewResource([]byte("x"), WithETag(`W/"v"`)))
	resp, _ := do(t, rawClient(t), "GET", s.URL+"/w", "If-None-Match", `"v"`)
	if resp.StatusCode != 304 {
		t.Errorf("weak comparison of a weak tag: status %d, want 304", resp.StatusCode)
	}
}

func TestResourceWithoutValidators(t *testing.T) {
	s := newServer(t)
	res := NewResource([]byte("x"), WithoutValidators())
	s.Handle("/n", res)
	if res.ETag() != "" || !res.LastModified().IsZero() {
		t.Fatalf("validators %q %v, want none", res.ETag(), res.LastModified())
	}
	resp, _ := do(t, rawClient(t), "GET", s.URL+"/n", "If-None-Match", "*", "If-Modified-Since", time.Now().Format(http.TimeFormat))
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != "" || resp.Header.Get("Last-Modified") != "" {
		t.Errorf("got %d ETag %q Last-Modified %q, want a plain 200", resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
	}
	res.Set([]byte("y"))
	if res.ETag() != "" || !res.LastModified().IsZero() {
		t.Errorf("Set added validators: %q %v", res.ETag(), res.LastModified())
	}
}

func TestResourceGzip(t *testing.T) {
	s := newServer(t)
	plain := bytes.Repeat([]byte("compress me please "), 100)
	res := NewResource(plain, WithGzip(), WithContentType("text/plain"))
	s.Handle("/z", res)
	gzTag := strings.TrimSuffix(res.ETag(), `"`) + `-gzip"`
	raw := rawClient(t)

	tests := []struct {
		name           string
		acceptEncoding string
		gzipped        bool
	}{
		{"none", "", false},
		{"gzip", "gzip", true},
		{"list", "br, gzip;q=0.5", true},
		{"x-gzip", "x-gzip", true},
		{"star", "*", true},
		{"refused", "gzip;q=0", false},
		{"refused beats star", "gzip;q=0, *", false},
		{"identity", "identity", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.acceptEncoding != "" {
				hdr = []string{"Accept-Encoding", tt.acceptEncoding}
			}
			resp, body := do(t, raw, "GET", s.URL+"/z", hdr...)
			if resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary = %q", resp.Header.Get("Vary"))
			}
			if resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(body))
			}
			if !tt.gzipped {
				if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, plain) || resp.Header.Get("ETag") != res.ETag() {
					t.Errorf("want the plain variant, got encoding %q, %d bytes, ETag %s", resp.Header.Get("Content-Encoding"), len(body), resp.Header.Get("ETag"))
				}
				return
			}
			if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") != gzTag {
				t.Fatalf("want the gzip variant, got encoding %q, ETag %s", resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("decompressed %d bytes (%v), want the plain body", len(got), err)
			}
		})
	}

	t.Run("conditional per variant", func(t *testing.T) {
		resp, _ := do(t, raw, "GET", s.URL+"/z", "Accept-Encoding", "gzip", "If-None-Match", gzTag)
		if resp.StatusCode != 304 || resp.Header.Get("ETag") != gzTag {
			t.Errorf("gzip tag on gzip request: %d %s", resp.StatusCode, resp.Header.Get("ETag"))
		}
		resp, _ = do(t, raw, "GET", s.URL+"/z", "Accept-Encoding", "gzip", "If-None-Match", res.ETag())
		if resp.StatusCode != 200 {
			t.Errorf("plain tag on gzip request: %d, want 200", resp.StatusCode)
		}
		resp, _ = do(t, raw, "GET", s.URL+"/z", "If-None-Match", gzTag)
		if resp.StatusCode != 200 {
			t.Errorf("gzip tag on plain request: %d, want 200", resp.StatusCode)
		}
	})

	t.Run("default transport decompresses", func(t *testing.T) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, body := do(t, &http.Client{Transport: tr}, "GET", s.URL+"/z")
		if !resp.Uncompressed || !bytes.Equal(body, plain) {
			t.Errorf("Uncompressed %v, %d bytes, want the plain body decompressed", resp.Uncompressed, len(body))
		}
	})
}

func TestResourceConcurrentSet(t *testing.T) {
	s := newServer(t)
	res := NewResource([]byte("0"), WithGzip())
	s.Handle("/r", res)
	c := rawClient(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			res.Set([]byte{byte('0' + i%10)})
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 25 {
				resp, err := c.Get(s.URL + "/r")
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if len(b) != 1 || resp.Header.Get("ETag") == "" {
					t.Errorf("body %q ETag %q", b, resp.Header.Get("ETag"))
				}
			}
		})
	}
	wg.Wait()
	full, nm := res.Served()
	if full != 100 || nm != 0 {
		t.Errorf("Served = (%d, %d), want (100, 0)", full, nm)
	}
}
