package main

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestURLRelPath(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"plain", "https://www.sec.gov/Archives/edgar/data/1/a.htm", "www.sec.gov/Archives/edgar/data/1/a.htm"},
		{"host lower-cased, default port dropped", "https://WWW.Example.COM:443/a", "www.example.com/a"},
		{"port kept", "http://127.0.0.1:8080/a", "127.0.0.1_8080/a"},
		{"root", "https://h", "h/index.html"},
		{"folder", "https://h/d/", "h/d/index.html"},
		{"query", "https://h/cgi-bin/browse?action=get&CIK=1", "h/cgi-bin/browse%3Faction=get&CIK=1"},
		{"dot segments resolved inside", "https://h/a/../../../etc/passwd", "h/etc/passwd"},
		{"encoded slash stays in the name", "https://h/a%2F..%2F..%2Fx", "h/a%2F..%2F..%2Fx"},
		{"encoded dots are dot segments", "https://h/%2e%2e/%2E%2E/x", "h/x"},
		{"backslash", `https://h/a%5Cb`, "h/a%5Cb"},
		{"percent escaped", "https://h/50%25", "h/50%25"},
		{"unsafe bytes", "https://h/a%3Ab%2Ac%22d%3Ce%7Cf%00", "h/a%3Ab%2Ac%22d%3Ce%7Cf%00"},
		{"trailing dot", "https://h/a.", "h/a%2E"},
		{"device name", "https://h/CON.txt", "h/%43ON.txt"},
		{"unicode kept", "https://h/caf%C3%A9", "h/café"},
		{"invalid UTF-8 escaped", "https://h/%FF", "h/%FF"},
		{"empty segments", "https://h/a//b", "h/a/b"},
		{"fragment ignored", "https://h/a#x", "h/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := urlRelPath(u); got != tt.want {
				t.Errorf("urlRelPath(%s) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

func TestLongNames(t *testing.T) {
	long := strings.Repeat("é", 200) + ".htm"
	u, _ := parseURL("https://h/" + long + "?" + strings.Repeat("q", 500))
	rel := urlRelPath(u)
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	if len(name) > maxName || !strings.HasSuffix(name, ".htm") && !strings.Contains(name, "~") {
		t.Errorf("name of %d bytes: %q", len(name), name)
	}
	u2, _ := parseURL("https://h/" + long + "?" + strings.Repeat("q", 501))
	if urlRelPath(u2) == rel {
		t.Error("two long names that differ only at the end got the same file")
	}
	deep, _ := parseURL("https://h/" + strings.Repeat(strings.Repeat("d", 150)+"/", 30) + "f.txt")
	if r := urlRelPath(deep); len(r) > maxRelPath || !strings.HasSuffix(r, ".txt") {
		t.Errorf("deep path: %d bytes, %q", len(r), r)
	}
}

func TestPlan(t *testing.T) {
	items := []item{
		{URL: "https://h/a"},
		{URL: "https://h/a/b"},
		{URL: "https://h/a"},
		{URL: "https://h/x.htm"},
		{URL: "https://h/mine.bin", Path: "h/x.htm"}, // a list's path wins
		{URL: "not a url"},
		{URL: "https://h/f", Path: "file"},
		{URL: "https://h/file/inner"},
		{URL: "https://h/FILE/other"},
	}
	items[7].URL = "https://h2/z"
	items[7].Path = ""
	plans, err := plan(items, "out")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		target string
		dup    int
		err    bool
	}{
		{target: "out/h/a~2", dup: -1},
		{target: "out/h/a/b", dup: -1},
		{dup: 0},
		{target: "out/h/x~2.htm", dup: -1},
		{target: "out/h/x.htm", dup: -1},
		{dup: -1, err: true},
		{target: "out/file", dup: -1},
		{target: "out/h2/z", dup: -1},
		{target: "out/h/FILE/other", dup: -1},
	}
	for i, w := range want {
		p := plans[i]
		if filepath.ToSlash(p.Target) != w.target || p.DupOf != w.dup || (p.Err != nil) != w.err {
			t.Errorf("item %d (%s): target %q dup %d err %v; want %q %d %v", i, p.URL, p.Target, p.DupOf, p.Err, w.target, w.dup, w.err)
		}
	}

	// A list path that is a file where another needs a folder.
	_, err = plan([]item{{URL: "https://h/1", Path: "a", Source: "l:1"}, {URL: "https://h/2", Path: "a/b", Source: "l:2"}}, "out")
	if err == nil {
		t.Error("a path inside another list path's file was accepted")
	}
	// A URL whose folder is a list path's file fails alone.
	plans, err = plan([]item{{URL: "https://h/1", Path: "h", Source: "l:1"}, {URL: "https://h/2"}}, "out")
	if err != nil || plans[1].Err == nil {
		t.Errorf("a URL under a list path's file: %v, %v", err, plans[1].Err)
	}
}

func FuzzURLRelPath(f *testing.F) {
	for _, s := range []string{"https://h/a/../b", "http://h:1/%2e%2e/%2F?x=../y", "https://h/CON.", "https://h//a//", "https://[::1]:8/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseURL(s)
		if err != nil {
			return
		}
		rel := urlRelPath(u)
		if !filepath.IsLocal(filepath.FromSlash(rel)) || len(rel) > maxRelPath+maxName {
			t.Fatalf("%q → %q is not a local path", s, rel)
		}
		for _, name := range strings.Split(rel, "/") {
			if name == "" || name == "." || name == ".." || len(name) > maxName || strings.ContainsAny(name, "\\:*?\"<>|\x00") {
				t.Fatalf("%q → %q has the name %q", s, rel, name)
			}
		}
		if _, err := url.PathUnescape(rel); err != nil && !strings.Contains(rel, "%") {
			t.Fatalf("%q → %q", s, rel)
		}
	})
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1234", 1234, true},
		{"500M", 500 << 20, true},
		{"2G", 2 << 30, true},
		{"2g", 2 << 30, true},
		{"1.5K", 1536, true},
		{"10KB", 10 << 10, true},
		{"10KiB", 10 << 10, true},
		{"1T", 1 << 40, true},
		{"", 0, false},
		{"M", 0, false},
		{"-1", 0, false},
		{"10IB", 0, false},
		{"lots", 0, false},
		{"1e30", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestReadList(t *testing.T) {
	in := "\ufeff# header\n\n  https://h/a  \r\nhttps://h/b\tout/b.bin\n#https://h/c\n"
	items, err := readList(strings.NewReader(in), "l")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].URL != "https://h/a" || items[0].Source != "l:3" ||
		items[1].URL != "https://h/b" || items[1].Path != "out/b.bin" || items[1].Source != "l:4" {
		t.Errorf("items: %+v", items)
	}
	for _, bad := range []string{"https://h/a b\n", "https://h/a x\tp\n"} {
		if _, err := readList(strings.NewReader(bad), "l"); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
