package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Windows reserves COM¹, COM², COM³, LPT¹, LPT², LPT³ like COM1…; the code
// means to catch them (the "¹²³" check) but compares one byte of a
// multi-byte rune, and len("COM¹") is 5, not 4.
// TestReservedSuperscriptNames: Windows device names with a superscript digit (COM¹) are escaped too.
func TestReservedSuperscriptNames(t *testing.T) {
	for _, name := range []string{"COM¹", "com².txt", "LPT³.log"} {
		if !isReservedName(name) {
			t.Errorf("isReservedName(%q) = false; Windows reserves it", name)
		}
	}
	u, _ := parseURL("https://h/COM%C2%B9.txt")
	if got := urlRelPath(u); got == "h/COM¹.txt" {
		t.Errorf("urlRelPath kept the Windows device name: %q", got)
	}
}

// Explicit list paths are compared case-sensitively for "also the path of",
// but case-insensitively everywhere else (files, dirs): on macOS/Windows
// "Data.bin" and "data.bin" are one file, so two URLs write the same file.
// TestExplicitPathsCaseCollision: two list paths that differ only in case are refused: macOS and Windows fold case.
func TestExplicitPathsCaseCollision(t *testing.T) {
	items := []item{
		{URL: "https://h/1", Path: "Data.bin", Source: "l:1"},
		{URL: "https://h/2", Path: "data.bin", Source: "l:2"},
	}
	plans, err := plan(items, "out")
	if err == nil {
		t.Errorf("two list paths that differ only in case were accepted: %q and %q", plans[0].Target, plans[1].Target)
	}
}

// "The same URL twice is downloaded once": host names are case-insensitive
// and :443 is the default port of https, yet these are fetched twice and the
// second copy goes to a ~2 file.
// TestSameURLDifferentSpelling: one URL spelled with another host case or its default port is downloaded once.
func TestSameURLDifferentSpelling(t *testing.T) {
	items := []item{{URL: "https://h/a"}, {URL: "https://H/a"}, {URL: "https://h:443/a"}}
	plans, err := plan(items, "out")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(plans); i++ {
		if plans[i].DupOf != 0 {
			t.Errorf("item %d (%s): DupOf %d, target %q; want a duplicate of item 0", i, plans[i].URL, plans[i].DupOf, plans[i].Target)
		}
	}
}

// URLs given as arguments have no Source, so early failures print "()".
// TestArgumentSourceInMessages: a failure of a URL given as an argument names no empty source.
func TestArgumentSourceInMessages(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	o := runInProcess(t, "", "get", "-o", out, "-progress", "lines", "ftp://h/x")
	if o.code != 1 {
		t.Fatalf("want exit status 1:\n%v", o)
	}
	if strings.Contains(o.stderr, "()") {
		t.Errorf("message with an empty source:\n%s", o.stderr)
	}
}

// -edgar builds its own limiter before New validates the rate: a tiny -rps
// overflows the period, and the error is not a usage error (exit 1) and
// does not name -rps. Without -edgar the same -rps is exit 2.
// TestEdgarTinyRPS: -edgar with a rate below what the limiter keeps is a usage error naming -rps.
func TestEdgarTinyRPS(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	o := runInProcess(t, "", "get", "-edgar", "-user-agent", "Example Corp admin@example.com", "-rps", "1e-11", "-o", out, "http://127.0.0.1:1/x")
	if o.code != 2 || !strings.Contains(o.stderr, "-rps") {
		t.Errorf("want exit status 2 and a message naming -rps:\n%v", o)
	}
}

// The CLI accepts -rps up to 1e6 but the library stops at 100000: the error
// then names Config.RequestsPerSecond and suggests DisableRateLimit, which
// the CLI has no flag for.
// TestRPSAboveLibraryMax: a rate above what the library keeps is a usage error naming -rps.
func TestRPSAboveLibraryMax(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	o := runInProcess(t, "", "get", "-rps", "200000", "-o", out, "http://127.0.0.1:1/x")
	if o.code != 2 || !strings.Contains(o.stderr, "-rps") {
		t.Errorf("want exit status 2 and a message naming -rps:\n%v", o)
	}
}

// A blank -user-agent satisfies -edgar's "needs a User-Agent" check
// ($THROTTLECACHE_USER_AGENT is trimmed, the flag is not), and the SEC
// gets a request with an empty-looking User-Agent.
// TestEdgarBlankUserAgent: a blank -user-agent does not satisfy -edgar, and nothing is sent.
func TestEdgarBlankUserAgent(t *testing.T) {
	srv := origin(t)
	urls := serve(srv, []file{{path: "/Archives/x.htm", size: 10, seed: 1}})
	out := filepath.Join(t.TempDir(), "out")
	o := runInProcess(t, "", "get", "-edgar", "-user-agent", "   ", "-cache-dir", filepath.Join(t.TempDir(), "c"), "-o", out, urls[0])
	if o.code != 2 || !strings.Contains(o.stderr, "-edgar needs a User-Agent") {
		t.Errorf("want exit status 2 for a blank User-Agent with -edgar:\n%v", o)
	}
	if reqs := srv.Requests(); len(reqs) > 0 {
		t.Errorf("sent User-Agent %q", reqs[0].Header.Get("User-Agent"))
	}
}

// parseFlags takes a flag's value "--" for the end of the flags: later flags
// become URLs.
// TestFlagValueDoubleDash: "--" as a flag's value does not end the flags.
func TestFlagValueDoubleDash(t *testing.T) {
	var o getOptions
	fs := getFlags(&o)
	pos, err := parseFlags(fs, "get", []string{"-user-agent", "--", "https://h/a", "-o", "out"})
	if err != nil {
		t.Fatal(err)
	}
	if o.outDir != "out" || len(pos) != 1 {
		t.Errorf("-o %q, positional %q; want -o out and one URL", o.outDir, pos)
	}
}

// A line over 1 MiB is bad input, but it gives exit 1 and
// "bufio.Scanner: token too long" with no line number.
// TestLongListLine: a list line over the limit is a usage error naming its line.
func TestLongListLine(t *testing.T) {
	in := "https://h/a\nhttps://h/" + strings.Repeat("x", maxLine+10) + "\n"
	_, err := readList(strings.NewReader(in), "l")
	var ue *usageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "l:2") {
		t.Errorf("error %v; want a usage error naming l:2", err)
	}
}

// A list path of "." (or "sub/..") passes filepath.IsLocal, so the target is
// -o itself: the temporary file is created beside -o, outside it, and when
// -o does not exist yet the download is renamed to -o: the output folder
// becomes the file.
// TestListPathDot: a list path naming -o itself ("." or "sub/..") is refused, and -o stays a folder.
func TestListPathDot(t *testing.T) {
	srv := origin(t)
	urls := serve(srv, []file{{path: "/a.bin", size: 100, seed: 1}})
	for _, p := range []string{".", "sub/.."} {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		o := runInProcess(t, urls[0]+"\t"+p+"\n", "get", "-i", "-", "-o", out)
		if fi, err := os.Stat(out); err == nil && !fi.IsDir() {
			t.Errorf("path %q: -o %s is now a file of %d bytes", p, out, fi.Size())
		}
		if o.code != 2 || !strings.Contains(o.stderr, "stay inside") {
			t.Errorf("path %q: want exit status 2, the path must stay inside -o:\n%v", p, o)
		}
	}
}
