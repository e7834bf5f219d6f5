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
// §7.6.1), X-Cache, the length (Size says it), and cookies, though RFC
// 9111 lets a private cache keep them: a shared folder or bucket must not
// replay one request's session to another, so a hit sets no cookie.
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
	for _, f := range h["Connection"] {
		for name := range strings.SplitSeq(f, ",") {
			out.Del(strings.TrimSpace(name))
		}
	}
	for _, k := range unstored {
		delete(out, k)
	}
	return out
}

// notUpdated are the fields a 304 does not replace (RFC 9111 §3.2): they
// describe the body held, which Go's transport may have decoded.
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
// body may come encoded) and credentials (Authorization, Cookie, URL user
// information) by an HMAC under the store's secret, so that a name gives
// nobody a hash to test guesses against.
func variant(req *http.Request, secret func() []byte) string {
	h := req.Header
	var v string
	if ae := h["Accept-Encoding"]; len(ae) > 0 {
		s := strings.Join(strings.Fields(strings.ToLower(strings.Join(ae, ","))), "")
		sum := sha256.Sum256([]byte(s))
		v += "@ae-" + hex.EncodeToString(sum[:4])
	}
	auth, cookie := h["Authorization"], h["Cookie"]
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

// VaryNames returns h's Vary field names, canonical, sorted, once each.
func VaryNames(h http.Header) []string {
	var names []string
	for _, v := range h["Vary"] {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				names = append(names, http.CanonicalHeaderKey(part))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// varySig hashes the request's values of names (RFC 9111 §4.1),
// normalised so that "en, fr" and "en,fr" select one variant; the Accept
// fields are also lower-cased and lose all whitespace.
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
		joined := strings.Join(parts, ",")
		if joined == "" && len(parts) > 0 {
			joined = "\x02" // present but empty: not the same as absent (§4.1)
		}
		s.Write([]byte(name + "\x00" + joined + "\x01"))
	}
	return hex.EncodeToString(s.Sum(nil)[:12])
}

// sameETag reports whether a 304's ETag, if any, names the stored
// response's representation (weak comparison, RFC 9110 §8.8.3.2); one
// stored without an ETag is taken to be it.
func sameETag(fresh, stored http.Header) bool {
	a, b := fresh.Get("Etag"), stored.Get("Etag")
	return a == "" || b == "" || strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// serverError reports whether code is one of the errors a stale response
// may stand in for (RFC 5861 §4): 500, 502, 503 and 504.
func serverError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

// notModified reports whether stored matches a request's validators (RFC
// 9110 §13.1.2–3): If-None-Match by weak comparison, else
// If-Modified-Since against Last-Modified or Date.
func notModified(req, stored http.Header) bool {
	if inm := req["If-None-Match"]; len(inm) > 0 {
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
