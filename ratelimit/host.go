package ratelimit

import (
	"context"
	"net/http"

	"github.com/throttlecache/throttlecache/rules"
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
// package does (it is rules.Hostname). "WWW.SEC.GOV:443" becomes
// "www.sec.gov", "[::1]:80" "::1".
func Hostname(hostport string) string { return rules.Hostname(hostport) }

// requestHost returns the host a request is sent to: the URL's, or the Host
// field for a URL without one.
func requestHost(req *http.Request) string {
	if req.URL != nil && req.URL.Host != "" {
		return req.URL.Host
	}
	return req.Host
}
