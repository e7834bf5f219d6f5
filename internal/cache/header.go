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

// varySig hashes the request's values of the fields names (RFC 9111
// §4.1): each field's lines combined, whitespace around its commas dropped
// and inside a member collapsed, so that "en, fr" and "en,fr" select the
// same variant. The Accept fields, lists of case-insensitive tokens with
// parameters, are also lower-cased and lose all whitespace ("en;q=0.5" is
// "EN; q=0.5").
func varySig(names []string, h http.Header) string {
	s := sha256.New()
	for _, name := range names {
		var parts []string
		for _, v := range h.Values(name) {
			for p := range strings.SplitSeq(v, ",") {
				if strings.HasPrefix(name, "Accept") {
					parts = append(parts, strings.ToLower(strings.Join(strings.Fields(p), "")))
				} else {
					parts = append(parts, strings.Join(strings.Fields(p), " "))
				}
			}
		}
		s.Write([]byte(name + "\x00" + strings.Join(parts, ",") + "\x01"))
	}
	return hex.EncodeToString(s.Sum(nil)[:12])
}

// notModified reports whether a stored response with header stored
// matches a request's validators (RFC 9110 §13.1.2, §13.1.3):
// If-None-Match by weak comparison ("*" matches any), or, without it,
// If-Modified-Since against Last-Modified, else Date.
func notModified(req, stored http.Header) bool {
	if inm := req.Values("If-None-Match"); len(inm) > 0 {
		etag := strings.TrimPrefix(stored.Get("Etag"), "W/")
		for _, v := range inm {
			for tag := range strings.SplitSeq(v, ",") {
				tag = strings.TrimSpace(tag)
				if tag == "*" || (etag != "" && strings.TrimPrefix(tag, "W/") == etag) {
					return true
				}
			}
		}
		return false
	}
	ims, err := http.ParseTime(req.Get("If-Modified-Since"))
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(stored.Get("Last-Modified"))
	if err != nil {
		if lm, err = http.ParseTime(stored.Get("Date")); err != nil {
			return false
		}
	}
	return !lm.After(ims)
}
