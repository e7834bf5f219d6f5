package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Placing files under -o DIR.
//
// A URL's file is DIR/<host>[_<port>]/<path segments>, with the query, if
// any, appended to the last segment after "%3F". Dot segments are resolved as
// a browser does, without ever climbing above the host folder; a URL ending
// in "/" gets "index.html". Within each name, bytes that are unsafe in a file
// name on some system ("/", "\", ":", "*", "?", `"`, "<", ">", "|", control
// bytes), "%" itself, and a trailing dot or space are written as %XX, and a
// name longer than maxName is cut and ends in "~" and a hash of the whole
// name (its extension kept). Names are never "." or "..", and every path is
// checked to be local to DIR before use.
//
// Collisions are resolved deterministically, in input order: a file that
// would land on a path already taken (compared case-insensitively, since
// macOS and Windows fold case) or on a folder another file needs gets "~2",
// "~3"… before its extension. The same URL twice is downloaded once.

// maxName keeps names, plus a collision suffix and the temporary-file
// decoration of GetBatchToFiles (".NAME.part-0123456789"), under the usual
// 255-byte limit.
const maxName = 200

// maxRelPath bounds a whole relative path; longer ones go to a hashed name in
// the host folder.
const maxRelPath = 2048

// urlRelPath returns the slash-separated path, relative to -o, of u's file.
func urlRelPath(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(p == "80" && u.Scheme == "http") && !(p == "443" && u.Scheme == "https") {
		host += "_" + p
	}
	hostName := limitName(escapeName(host))
	if hostName == "" {
		hostName = "_"
	}

	var segs []string
	raw := u.EscapedPath()
	parts := strings.Split(raw, "/")
	dir := true // does the path end in a folder?
	for i, p := range parts {
		if i == 0 && p == "" {
			continue // the leading "/"
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			dec = p
		}
		dir = false
		switch dec {
		case "", ".":
			dir = true
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			dir = true
		default:
			segs = append(segs, dec)
		}
	}
	if dir || len(segs) == 0 {
		segs = append(segs, "index.html")
	}
	names := make([]string, len(segs))
	for i, s := range segs {
		names[i] = escapeName(s)
	}
	last := len(names) - 1
	if u.RawQuery != "" || u.ForceQuery {
		q, err := url.PathUnescape(u.RawQuery)
		if err != nil {
			q = u.RawQuery
		}
		names[last] = escapeName(segs[last] + "?" + q)
	}
	for i := range names {
		names[i] = limitName(names[i])
	}
	rel := hostName + "/" + strings.Join(names, "/")
	if len(rel) > maxRelPath {
		sum := sha256.Sum256([]byte(rel))
		ext := path.Ext(names[last])
		if len(ext) > 16 || strings.ContainsAny(ext, "%~") {
			ext = ""
		}
		rel = hostName + "/~long-" + hex.EncodeToString(sum[:16]) + ext
	}
	return rel
}

// escapeName escapes s for use as one file name on any common system.
func escapeName(s string) string {
	validUTF8 := utf8.ValidString(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		unsafe := c < 0x20 || c == 0x7f || strings.IndexByte(`/\:*?"<>|%`, c) >= 0 ||
			c >= 0x80 && !validUTF8 ||
			i == len(s)-1 && (c == '.' || c == ' ') // Windows drops them
		if unsafe {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	name := b.String()
	if isReservedName(name) {
		name = fmt.Sprintf("%%%02X", name[0]) + name[1:]
	}
	return name
}

// isReservedName reports whether name is a device name on Windows (CON,
// NUL, COM1…), which cannot name a file there with any extension.
func isReservedName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if num, ok := strings.CutPrefix(base, "COM"); ok || strings.HasPrefix(base, "LPT") {
		if !ok {
			num = base[3:]
		}
		return len(num) == 1 && num[0] >= '0' && num[0] <= '9' || num == "¹" || num == "²" || num == "³"
	}
	return false
}

// limitName shortens a name longer than maxName: a prefix, "~", 16 hex
// digits of the whole name's SHA-256, and the extension when it is short.
func limitName(name string) string {
	if len(name) <= maxName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	tag := "~" + hex.EncodeToString(sum[:8])
	ext := path.Ext(name)
	if len(ext) > 16 || strings.ContainsAny(ext, "%~") {
		ext = ""
	}
	cut := maxName - len(tag) - len(ext)
	// Never cut a %XX escape or a UTF-8 sequence in two.
	if i := strings.LastIndexByte(name[:cut], '%'); i >= 0 && i+3 > cut {
		cut = i
	}
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + tag + ext
}

// withSuffix inserts "~n" before the extension of a slash-separated path's
// last name: "a/b.htm" → "a/b~2.htm".
func withSuffix(rel string, n int) string {
	dir, name := path.Split(rel)
	ext := path.Ext(name)
	if ext == name || len(ext) > 16 {
		ext = ""
	}
	return dir + strings.TrimSuffix(name, ext) + "~" + strconv.Itoa(n) + ext
}

// planned is an item with its target file, or the reason it cannot run.
type planned struct {
	item
	Target string // the file to write
	Err    error  // set: the item fails without a request
	DupOf  int    // >= 0: the same URL as that item, which downloads it
}

// plan turns items into targets under outDir. Paths given in the list
// ("URL<TAB>path") must be relative and stay inside outDir, and two of them
// may not name the same file or have one inside the other: those are usage
// errors. Paths from URLs then avoid every path already taken.
func plan(items []item, outDir string) ([]planned, error) {
	out := make([]planned, len(items))
	files := map[string]int{} // case-folded relative file path → item
	dirs := map[string]bool{} // case-folded relative folder paths that some file needs
	explicit := map[string]int{}
	addDirs := func(rel string) {
		for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
			dirs[strings.ToLower(d)] = true
		}
	}
	// Paths given in the list come first: they are the user's choice.
	for i, it := range items {
		out[i] = planned{item: it, DupOf: -1}
		if it.Path == "" {
			continue
		}
		p := filepath.ToSlash(it.Path)
		if strings.HasPrefix(p, "/") || filepath.IsAbs(it.Path) || !filepath.IsLocal(it.Path) {
			return nil, usagef("%s: path %q must be relative and stay inside -o %s", it.Source, it.Path, outDir)
		}
		rel := path.Clean(p)
		if rel == "." { // -o itself
			return nil, usagef("%s: path %q must stay inside -o %s and name a file there, not -o itself", it.Source, it.Path, outDir)
		}
		if j, dup := explicit[strings.ToLower(rel)]; dup { // case folds on macOS and Windows
			return nil, usagef("%s: path %q is also the path of %s", it.Source, it.Path, items[j].Source)
		}
		explicit[strings.ToLower(rel)] = i
		files[strings.ToLower(rel)] = i
		addDirs(rel)
		out[i].Target = rel
	}
	for rel, i := range explicit {
		if dirs[rel] {
			return nil, usagef("%s: path %q is a file, but another path in the list needs it as a folder", items[i].Source, out[i].Target)
		}
	}
	// Paths from URLs, in input order.
	urls := map[string]int{}
	natural := make([]string, len(items))
	for i, it := range items {
		if it.Path != "" {
			continue
		}
		u, err := parseURL(it.URL)
		if err != nil {
			out[i].Err = err
			continue
		}
		id := sameURL(u)
		if j, dup := urls[id]; dup {
			out[i].DupOf = j
			continue
		}
		urls[id] = i
		natural[i] = urlRelPath(u)
		addDirs(natural[i])
	}
	for i, rel := range natural {
		if rel == "" {
			continue
		}
		if blocked := fileAbove(rel, files); blocked >= 0 {
			out[i].Err = fmt.Errorf("its file %s would be inside %s, the file of %s", rel, out[blocked].Target, items[blocked].Source)
			continue
		}
		cand := rel
		for n := 2; ; n++ {
			k := strings.ToLower(cand)
			if _, taken := files[k]; !taken && !dirs[k] {
				break
			}
			cand = withSuffix(rel, n)
		}
		files[strings.ToLower(cand)] = i
		out[i].Target = cand
	}
	for i := range out {
		if out[i].Target == "" {
			continue
		}
		if !filepath.IsLocal(filepath.FromSlash(out[i].Target)) {
			// Not reachable by construction; a last guard all the same.
			out[i].Err = fmt.Errorf("path %q would leave -o %s", out[i].Target, outDir)
			out[i].Target = ""
			continue
		}
		out[i].Target = filepath.Join(outDir, filepath.FromSlash(out[i].Target))
	}
	return out, nil
}

// fileAbove returns the item whose file is a folder that rel needs, or -1.
func fileAbove(rel string, files map[string]int) int {
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		if i, ok := files[strings.ToLower(d)]; ok {
			return i
		}
	}
	return -1
}

// parseURL parses an absolute http or https URL.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("not an absolute http or https URL: %q", s)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// sameURL is u as one resource, however spelled: the host in lower case,
// without the scheme's default port.
func sameURL(u *url.URL) string {
	c := *u
	c.Host = strings.ToLower(c.Host)
	if p := c.Port(); (p == "443" && c.Scheme == "https") || (p == "80" && c.Scheme == "http") {
		c.Host = strings.TrimSuffix(c.Host, ":"+p)
	}
	return c.String()
}
