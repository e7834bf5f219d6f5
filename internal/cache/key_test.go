package cache

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyForDistinct(t *testing.T) {
	urls := []string{
		"https://h/", "https://h", "https://h/?", "https://h/a", "https://h/a/", "https://h/a-b", "https://h/a/b",
		"https://h/a%2Fb", "https://h/a?b", "https://h/a?b=1&c=2", "https://h/a?b=1%26c=2", "https://h/a%3Fb",
		"https://h/a@@meta.json", "https://h/a@@v-x", "https://h/a?@meta.json", "https://h/a?", "https://h/a/b/c", "https://h//a", "https://h/a//b", "https://h/%empty/a",
		"https://h/..", "https://h/%2E%2E", "https://h/./x", "https://h/a/../b", "https://h/%40", "https://h/@",
		"https://h/" + strings.Repeat("x", 300), "https://h/" + strings.Repeat("x", 301), "https://h/" + strings.Repeat("é", 200),
		"https://h/" + strings.Repeat("seg/", 300) + "x", "https://h/" + strings.Repeat("seg/", 301) + "x",
		"http://h/a", "https://h:8443/a", "http://h:8443/x", "http://h:8443/a", "https://h:80/a", "http://h:443/a", "https://H.example/a", "https://h_80/a", "https://h/A",
		"https://h/a%25b", "https://h/a%b", "https://h/a%2fb", "https://[::1]:8080/a",
		// A reserved character and its escaped form are different resources (RFC 3986 §2.2).
		"https://h/r/a+b", "https://h/r/a%2Bb", "https://h/r/a,b", "https://h/r/a%2Cb", "https://h/r/a=b", "https://h/r/a%3Db",
		"https://h/r/a!b", "https://h/r/a%21b", "https://h/r/a;b", "https://h/r/a%3Bb", "https://h/r/a:b", "https://h/r/a%3Ab",
		"https://h/r/a@b", "https://h/r/a%40b", "https://h/r/a$b", "https://h/r/a%24b", "https://h/r/a&b", "https://h/r/a%26b",
		"https://h/r/a b", "https://h/r/a%20b", "https://h/r/a%2520b",
	}
	seen := map[string]string{}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		k, ok := KeyFor(u)
		if !ok {
			t.Errorf("%s: not mapped", s)
			continue
		}
		key := k.String()
		checkKey(t, key)
		canon := canonical(u)
		if prev, ok := seen[key]; ok && prev != canon {
			t.Errorf("%s and %s share %s", prev, canon, key)
		}
		seen[key] = canon
	}
}

// canonical is the identity the mapping preserves: scheme and port (as the
// port), lower-cased host, the path as it travels (escaped) and the raw
// query.
func canonical(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	q := ""
	if u.RawQuery != "" || u.ForceQuery {
		q = "?" + u.RawQuery
	}
	return strings.ToLower(u.Scheme) + "://" + strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") + ":" + port + "|" + p + q
}

// checkKey fails unless key is a clean relative path with short names.
func checkKey(t testing.TB, key string) {
	t.Helper()
	if filepath.IsAbs(key) || strings.Contains(key, "\\") || strings.Contains(key, "\x00") || len(key) > maxRel+60 {
		t.Fatalf("bad key %q", key)
	}
	parts := strings.Split(key, "/")
	for i, p := range parts {
		if p == "" || p == "." || p == ".." || len(p)+len("@@v-")+24+len("@@meta.json") > 255 {
			t.Fatalf("bad name %q in %q", p, key)
		}
		if i == 0 && strings.HasPrefix(p, ".") {
			t.Fatalf("host folder %q clashes with a store's own folders", p)
		}
		if i == len(parts)-1 && (p[0] != '@' || strings.Count(p, "@") > 2) {
			t.Fatalf("leaf %q", p)
		}
		if i > 0 && i < len(parts)-1 && strings.Contains(p, "@") {
			t.Fatalf("folder %q", p)
		}
	}
	dir := "/cache"
	full := filepath.Join(dir, filepath.FromSlash(key))
	if !strings.HasPrefix(full, dir+"/") || filepath.Clean(full) != full {
		t.Fatalf("%q escapes the folder", key)
	}
}

func FuzzKeyFor(f *testing.F) {
	for _, s := range []string{"/a", "/a/b", "/a-b", "/a%2Fb", "/a?b", "/a?b=1&c=2", "/a@@meta.json", "/..", "/%2e%2e/x", "/" + strings.Repeat("y", 260), "/a+b", "/a%2Bb"} {
		f.Add(s, "/a/b")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ua, err1 := url.Parse("https://example.com" + a)
		ub, err2 := url.Parse("https://example.com" + b)
		if err1 != nil || err2 != nil || !strings.HasPrefix(a, "/") || !strings.HasPrefix(b, "/") || ua.Host != "example.com" || ub.Host != "example.com" {
			return
		}
		ka, oka := KeyFor(ua)
		kb, okb := KeyFor(ub)
		if !oka || !okb {
			return
		}
		checkKey(t, ka.String())
		checkKey(t, kb.String())
		if ka == kb && canonical(ua) != canonical(ub) {
			t.Fatalf("%q and %q share %q", a, b, ka)
		}
	})
}
