package filecache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"strings"
)

// The on-disk layout, relative to Options.Dir:
//
//	<host>[_<port>][@<variant>]/<segment>/…/@<last segment>[@<query>]            the body
//	<host>[_<port>][@<variant>]/<segment>/…/@<last segment>[@<query>]@@meta.json the sidecar
//	.tmp/    downloads in progress
//	.locks/  per-entry lock files
//	.key     the secret that keys credential variants
//
// Every name is escaped: letters, digits and "-._~,+=" are kept, anything
// else becomes %XX, and a name that would be longer than maxName is cut and
// ends in "%h" and a hash of the whole name. None of these can produce "@"
// or "%" followed by a non-hex letter, so the markers ("@" for an entry file,
// one more "@" before the query, "@@meta.json" for the sidecar) can never be
// confused with an escaped name: the mapping is injective and no name is "."
// or "..", so every path stays inside the folder.
//
// Entry files carry the "@" prefix so that /a (a file) and /a/b (which needs
// a folder a) can both be cached.

const (
	metaSuffix = "@@meta.json"
	tmpDir     = ".tmp"
	locksDir   = ".locks"
	keyFile    = ".key"
	// maxName leaves room under the usual 255-byte limit for metaSuffix.
	maxName = 200
	// maxRel bounds the whole relative path, far below PATH_MAX.
	maxRel = 2048
	// emptySegment names the folder of an empty path segment; the escaper
	// writes only upper-case hex after "%", so it cannot produce this.
	emptySegment = "%empty"
)

// loc names the files of one cache entry.
type loc struct {
	key  string // body path relative to the cache folder, with "/": the entry's identity
	body string // absolute body path
	meta string // absolute sidecar path
	host string // first path element without variant, for invalidating every variant
	dir  string // the cache folder
}

// lockPath returns the entry's lock file, named by a hash of its key.
func (l *loc) lockPath() string {
	sum := sha256.Sum256([]byte(l.key))
	return filepath.Join(l.dir, locksDir, hex.EncodeToString(sum[:16])+".lock")
}

// safeByte reports whether b is kept as is in an escaped name.
func safeByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '-', '.', '_', '~', ',', '+', '=':
		return true
	}
	return false
}

const upperHex = "0123456789ABCDEF"

// escapeName escapes s for use in a file name; extra lists bytes that are
// escaped although safeByte keeps them.
func escapeName(s, extra string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !safeByte(s[i]) || strings.IndexByte(extra, s[i]) >= 0 {
			n++
		}
	}
	if n == 0 && s != "." && s != ".." {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n + 4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) && strings.IndexByte(extra, c) < 0 && !(c == '.' && (s == "." || s == "..")) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// limitName shortens an escaped name longer than max: a prefix of it (never
// cutting a %XX in two), "%h" and 32 hex digits of its SHA-256.
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

// hostDir returns the folder name for the scheme, host and port of u, or ""
// when the URL cannot be cached (not http or https, no host).
func hostDir(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	// "_" separates the port, so it is escaped in host names; a leading "."
	// would clash with the reserved folders.
	name := escapeName(host, "_")
	if name[0] == '.' {
		name = "%2E" + name[1:]
	}
	if !(scheme == "https" && port == "443") {
		name += "_" + escapeName(port, "_")
	}
	return limitName(name, maxName)
}

// entryName returns the relative key of u's entry under the host folder hd
// (variant included), or "" when the URL cannot be mapped.
func entryKey(hd string, u *url.URL) string {
	if u.Opaque != "" {
		return ""
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if p[0] != '/' {
		return ""
	}
	segs := strings.Split(p[1:], "/")
	var b strings.Builder
	b.Grow(len(hd) + len(p) + len(u.RawQuery) + 8)
	b.WriteString(hd)
	for i, s := range segs {
		seg, err := url.PathUnescape(s)
		if err != nil {
			return ""
		}
		esc := escapeName(seg, "")
		b.WriteByte('/')
		if i < len(segs)-1 {
			if esc == "" {
				esc = emptySegment // "a//b" must not become "a/b"
			}
			b.WriteString(limitName(esc, maxName))
			continue
		}
		name := "@" + esc
		if u.RawQuery != "" || u.ForceQuery {
			name += "@" + escapeName(u.RawQuery, "")
		}
		b.WriteString(limitName(name, maxName))
	}
	key := b.String()
	if len(key) > maxRel {
		// Too deep to spell out: a fixed folder no escaped name can equal.
		sum := sha256.Sum256([]byte(key))
		key = hd + "/%h/@" + hex.EncodeToString(sum[:])
	}
	return key
}

// newLoc returns the files for key under dir.
func newLoc(dir, host, key string) loc {
	// key is clean (no empty, "." or ".." names), so no Join is needed.
	body := dir + string(filepath.Separator) + filepath.FromSlash(key)
	return loc{key: key, body: body, meta: body + metaSuffix, host: host, dir: dir}
}
