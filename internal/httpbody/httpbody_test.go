package httpbody

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestFramed(t *testing.T) {
	tests := []struct {
		name string
		resp http.Response
		want bool
	}{
		{"content length", http.Response{ContentLength: 10, ProtoMajor: 1}, true},
		{"empty with length", http.Response{ContentLength: 0, ProtoMajor: 1}, true},
		{"chunked", http.Response{ContentLength: -1, ProtoMajor: 1, TransferEncoding: []string{"chunked"}}, true},
		{"HTTP/2", http.Response{ContentLength: -1, ProtoMajor: 2}, true},
		{"decompressed gzip", http.Response{ContentLength: -1, ProtoMajor: 1, Uncompressed: true}, true},
		{"until close", http.Response{ContentLength: -1, ProtoMajor: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Framed(&tt.resp); got != tt.want {
				t.Fatalf("Framed = %v, want %v", got, tt.want)
			}
		})
	}
}

type counted struct {
	r      io.Reader
	read   int
	closed bool
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func (c *counted) Close() error { c.closed = true; return nil }

func TestDiscardAndCloseRequest(t *testing.T) {
	body := &counted{r: strings.NewReader(strings.Repeat("x", 1<<20))}
	Discard(body)
	if !body.closed || body.read > discardLimit {
		t.Fatalf("Discard read %d bytes (limit %d), closed %v", body.read, discardLimit, body.closed)
	}
	Discard(nil) // no panic

	req, _ := http.NewRequest(http.MethodPost, "http://example.com/", nil)
	CloseRequest(req) // no body: no panic
	rb := &counted{r: strings.NewReader("payload")}
	req.Body = rb
	CloseRequest(req)
	if !rb.closed {
		t.Fatal("CloseRequest left the body open")
	}
}
