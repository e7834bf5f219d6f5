package testserver

import (
	"net"
	"net/http"
	"strconv"
)

// ResetAfter returns a handler that declares Content-Length len(body),
// sends the first n bytes of body and then aborts the connection with a TCP
// reset (SO_LINGER 0), so the client sees "connection reset by peer" or an
// unexpected EOF while reading the body. n is clamped to [0, len(body)]; use
// n < len(body).
func ResetAfter(body []byte, n int) http.Handler {
	return truncated(body, n, true)
}

// Short returns a handler that declares Content-Length len(body), sends the
// first n bytes of body and then closes the connection cleanly, so the
// client sees an unexpected EOF while reading the body. n is clamped to
// [0, len(body)]; use n < len(body).
func Short(body []byte, n int) http.Handler {
	return truncated(body, n, false)
}

func truncated(body []byte, n int, reset bool) http.Handler {
	n = min(max(n, 0), len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(body[:n])
		}
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			return
		}
		conn, _, err := rc.Hijack()
		if err != nil {
			// Not HTTP/1: abort the stream, which the client also sees as
			// a broken body.
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok && reset {
			tc.SetLinger(0)
		}
		conn.Close()
	})
}

// Reset returns a handler that aborts the connection with a TCP reset
// before answering: the client gets no response, only "connection reset
// by peer" or an EOF. Over HTTP/2 it aborts the stream.
func Reset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
	})
}
