package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// Not parallel: it measures the rate at the origin, so it runs alone.
func TestGetByteIdenticalAtRate(t *testing.T) {
	srv := origin(t)
	var files []file
	for i := range 16 {
		files = append(files, file{path: fmt.Sprintf("/data/%02d.bin", i), size: int64(i*i*9973 + i), seed: int64(i + 1)})
	}
	files[3].size = 3 << 20
	files = append(files, file{path: "/q/report?year=2024&part=1", size: 12345, seed: 99})
	urls := serve(srv, files)
	dir := t.TempDir()
	list := filepath.Join(dir, "urls.txt")
	os.WriteFile(list, []byte("# files\n\n"+strings.Join(urls, "\n")+"\n"), 0o644)
	out := filepath.Join(dir, "out")

	const rps = 5
	o := runTool(t, "", nil, "get", "-i", list, "-o", out, "-rps", fmt.Sprint(rps), "-concurrency", "3", "-log-every", "500ms")
	if o.code != 0 {
		t.Fatalf("want exit status 0:\n%v", o)
	}
	for _, f := range files {
		rel := strings.ReplaceAll(f.path, "?", "%3F")
		wantGenerated(t, filepath.Join(out, hostDir(srv), filepath.FromSlash(rel)), f.size, f.seed)
	}
	if got := len(listFiles(t, out)); got != len(files) {
		t.Errorf("%d files under -o, want %d: %v", got, len(files), listFiles(t, out))
	}
	arrivals := srv.ArrivalTimes()
	if n := testserver.MaxInWindow(arrivals, time.Second); n > rps {
		t.Errorf("the origin saw %d requests in one second, limit %d", n, rps)
	}
	if min := time.Duration(len(files)-rps) * time.Second / rps; o.elapsed < min {
		t.Errorf("took %v, the limit allows no less than %v", o.elapsed, min)
	}
	// Not a terminal: plain lines, one per item, periodic summaries, the final summary.
	if strings.ContainsAny(o.stderr, "\r\x1b") {
		t.Errorf("carriage returns or escapes in plain output:\n%q", o.stderr)
	}
	lines := strings.Split(o.stderr, "\n")
	items := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "[") && strings.Contains(l, "] MISS") || strings.Contains(l, "] BYPASS") {
			items++
		}
	}
	if items != len(files) {
		t.Errorf("%d item lines, want %d:\n%s", items, len(files), o.stderr)
	}
	for _, want := range []string{"progress: ", "Finished in ", fmt.Sprintf("%d items: %d downloaded, 0 from the cache, 0 revalidated, 0 failed", len(files), len(files)), "requests/s"} {
		if !strings.Contains(o.stderr, want) {
			t.Errorf("no %q in the output:\n%s", want, o.stderr)
		}
	}
	if o.stdout != "" {
		t.Errorf("stdout should be empty with -o, got %q", o.stdout)
	}
}

func TestGetFailureExitStatus(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	urls := serve(srv, []file{{path: "/ok.bin", size: 5000, seed: 1}})
	missing := srv.URL + "/missing.bin"
	out := filepath.Join(t.TempDir(), "out")
	o := runTool(t, "", nil, "get", "-o", out, "-progress", "lines", urls[0], missing)
	if o.code != 1 {
		t.Fatalf("want exit status 1 on a 404:\n%v", o)
	}
	wantGenerated(t, filepath.Join(out, hostDir(srv), "ok.bin"), 5000, 1)
	if _, err := os.Stat(filepath.Join(out, hostDir(srv), "missing.bin")); err == nil {
		t.Error("the 404's error page was written to its target")
	}
	if !strings.Contains(o.stderr, "Failures (1):\n  "+missing+": 404 Not Found") {
		t.Errorf("the failure is not listed:\n%s", o.stderr)
	}
	if !strings.Contains(o.stderr, "1 downloaded, 0 from the cache, 0 revalidated, 1 failed") {
		t.Errorf("summary:\n%s", o.stderr)
	}

	// The bar, forced onto a pipe: redrawn in place, the failure above it.
	o = runTool(t, "", nil, "get", "-o", out, "-progress", "bar", urls[0], missing)
	if o.code != 1 || !strings.Contains(o.stderr, "\r") || !strings.Contains(o.stderr, "(2/2, ") ||
		!strings.Contains(o.stderr, "FAIL  "+missing+": 404 Not Found") {
		t.Errorf("bar:\n%q", o.stderr)
	}
}

func TestGetStdinListWithPaths(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	urls := serve(srv, []file{
		{path: "/a.bin", size: 1000, seed: 1},
		{path: "/b.bin", size: 2000, seed: 2},
		{path: "/c/d.bin", size: 3000, seed: 3},
	})
	list := "# a comment\r\n\n" + urls[0] + "\tmine/first.bin\n  " + urls[1] + " \t sub/../second.bin\n" + urls[2] + "\n"
	out := filepath.Join(t.TempDir(), "out")
	o := runTool(t, list, nil, "get", "-i", "-", "-o", out)
	if o.code != 0 {
		t.Fatalf("want exit status 0:\n%v", o)
	}
	wantGenerated(t, filepath.Join(out, "mine", "first.bin"), 1000, 1)
	wantGenerated(t, filepath.Join(out, "second.bin"), 2000, 2)
	wantGenerated(t, filepath.Join(out, hostDir(srv), "c", "d.bin"), 3000, 3)
	if got := listFiles(t, out); len(got) != 3 {
		t.Errorf("files: %v", got)
	}
}

func TestGetPathsStayInside(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	srv.HandlePrefix("/", testserver.Generated(100, 7))
	root := t.TempDir()
	out := filepath.Join(root, "out")
	urls := []string{
		srv.URL + "/a/../../../../../x1",
		srv.URL + "/..%2F..%2F..%2Fx2",
		srv.URL + "/%2e%2e/%2e%2e/x3",
		srv.URL + "/a%5C..%5C..%5Cx4",
		srv.URL + "/" + strings.Repeat("n", 300) + ".txt",
		srv.URL + "/dir/",
		srv.URL + "/dir",
		srv.URL + "/CON",
		srv.URL + "/x?../../../q",
	}
	o := runTool(t, strings.Join(urls, "\n"), nil, "get", "-i", "-", "-o", out)
	if o.code != 0 {
		t.Fatalf("want exit status 0:\n%v", o)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "out" {
		t.Errorf("something was written beside -o: %v", entries)
	}
	got := listFiles(t, out)
	if len(got) != len(urls) {
		t.Errorf("%d files for %d URLs: %v", len(got), len(urls), got)
	}
	for _, p := range got {
		if !strings.HasPrefix(p, hostDir(srv)+"/") {
			t.Errorf("%s is outside the host folder", p)
		}
		for _, name := range strings.Split(p, "/") {
			if len(name) > 255 {
				t.Errorf("name of %d bytes in %s", len(name), p)
			}
		}
		wantGenerated(t, filepath.Join(out, filepath.FromSlash(p)), 100, 7)
	}

	// Paths given in a list may not leave -o either: bad usage, nothing fetched.
	for _, bad := range []string{"../escape.bin", "/etc/escape.bin", "a/../../escape.bin"} {
		o := runTool(t, srv.URL+"/f\t"+bad+"\n", nil, "get", "-i", "-", "-o", out)
		if o.code != 2 || strings.Count(o.stderr, "\n") != 1 || !strings.Contains(o.stderr, "must be relative and stay inside") {
			t.Errorf("path %q: want exit status 2 and one line:\n%v", bad, o)
		}
	}
	if n := srv.Hits("/f"); n != 0 {
		t.Errorf("%d requests for a list refused as bad usage", n)
	}
}

func TestGetCollisions(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	files := []file{
		{path: "/a", size: 10, seed: 1},
		{path: "/a/b.htm", size: 20, seed: 2},
		{path: "/A.htm", size: 30, seed: 3},
		{path: "/a.htm", size: 40, seed: 4},
		{path: "/x?q=1", size: 50, seed: 5},
		{path: "/x%3Fq=1", size: 60, seed: 6},
	}
	urls := serve(srv, files[:5])
	srv.Handle("/x?q=1", testserver.Generated(60, 6))
	urls = append(urls, srv.URL+files[5].path, urls[0]) // and /a again
	out := filepath.Join(t.TempDir(), "out")
	o := runTool(t, "", nil, append([]string{"get", "-o", out}, urls...)...)
	if o.code != 0 {
		t.Fatalf("want exit status 0:\n%v", o)
	}
	h := hostDir(srv)
	want := map[string]file{
		h + "/a~2":       files[0], // /a is a folder for /a/b.htm
		h + "/a/b.htm":   files[1],
		h + "/A.htm":     files[2],
		h + "/a~2.htm":   files[3], // A.htm and a.htm are one file on macOS and Windows
		h + "/x%3Fq=1":   files[4],
		h + "/x%3Fq=1~2": files[5],
	}
	got := listFiles(t, out)
	var wantNames []string
	for p, f := range want {
		wantNames = append(wantNames, p)
		wantGenerated(t, filepath.Join(out, filepath.FromSlash(p)), f.size, f.seed)
	}
	slices.Sort(got)
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Errorf("files %v, want %v", got, wantNames)
	}
	if srv.Hits("/a") != 1 {
		t.Errorf("the repeated URL was fetched %d times, want once", srv.Hits("/a"))
	}
	if !strings.Contains(o.stderr, "1 duplicate URLs (fetched once)") {
		t.Errorf("summary:\n%s", o.stderr)
	}
}

func TestGetStdout(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	urls := serve(srv, []file{{path: "/one.bin", size: 70000, seed: 9}})
	o := runTool(t, "", nil, "get", urls[0])
	if o.code != 0 {
		t.Fatalf("want exit status 0:\n%v", o)
	}
	path := filepath.Join(t.TempDir(), "got")
	os.WriteFile(path, []byte(o.stdout), 0o644)
	wantGenerated(t, path, 70000, 9)
	if !strings.Contains(o.stderr, "1 item: 1 downloaded") {
		t.Errorf("summary:\n%s", o.stderr)
	}
	o = runTool(t, "", nil, "get", "-q", srv.URL+"/nothing")
	if o.code != 1 || o.stdout != "" || !strings.Contains(o.stderr, "404") {
		t.Errorf("a 404 to stdout: want status 1, nothing on stdout, the error on stderr:\n%v", o)
	}
}

func TestGetCacheThenStatsAndPrune(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	var files []file
	for i := range 6 {
		files = append(files, file{path: fmt.Sprintf("/c/%d.bin", i), size: int64(10000 * (i + 1)), seed: int64(i)})
	}
	urls := serve(srv, files)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.json")
	os.WriteFile(rulesFile, []byte(`{"127\\.0\\.0\\.1": {"/c/": true}}`), 0o644)
	cache := filepath.Join(dir, "cache")
	args := append([]string{"get", "-rules", rulesFile, "-cache-dir", cache, "-o", filepath.Join(dir, "out")}, urls...)

	o := runTool(t, "", nil, args...)
	if o.code != 0 || !strings.Contains(o.stderr, "6 downloaded, 0 from the cache") {
		t.Fatalf("first run:\n%v", o)
	}
	hits := srv.TotalHits()
	o = runTool(t, "", nil, args...)
	if o.code != 0 || !strings.Contains(o.stderr, "0 downloaded, 6 from the cache") || !strings.Contains(o.stderr, "0 network requests") {
		t.Fatalf("second run:\n%v", o)
	}
	if srv.TotalHits() != hits {
		t.Errorf("the second run reached the origin %d times", srv.TotalHits()-hits)
	}
	for _, f := range files {
		wantGenerated(t, filepath.Join(dir, "out", hostDir(srv), filepath.FromSlash(f.path)), f.size, f.seed)
	}

	o = runTool(t, "", nil, "cache", "stats", "-dir", cache)
	if o.code != 0 || !strings.Contains(o.stdout, "entries:  6\n") || !strings.Contains(o.stdout, "oldest:") || !strings.Contains(o.stdout, "newest:") {
		t.Fatalf("stats:\n%v", o)
	}
	o = runTool(t, "", nil, "cache", "prune", "-dir", cache, "-max-bytes", "100K")
	if o.code != 0 || !strings.Contains(o.stdout, "removed:") {
		t.Fatalf("prune:\n%v", o)
	}
	o = runTool(t, "", nil, "cache", "stats", "-dir", cache)
	var entries int
	fmt.Sscanf(o.stdout[strings.Index(o.stdout, "entries:"):], "entries: %d", &entries)
	if o.code != 0 || entries < 1 || entries >= 6 {
		t.Errorf("after pruning to 100 KiB of 210 KiB: %d entries\n%v", entries, o)
	}
	o = runTool(t, "", nil, "cache", "prune", "-dir", cache, "-max-bytes", "0")
	if o.code != 0 || !strings.Contains(o.stdout, "left:     0 entries") {
		t.Errorf("prune to 0:\n%v", o)
	}
	// A folder that is not a cache is refused, and nothing in it removed.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "@precious"), []byte("x"), 0o644)
	o = runTool(t, "", nil, "cache", "prune", "-dir", other, "-max-bytes", "0")
	if o.code != 1 || !strings.Contains(o.stderr, "not a filecache folder") {
		t.Errorf("prune of a plain folder:\n%v", o)
	}
	if _, err := os.Stat(filepath.Join(other, "@precious")); err != nil {
		t.Error(err)
	}
}

func TestGetEDGAR(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	urls := serve(srv, []file{{path: "/Archives/edgar/data/1/x.htm", size: 100, seed: 1}})
	out := filepath.Join(t.TempDir(), "out")
	o := runTool(t, "", nil, "get", "-edgar", "-o", out, urls[0])
	if o.code != 2 || !strings.Contains(o.stderr, "-edgar needs a User-Agent") {
		t.Errorf("-edgar without a User-Agent:\n%v", o)
	}
	const ua = "Example Corp admin@example.com"
	o = runTool(t, "", []string{envUA + "=" + ua}, "get", "-edgar", "-o", out, urls[0])
	if o.code != 0 {
		t.Fatalf("-edgar with a User-Agent from the environment:\n%v", o)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("User-Agent") != ua {
		t.Errorf("requests %d, User-Agent %q", len(reqs), reqs[0].Header.Get("User-Agent"))
	}
	o = runTool(t, "", []string{envUA + "=" + ua}, "get", "-user-agent", "Other other@example.com", "-o", out, urls[0])
	if o.code != 0 || srv.Requests()[1].Header.Get("User-Agent") != "Other other@example.com" {
		t.Errorf("-user-agent should win over the environment:\n%v", o)
	}
}

func TestGetRFCFile(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	srv.Handle("/r", testserver.NewResource([]byte("hello"), testserver.WithHeader("Cache-Control", "max-age=60")))
	dir := t.TempDir()
	o := runTool(t, "", nil, "get", "-cache-mode", "rfc-file", "-cache-dir", filepath.Join(dir, "c"), "-o", filepath.Join(dir, "out"), srv.URL+"/r")
	switch {
	case o.code == 0:
		got, _ := os.ReadFile(filepath.Join(dir, "out", hostDir(srv), "r"))
		if string(got) != "hello" {
			t.Errorf("rfc-file wrote %q", got)
		}
	case o.code == 2 && strings.Contains(o.stderr, "not implemented"):
		t.Log("rfc-file has not landed yet:", strings.TrimSpace(o.stderr))
	default:
		t.Errorf("rfc-file: want success or a clear refusal:\n%v", o)
	}
}

func TestGetTimeout(t *testing.T) {
	t.Parallel()
	srv := origin(t)
	srv.Handle("/slow", testserver.Slow(testserver.Status(http.StatusOK, "late"), 5*time.Second))
	o := runTool(t, "", nil, "get", "-timeout", "300ms", "-o", filepath.Join(t.TempDir(), "out"), srv.URL+"/slow")
	if o.code != 1 || !strings.Contains(o.stderr, "-timeout") || o.elapsed > 4*time.Second {
		t.Errorf("want a prompt failure naming -timeout:\n%v", o)
	}
}
