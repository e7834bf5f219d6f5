// Package httpbody holds what the cache stages of throttlecache need to know
// about response bodies before they trust one. It is internal.
package httpbody

import (
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
