package ratelimit

import (
	"net/http"

	"github.com/throttlecache/throttlecache/rules"
)

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
