package rfccache

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// directives are the parsed Cache-Control directives of a message: names
// lower-cased (RFC 9111 §5.2: names are case-insensitive), values unquoted.
// The first occurrence of a directive wins (§4.2.1).
type directives map[string]string

// parseCacheControl parses every Cache-Control field line of h. Commas
// inside quoted strings do not split directives; malformed parts are
// skipped.
func parseCacheControl(h http.Header) directives {
	lines := h.Values("Cache-Control")
	if len(lines) == 0 {
		return nil
	}
	d := make(directives)
	for _, line := range lines {
		parseDirectives(line, d)
	}
	return d
}

func parseDirectives(s string, d directives) {
	for len(s) > 0 {
		// name
		s = strings.TrimLeft(s, " \t,")
		i := strings.IndexAny(s, "=,")
		var name string
		if i < 0 {
			name, s = s, ""
		} else {
			name, s = s[:i], s[i:]
		}
		name = strings.ToLower(strings.TrimSpace(name))
		var value string
		if strings.HasPrefix(s, "=") {
			s = strings.TrimLeft(s[1:], " \t")
			if strings.HasPrefix(s, `"`) {
				value, s = unquote(s)
			} else {
				j := strings.IndexByte(s, ',')
				if j < 0 {
					j = len(s)
				}
				value, s = strings.TrimSpace(s[:j]), s[j:]
			}
		}
		if name == "" || strings.ContainsAny(name, " \t\"") {
			continue
		}
		if _, dup := d[name]; !dup {
			d[name] = value
		}
	}
}

// unquote reads a quoted-string at the start of s and returns its value and
// the rest of s. An unterminated string takes the rest of s.
func unquote(s string) (value, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// seconds returns the delta-seconds value of a directive. ok is false when
// the directive is absent; a present but malformed value is 0 (§1.2.2: a
// cache treats an invalid delta-seconds as stale), and values beyond 2^31
// are capped there.
func (d directives) seconds(name string) (v time.Duration, ok bool) {
	s, ok := d[name]
	if !ok {
		return 0, false
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt32 {
		n = math.MaxInt32 + 1
	}
	return time.Duration(n) * time.Second, true
}
