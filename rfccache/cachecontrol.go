package rfccache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// directives are a message's Cache-Control directives: names lower-cased
// (RFC 9111 §5.2), values unquoted, the first occurrence winning (§4.2.1).
type directives map[string]string

// parseCacheControl parses every Cache-Control line of h; commas inside
// quoted strings do not split directives, and malformed parts are skipped.
func parseCacheControl(h http.Header) directives {
	lines := h["Cache-Control"]
	if len(lines) == 0 {
		return nil
	}
	d := make(directives)
	for _, s := range lines {
		for len(s) > 0 {
			s = strings.TrimLeft(s, " \t,")
			i := strings.IndexAny(s, "=,")
			if i < 0 {
				i = len(s)
			}
			name, value := strings.ToLower(strings.TrimSpace(s[:i])), ""
			if s = s[i:]; strings.HasPrefix(s, "=") {
				if s = strings.TrimLeft(s[1:], " \t"); strings.HasPrefix(s, `"`) {
					value, s = unquote(s)
				} else {
					value, s, _ = strings.Cut(s, ",")
					value = strings.TrimSpace(value)
				}
			}
			if _, dup := d[name]; !dup && name != "" && !strings.ContainsAny(name, " \t\"") {
				d[name] = value
			}
		}
	}
	return d
}

// unquote returns the quoted-string opening s, unescaped, and what follows.
func unquote(s string) (value, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return b.String(), s[i+1:]
		case '\\':
			i++ // a trailing backslash is dropped
		}
		if i < len(s) {
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}

func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// seconds returns the delta-seconds value of a directive and whether it is present.
func (d directives) seconds(name string) (time.Duration, bool) {
	s, ok := d[name]
	return deltaSeconds(s), ok
}

// maxAge is the age beyond which nothing is fresh (RFC 9111 §1.2.2).
const maxAge = time.Duration(1<<31) * time.Second

// deltaSeconds parses delta-seconds: a malformed value is 0 (§1.2.2: a
// cache treats it as stale), and values of 2^31 or more are [maxAge].
func deltaSeconds(s string) time.Duration {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n < 1<<31 {
		return time.Duration(n) * time.Second
	}
	return maxAge
}
