package rfccache

import (
	"fmt"
	"net/http"
	"testing"
)

// TestUnframedBodyNotStored: a body that ends when the connection closes
// (no Content-Length, no chunking) cannot be told from a cut one, so even
// with explicit freshness it passes through unstored.
func TestUnframedBodyNotStored(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.HandleFunc("/unframed", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.0 200 OK\r\nCache-Control: max-age=600\r\n\r\nwhole body, or is it?")
		buf.Flush()
	})
	f.expect(t, "/unframed", []string{Miss, Miss}, 2)
	if r := f.get(t, "/unframed"); r.body != "whole body, or is it?" {
		t.Fatalf("body %q", r.body)
	}
}
