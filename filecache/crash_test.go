package filecache

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

// versioned serves /v/<size>/<n>: every request gets a new version of the
// body, named in X-Version, so that a body can be checked against the
// sidecar stored beside it.
func versioned() http.Handler {
	var counter atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/")
		size, _ := strconv.ParseInt(parts[2], 10, 64)
		v := counter.Add(1)
		w.Header().Set("X-Version", strconv.FormatInt(v, 10))
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		io.Copy(w, testserver.GeneratedReader(size, versionSeed(r.URL.Path, v)))
	})
}

func versionSeed(path string, v int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	return int64(h.Sum64()>>2) + v
}

// TestCrashChild is the process that TestCrashSafety kills; it does nothing
// in an ordinary run.
func TestCrashChild(t *testing.T) {
	dir, origin := os.Getenv("FILECACHE_CRASH_DIR"), os.Getenv("FILECACHE_CRASH_ORIGIN")
	if dir == "" {
		t.Skip("run by TestCrashSafety")
	}
	tr, err := New(nil, Options{Dir: dir, Rules: localRules(t, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// From a small body to one committed after EOF (backgroundCommitMin).
	sizes := []int{1000, 100_000, 1 << 20, 3 << 20, 9 << 20}
	var once sync.Once
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; ; i += 4 {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v/%d/%d", origin, sizes[i%len(sizes)], i%7), nil)
				req.Header.Set("Cache-Control", "no-cache") // replace entries over and over
				resp, err := tr.RoundTrip(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				once.Do(func() { fmt.Println("ready") })
			}
		})
	}
	wg.Wait()
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	srv := testserver.New()
	defer srv.Close()
	srv.HandlePrefix("/v/", versioned())
	dir := t.TempDir()
	checked := 0
	for _, after := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "FILECACHE_CRASH_DIR="+dir, "FILECACHE_CRASH_ORIGIN="+srv.URL)
		if err := testserver.KillWhenReady(cmd, after); err != nil {
			t.Fatal(err)
		}
		checked += checkAllEntries(t, srv, dir)
	}
	if checked == 0 {
		t.Fatal("no entry survived to be checked")
	}
	t.Logf("%d entries checked", checked)
}

// checkAllEntries serves every stored entry through a fresh Transport and
// checks that each HIT is exactly the version its headers name.
func checkAllEntries(t *testing.T, srv *testserver.Server, dir string) int {
	t.Helper()
	tr, err := New(srv.Client().Transport, Options{Dir: dir, Rules: localRules(t, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if des, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(des) != 0 {
		t.Errorf("temporary files left after New: %d", len(des))
	}
	hits := 0
	host := strings.ReplaceAll(strings.TrimPrefix(srv.URL, "http://"), ":", "_")
	filepath.WalkDir(filepath.Join(dir, host), func(p string, de os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, metaSuffix) {
			return nil
		}
		rel, _ := filepath.Rel(filepath.Join(dir, host), strings.TrimSuffix(p, metaSuffix))
		path := "/" + strings.Replace(filepath.ToSlash(rel), "@", "", 1)
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get(Header) != Hit {
			return nil
		}
		hits++
		v, _ := strconv.ParseInt(resp.Header.Get("X-Version"), 10, 64)
		size, _ := strconv.ParseInt(strings.Split(path, "/")[2], 10, 64)
		want, _ := io.ReadAll(testserver.GeneratedReader(size, versionSeed(path, v)))
		if err != nil || !bytes.Equal(body, want) {
			t.Errorf("%s: HIT with a body that is not version %d (%d bytes, want %d)", path, v, len(body), len(want))
		}
		return nil
	})
	return hits
}
