package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// KeyFor's keys can be browsed: a folder per origin ("_port" for http,
// "_sport" for https but on 443, then any variant), one per path segment, the last with "@" in
// front (so that /a and /a/b can both be stored), the query after a second:
//
//	www.sec.gov/Archives/edgar/data/320193/@aapl-20230930.htm
//	www.sec.gov/cgi-bin/@browse-edgar@action=getcompany%26CIK=320193
//	127.0.0.1_8080@cred-4f…/api/@me
//
// Names keep letters, digits and "-._~,+=", anything else becomes %XX, and
// a name over maxName is cut and ends in "%h" and a hash. Segments are
// escaped as sent, not decoded: /a+b and /a%2Bb differ (RFC 3986 §2.2).
// So no name has "@", is "." or "..", or is another's: the mapping is
// one-to-one and stays inside its folder.
const (
	maxName      = 200      // room under 255 bytes for a store's suffixes
	maxRel       = 900      // a whole key, under S3's 1024 bytes with a prefix
	emptySegment = "%empty" // the name of an empty segment ("a//b" is not "a/b")
)

func safeByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-._~,+=", b) >= 0
}

// escapeName escapes s; extra lists bytes escaped although safe.
func escapeName(s, extra string) string {
	i := 0
	for i < len(s) && safeByte(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
		i++
	}
	if i == len(s) && s != "." && s != ".." {
		return s // the usual name, kept as it is
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) && strings.IndexByte(extra, c) < 0 && s != "." && s != ".." {
			b.WriteByte(c)
			continue
		}
		const hexDigits = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// limitName cuts a name longer than max (never in a %XX) and ends it in
// "%h" and a hash.
func limitName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	cut := max - 2 - 32
	if i := strings.LastIndexByte(name[:cut], '%'); i >= 0 && i+3 > cut {
		cut = i
	}
	return name[:cut] + "%h" + hex.EncodeToString(sum[:16])
}

// KeyFor returns the key of u's entry, without variants, or false when u
// is not an http(s) URL with a host.
func KeyFor(u *url.URL) (Key, bool) {
	scheme := strings.ToLower(u.Scheme)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if (scheme != "http" && scheme != "https") || host == "" || u.Opaque != "" {
		return Key{}, false
	}
	port := u.Port()
	if port == "" && scheme == "https" {
		port = "443"
	} else if port == "" {
		port = "80"
	}
	// "_" separates the port; a leading "." would clash with a store's own folders.
	hd := escapeName(host, "_")
	if hd[0] == '.' {
		hd = "%2E" + hd[1:]
	}
	switch { // a port is digits: "_s" (https) cannot be one, so http and https differ
	case scheme == "http":
		hd += "_" + escapeName(port, "_")
	case port != "443":
		hd += "_s" + escapeName(port, "_")
	}
	hd = limitName(hd, maxName)

	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if p[0] != '/' {
		return Key{}, false
	}
	var b strings.Builder
	b.Grow(len(p) + len(u.RawQuery) + 8)
	last := strings.LastIndexByte(p, '/')
	if last > 0 {
		for s := range strings.SplitSeq(p[1:last], "/") {
			esc := escapeName(s, "")
			if esc == "" {
				esc = emptySegment
			}
			b.WriteString(limitName(esc, maxName))
			b.WriteByte('/')
		}
	}
	start := b.Len()
	b.WriteByte('@')
	b.WriteString(escapeName(p[last+1:], ""))
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteByte('@')
		b.WriteString(escapeName(u.RawQuery, ""))
	}
	path := b.String()
	if len(path)-start > maxName {
		path = path[:start] + limitName(path[start:], maxName)
	}
	if len(hd)+len(path) > maxRel {
		// Too deep to spell out: a folder no escaped name can equal.
		sum := sha256.Sum256([]byte(path))
		path = "%h/@" + hex.EncodeToString(sum[:])
	}
	return Key{Host: hd, Path: path}, true
}
