package rfccache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gregjones/httpcache"
)

// TestConditionalOnAStored404: with the RFC policy, a fresh stored 404
// (max-age=600) answers a conditional GET with the 404, not a 304.
func TestConditionalOnAStored404(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "gone")
	}))
	t.Cleanup(srv.Close)
	tr, err := New(srv.Client().Transport, httpcache.NewMemoryCache(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	c := &http.Client{Transport: tr}
	resp, err := c.Get(srv.URL + "/doc")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
	req.Header.Set("If-Modified-Since", time.Now().UTC().Format(http.TimeFormat))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("conditional GET over a fresh stored 404: %s (X-Cache %s), want 404", resp.Status, resp.Header.Get("X-Cache"))
	}
}
