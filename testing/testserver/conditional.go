package testserver

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// notModified reports whether a GET or HEAD request's preconditions let the
// server answer 304 for a representation with the given validators. As RFC
// 9110 section 13.2.2 orders it, If-None-Match is evaluated when present and
// If-Modified-Since only when it is absent.
func notModified(r *http.Request, etag string, lastModified time.Time) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		return etag != "" && noneMatchHits(strings.Join(inm, ","), etag)
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || lastModified.IsZero() {
		return false
	}
	t, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	return !lastModified.Truncate(time.Second).After(t)
}

// noneMatchHits reports whether the If-None-Match field value list matches
// etag by the weak comparison (RFC 9110 section 8.8.3.2), or is "*".
func noneMatchHits(list, etag string) bool {
	want := opaqueTag(etag)
	for {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		if list[0] == '*' {
			return true
		}
		tag, rest, ok := scanETag(list)
		if !ok {
			// Skip a malformed element up to the next comma.
			_, rest, _ = strings.Cut(list, ",")
		} else if opaqueTag(tag) == want {
			return true
		}
		list = rest
	}
}

// scanETag reads one entity-tag (W/"x" or "x") from the start of s.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) <= start || s[start] != '"' {
		return "", s, false
	}
	end := strings.IndexByte(s[start+1:], '"')
	if end < 0 {
		return "", s, false
	}
	end += start + 2
	return s[:end], s[end:], true
}

// opaqueTag strips the weakness indicator, for the weak comparison.
func opaqueTag(etag string) string { return strings.TrimPrefix(etag, "W/") }

// quoteETag makes an entity-tag of v unless it already is one.
func quoteETag(v string) string {
	if v == "" {
		return ""
	}
	if _, rest, ok := scanETag(v); ok && rest == "" {
		return v
	}
	return strconv.Quote(v)
}

// variantETag derives the entity-tag of an encoded variant: "x" becomes
// "x-gzip" and W/"x" becomes W/"x-gzip".
func variantETag(etag, coding string) string {
	if etag == "" {
		return ""
	}
	return etag[:len(etag)-1] + "-" + coding + `"`
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip:
// gzip or x-gzip, or else *, with a q-value above zero.
func acceptsGzip(r *http.Request) bool {
	explicit, star := 0, 0 // 0 unseen, 1 acceptable, -1 refused
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			verdict := 1
			if qZero(params) {
				verdict = -1
			}
			switch {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				explicit = merge(explicit, verdict)
			case coding == "*":
				star = merge(star, verdict)
			}
		}
	}
	if explicit != 0 {
		return explicit > 0
	}
	return star > 0
}

// merge combines verdicts on one coding: any acceptable mention wins.
func merge(old, v int) int {
	if old == 0 {
		return v
	}
	return max(old, v)
}

// qZero reports whether the parameters of an Accept-Encoding element set
// q=0.
func qZero(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && q == 0
	}
	return false
}
