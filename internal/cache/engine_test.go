package cache

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gregjones/httpcache"
)

// newEngine returns a Transport over a test server running h, on a memory
// ByteStore and the storeAll policy unless opts names others; both close
// when the test ends.
func newEngine(t *testing.T, h http.HandlerFunc, opts Options) (*Transport, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if opts.Store == nil {
		opts.Store = NewByteStore(httpcache.NewMemoryCache(), nil)
	}
	if opts.Policy == nil {
		opts.Policy = storeAll{}
	}
	tr, err := New(srv.Client().Transport, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, srv
}
