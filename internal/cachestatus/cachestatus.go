// Package cachestatus holds the X-Cache vocabulary shared by the cache
// stages and the Manager.
package cachestatus

import (
	"context"
	"net/http"
)

// Header is the response header that tells where a response came from.
const Header = "X-Cache"

// The values of Header.
const (
	Hit         = "HIT"         // served from a fresh entry; the origin was not asked
	Miss        = "MISS"        // fetched from the origin (and stored when it could be)
	Revalidated = "REVALIDATED" // a stale entry the origin confirmed with a 304
	Stale       = "STALE"       // a stale entry served because the origin failed
	Bypass      = "BYPASS"      // the cache stage let the request through untouched
)

// Set marks resp with status, giving it a header map and body where a
// RoundTripper left none.
func Set(resp *http.Response, status string) {
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if v := resp.Header[Header]; len(v) != 1 || v[0] != status {
		resp.Header[Header] = []string{status}
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
}

type staleKey struct{}

// WithStale marks ctx as that of a request whose failure (a 5xx, or no
// response) the cache stage above answers from a stale entry: the stages
// below need not try it again.
func WithStale(ctx context.Context) context.Context {
	return context.WithValue(ctx, staleKey{}, true)
}

// HasStale reports whether WithStale marked ctx.
func HasStale(ctx context.Context) bool {
	return ctx.Value(staleKey{}) != nil
}
