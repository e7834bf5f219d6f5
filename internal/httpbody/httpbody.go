// Package httpbody holds what the stages of throttlecache need to know
// about response bodies before they trust one, and the small duties of an
// http.RoundTripper they share. It is internal.
package httpbody

import (
	"io"
	"net/http"
	"slices"
)

// Framed reports whether the end of resp's body can be told from a dropped
// connection: a Content-Length, chunked framing, HTTP/2 frames, or gzip's
// own trailer when the transport decompressed it. An HTTP/1.0-style body
// that ends when the connection closes cannot: a cut looks like the end, so
// a cache must never store such a body or hand it to other requests.
func Framed(resp *http.Response) bool {
	return resp.ContentLength >= 0 || resp.ProtoMajor >= 2 || resp.Uncompressed ||
		slices.Contains(resp.TransferEncoding, "chunked")
}

// discardLimit is how much of an unwanted body Discard reads: enough for
// the usual error page, so that the connection can be reused, and no more.
const discardLimit = 4 << 10

// Discard reads a little of a body that nobody will read, so that its
// connection can be reused, and closes it. A nil body is left alone.
func Discard(body io.ReadCloser) {
	if body == nil {
		return
	}
	io.CopyN(io.Discard, body, discardLimit)
	body.Close()
}

// CloseRequest closes req's body, if it has one: a RoundTripper must close
// it even when it sends nothing (a cache hit, an error before sending).
func CloseRequest(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// CloseIdle closes rt's idle connections when it has a
// CloseIdleConnections method: a stage forwards http.Client's call to the
// stage below it, down to the network.
func CloseIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// OnClose returns rc with fn called after its Close: a request context
// released when its body is done with. A body that is also an io.Writer
// (a 101 Switching Protocols response's) stays one.
func OnClose(rc io.ReadCloser, fn func()) io.ReadCloser {
	if rw, ok := rc.(io.ReadWriteCloser); ok {
		return &onCloseWriter{onClose{rw, fn}, rw}
	}
	return &onClose{rc, fn}
}

type onClose struct {
	io.ReadCloser
	fn func()
}

func (b *onClose) Close() error {
	err := b.ReadCloser.Close()
	b.fn()
	return err
}

type onCloseWriter struct {
	onClose
	w io.Writer
}

func (b *onCloseWriter) Write(p []byte) (int, error) { return b.w.Write(p) }
