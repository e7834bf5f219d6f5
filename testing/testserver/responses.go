package testserver

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// Status returns a handler that answers every request with code, body
// (text/plain unless the headers set a Content-Type) and the given headers,
// which come in key, value pairs:
//
//	Status(429, "slow down", "Retry-After", "2")
//
// It panics if headers has an odd length.
func Status(code int, body string, headers ...string) http.Handler {
	if len(headers)%2 != 0 {
		panic("testserver: Status headers must come in key, value pairs")
	}
	hdr := make(http.Header)
	for i := 0; i < len(headers); i += 2 {
		hdr.Add(headers[i], headers[i+1])
	}
	bodyAllowed := code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range hdr {
			h[k] = v[:len(v):len(v)] // shared: an Add downstream must reallocate
		}
		if bodyAllowed {
			if _, ok := hdr["Content-Type"]; !ok {
				h.Set("Content-Type", "text/plain; charset=utf-8")
			}
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(code)
		if bodyAllowed && r.Method != http.MethodHead {
			w.Write([]byte(body))
		}
	})
}

// Sequence returns a handler that serves the i-th request it receives
// (counting from 0) with hs[i], and every request after the last with the
// last handler: Sequence(Status(503, ...), page) fails once, then succeeds.
// It is safe for concurrent use; concurrent requests take distinct indices.
// It panics if hs is empty.
func Sequence(hs ...http.Handler) http.Handler {
	if len(hs) == 0 {
		panic("testserver: Sequence needs at least one handler")
	}
	hs = append([]http.Handler(nil), hs...)
	var next atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := next.Add(1) - 1
		hs[min(i, int64(len(hs)-1))].ServeHTTP(w, r)
	})
}

// chunkedPiece bounds the pieces Chunked writes, so large bodies do not
// flush once per byte range of a few bytes.
const chunkedPiece = 16 << 10

// Chunked returns a handler that answers 200 with body and no
// Content-Length: it flushes the headers first and then the body in a few
// pieces, so the transfer uses chunked encoding and the client cannot know
// the length in advance.
func Chunked(body []byte) http.Handler {
	piece := min(max((len(body)+3)/4, 1), chunkedPiece)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil || r.Method == http.MethodHead {
			return
		}
		for rest := body; len(rest) > 0; {
			n := min(piece, len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			rest = rest[n:]
		}
	})
}
