package cache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
)

// unstored are the fields an entry never keeps: hop-by-hop fields (RFC 9110
// §7.6.1), the cache's status, the length (Size says it), and cookies.
// Set-Cookie is left out on purpose, though RFC 9111 lets a private cache
// keep it: a folder or bucket shared by a user's processes must not replay
// one request's session cookie to every other. The cost: a response read
// from the cache never sets a cookie.
var unstored = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Set-Cookie", "Set-Cookie2",
	"Content-Length", "X-Cache",
}

// StoredHeader returns the fields of h that an entry keeps.
func StoredHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, f := range h.Values("Connection") {
		for name := range strings.SplitSeq(f, ",") {
			out.Del(strings.TrimSpace(name))
		}
	}
	for _, k := range unstored {
		delete(out, k)
	}
	return out
}

// notUpdated are the fields a 304 does not replace (RFC 9111 §3.2): the
// length, and the encoding and range of the body held, which Go's
// transport may have decoded.
var notUpdated = []string{"Content-Length", "Content-Encoding", "Content-Range"}

// merge304 returns stored updated with the fields of a 304.
func merge304(stored, fresh http.Header) http.Header {
	out := stored.Clone()
	for k, v := range StoredHeader(fresh) {
		if !slices.Contains(notUpdated, k) {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

// variant returns the Key.Variant of req: an explicit Accept-Encoding (the
// body may come encoded, unlike what Go's transport returns without one)
// and credentials (Authorization, Cookie, user information in the URL),
// keyed by an HMAC under the store's secret so that names reveal nothing
// and a shared store gives nobody a hash to test guesses against.
func variant(req *http.Request, secret func() []byte) string {
	h := req.Header
	var v string
	if ae := h.Values("Accept-Encoding"); len(ae) > 0 {
		s := strings.Join(strings.Fields(strings.ToLower(strings.Join(ae, ","))), "")
		sum := sha256.Sum256([]byte(s))
		v += "@ae-" + hex.EncodeToString(sum[:4])
	}
	auth, cookie := h.Values("Authorization"), h.Values("Cookie")
	if len(auth) > 0 || len(cookie) > 0 || req.URL.User != nil {
		mac := hmac.New(sha256.New, secret())
		for _, a := range auth {
			mac.Write([]byte("a:" + a + "\n"))
		}
		for _, c := range cookie {
			mac.Write([]byte("c:" + c + "\n"))
		}
		if req.URL.User != nil {
			mac.Write([]byte("u:" + req.URL.User.String() + "\n"))
		}
		v += "@cred-" + hex.EncodeToString(mac.Sum(nil)[:12])
	}
	return v
}

// VaryNames returns the canonical field names of h's Vary, sorted, once
// each; "*" among them when present.
func VaryNames(h http.Header) []string {
	var names []string
	for _, v := range h.Values("Vary") {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				names = append(names, http.CanonicalHeaderKey(part))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// varySig hashes the request's values of the fields names, each combined
// over its lines with the whitespace around commas removed, so that
// "en, fr" and "en,fr" select the same variant (RFC 9111 §4.1).
func varySig(names []string, h http.Header) string {
	s := sha256.New()
	for _, name := range names {
		var parts []string
		for _, v := range h.Values(name) {
			for p := range strings.SplitSeq(v, ",") {
				parts = append(parts, strings.Join(strings.Fields(p), " "))
			}
		}
		s.Write([]byte(name + "\x00" + strings.Join(parts, ",") + "\x01"))
	}
	return hex.EncodeToString(s.Sum(nil)[:12])
}
