package ratelimit

import (
	"context"
	"net/http"
	"strings"
)

type hostKey struct{}

// WithHost returns a copy of ctx that carries host, so that host-aware
// limiters such as PerHost and Gate know which server a Wait is for. The
// rate-limit stage (Transport) calls it with every request's host, so a
// Limiter behind it always finds one. host is normalised as HostFromContext
// returns it.
func WithHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, hostKey{}, Hostname(host))
}

// HostFromContext returns the host stored by WithHost: lower-cased, without
// port, IPv6 brackets or a trailing dot. ok is false when there is none.
func HostFromContext(ctx context.Context) (host string, ok bool) {
	host, ok = ctx.Value(hostKey{}).(string)
	return host, ok
}

// Hostname returns the host name that host patterns match: hostport
// lower-cased, without port, IPv6 brackets or one trailing dot, as the rules
// package does. "WWW.SEC.GOV:443" becomes "www.sec.gov", "[::1]:80" "::1".
// Unlike url.URL.Hostname it leaves a bare IPv6 address such as "::1" whole.
func Hostname(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// requestHost returns the host a request is sent to: the URL's, or the Host
// field for a URL without one.
func requestHost(req *http.Request) string {
	if req.URL != nil && req.URL.Host != "" {
		return req.URL.Host
	}
	return req.Host
}
