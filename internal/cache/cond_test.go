package cache

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// storeAny stores every status (as rfccache does for 404, 410, 301…).
type storeAny struct{ storeAll }

func (storeAny) Request(*http.Request, Rule) (Request, string) { return storeAny{}, "" }
func (storeAny) Storable(*http.Response) bool                  { return true }

// TestConditionalOnAStored404: conditions are ignored when the response
// would not be 2xx (RFC 9110 §13.2.1): a client that revalidates its old
// 200 with If-Modified-Since gets the fresh stored 404, not a 304 (the
// 404's Date would stand in for Last-Modified).
func TestConditionalOnAStored404(t *testing.T) {
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "gone")
	}, Options{Policy: storeAny{}})
	c := &http.Client{Transport: tr}
	resp, err := c.Get(srv.URL + "/doc") // stores the 404
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
	req.Header.Set("If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)) // the client's old 200
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("conditional GET over a stored 404: %s (X-Cache %s), want 404: the client is told its old 200 is still valid",
			resp.Status, resp.Header.Get(cachestatus.Header))
	}
}

// TestConditionalHeadGets304: a HEAD whose If-None-Match matches the
// fresh entry gets a 304, as a GET does (RFC 9110 §13.1.2).
func TestConditionalHeadGets304(t *testing.T) {
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"x"`)
		io.WriteString(w, "body")
	}, Options{})
	c := &http.Client{Transport: tr}
	resp, err := c.Get(srv.URL + "/doc")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/doc", nil)
	req.Header.Set("If-None-Match", `"x"`)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional HEAD matching the entry: %s (X-Cache %s), want 304", resp.Status, resp.Header.Get(cachestatus.Header))
	}
}
