package rfccache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// keyPrefix keeps this stage's keys apart from httpcache.Transport's, whose
// entries have another format, should both share a store.
const keyPrefix = "throttlecache/rfccache/v1 GET "

// request is what the cache needs to know about a cacheable request.
type request struct {
	req       *http.Request
	key       string // the store key: one per URL, for every variant
	variant   string // hash of the credentials and Accept-Encoding, "" for none
	flightKey string // key and variant: requests that may share one origin response
	cc        directives
	maxAge    time.Duration // the rule's MaxAge, when hasRule
	hasRule   bool
}

// keyFor returns the store key of u: its absolute form without user
// information or fragment.
func keyFor(u *url.URL) string {
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	c.Scheme = strings.ToLower(c.Scheme)
	c.Host = strings.ToLower(c.Host)
	return keyPrefix + c.String()
}

// variantOf returns what makes one request's response unfit for another
// whatever the origin's Vary says: credentials (Authorization, Cookie, user
// information in the URL) and an explicit Accept-Encoding, for which the
// origin's bytes arrive encoded. A request with none of them has variant "".
// It is an HMAC under the store's secret (see secret), not a plain hash, so
// that an entry read from a shared store does not let anyone test guesses
// of the credentials offline.
func (t *Transport) variantOf(req *http.Request) string {
	h := req.Header
	auth, cookie, ae := h.Values("Authorization"), h.Values("Cookie"), h.Values("Accept-Encoding")
	if len(auth) == 0 && len(cookie) == 0 && len(ae) == 0 && req.URL.User == nil {
		return ""
	}
	s := hmac.New(sha256.New, t.secret())
	for _, part := range [][]string{auth, cookie, ae} {
		for _, v := range part {
			s.Write([]byte(v))
			s.Write([]byte{0})
		}
		s.Write([]byte{1})
	}
	if req.URL.User != nil {
		s.Write([]byte(req.URL.User.String()))
	}
	return hex.EncodeToString(s.Sum(nil))
}

// secretKey is the store key of the secret that keys credential variants.
const secretKey = "throttlecache/rfccache/v1 secret"

// secret returns the key of the variant HMAC, shared by every Transport on
// the same store: read from the store, or made and written there by the
// first that needs it (and read back, so that two that raced agree on the
// one that stayed). A store that cannot keep it gives a secret of this
// process alone: credentialed entries then only match here, a miss rather
// than a leak.
func (t *Transport) secret() []byte {
	t.secretOnce.Do(func() {
		if b, ok := t.cache.Get(secretKey); ok && len(b) == 32 {
			t.secretKey = b
			return
		}
		b := make([]byte, 32)
		rand.Read(b)
		t.cache.Set(secretKey, b)
		if got, ok := t.cache.Get(secretKey); ok && len(got) == 32 {
			b = got
		} else {
			t.log.Warn("rfccache: the store did not keep the credential secret; credentialed entries will only match in this process")
		}
		t.secretKey = b
	})
	return t.secretKey
}

// varySignature hashes the request's values of the fields a response's
// Vary names, normalised (whitespace around commas dropped). "" when the
// response has no Vary.
func varySignature(names []string, h http.Header) string {
	if len(names) == 0 {
		return ""
	}
	s := sha256.New()
	for _, name := range names {
		s.Write([]byte(name))
		s.Write([]byte{0})
		var parts []string
		for _, v := range h.Values(name) {
			for p := range strings.SplitSeq(v, ",") {
				parts = append(parts, strings.TrimSpace(p))
			}
		}
		s.Write([]byte(strings.Join(parts, ",")))
		s.Write([]byte{1})
	}
	return hex.EncodeToString(s.Sum(nil))
}

// conditionalFields are request fields that make a request bypass the cache:
// the caller is validating or asking for a range itself.
var conditionalFields = []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"}

// classify returns the cacheable request, or why req must bypass the cache.
func (t *Transport) classify(req *http.Request) (rq request, why string) {
	if req.URL == nil || req.URL.Host == "" || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return rq, "not an absolute http(s) URL"
	}
	for _, k := range conditionalFields {
		if len(req.Header.Values(k)) > 0 {
			return rq, "conditional or range request"
		}
	}
	rq.cc = parseCacheControl(req.Header)
	if rq.cc.has("no-store") {
		return rq, "request no-store"
	}
	if t.rules != nil {
		rq.maxAge, rq.hasRule = t.rules.LookupURL(req.URL)
		if rq.hasRule && rq.maxAge <= 0 {
			return rq, "rule: never cache"
		}
	}
	rq.req = req
	rq.key = keyFor(req.URL)
	rq.variant = t.variantOf(req)
	rq.flightKey = rq.key + "\x00" + rq.variant
	return rq, ""
}

// matches reports whether e may answer rq: same credentials and encoding,
// same values for the fields of its Vary, and no Vary: *.
func (rq *request) matches(e *entry) bool {
	if e.variant != rq.variant || varyStar(e.header) {
		return false
	}
	return e.vary == varySignature(varyNames(e.header), rq.req.Header)
}
