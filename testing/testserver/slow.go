package testserver

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Slow returns a handler that waits delay before calling h, like an origin
// under load. If the client goes away first (the request's context ends),
// it returns without calling h.
func Slow(h http.Handler, delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sleep(r.Context(), delay) {
			h.ServeHTTP(w, r)
		}
	})
}

// SlowBody returns a handler that answers 200 with Content-Length
// len(body) and trickles the body: chunk bytes, a flush, a pause of every,
// and so on. It stops as soon as the client goes away. A chunk below 1
// counts as 1.
func SlowBody(body []byte, chunk int, every time.Duration) http.Handler {
	chunk = max(chunk, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		if r.Method == http.MethodHead || len(body) == 0 {
			return
		}
		for rest := body; len(rest) > 0; {
			n := min(chunk, len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			rest = rest[n:]
			if len(rest) > 0 && !sleep(r.Context(), every) {
				return
			}
		}
	})
}

// sleep waits d and reports true, or reports false as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
