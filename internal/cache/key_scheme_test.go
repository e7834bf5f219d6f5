package cache

import (
	"net/url"
	"testing"
)

// TestKeyForSchemes: http and https are different origins (RFC 6454)
// even on one port, so their keys differ: a plain-HTTP response (one a
// network attacker forged) never answers an HTTPS request.
func TestKeyForSchemes(t *testing.T) {
	for _, p := range [][2]string{
		{"http://h:8443/a", "https://h:8443/a"},
		{"http://h/a", "https://h:80/a"},
	} {
		a, _ := url.Parse(p[0])
		b, _ := url.Parse(p[1])
		ka, _ := KeyFor(a)
		kb, _ := KeyFor(b)
		if ka == kb {
			t.Errorf("%s and %s share the key %s", p[0], p[1], ka)
		}
	}
}
