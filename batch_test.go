package throttlecache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

func TestGetBatch(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	for _, p := range []string{"/a", "/b", "/c"} {
		srv.Handle(p, testserver.NewResource([]byte("body of "+p)))
	}
	srv.Handle("/slow", testserver.Slow(testserver.NewResource([]byte("slow")), 50*time.Millisecond))
	srv.Handle("/reset", testserver.ResetAfter([]byte(strings.Repeat("r", 1000)), 10))
	m := newManager(t, Config{DisableRateLimit: true, Retry: fastRetry})

	urls := []string{
		srv.URL + "/slow", srv.URL + "/a", "::not a url", srv.URL + "/missing",
		srv.URL + "/b", "http://127.0.0.1:1/refused", "example.com/no-scheme", srv.URL + "/reset", srv.URL + "/c",
	}
	var calls []Progress
	var inside atomic.Int32
	res := m.GetBatch(context.Background(), urls, WithConcurrency(4), WithProgress(func(p Progress) {
		if inside.Add(1) != 1 {
			t.Error("progress callbacks overlap")
		}
		time.Sleep(time.Millisecond)
		calls = append(calls, p)
		inside.Add(-1)
	}))
	if len(res) != len(urls) {
		t.Fatalf("%d results for %d URLs", len(res), len(urls))
	}
	for i, r := range res {
		if r.URL != urls[i] {
			t.Fatalf("result %d is for %q, want %q: order lost", i, r.URL, urls[i])
		}
	}
	for _, i := range []int{0, 1, 4, 8} {
		want := "body of " + strings.TrimPrefix(urls[i], srv.URL)
		if i == 0 {
			want = "slow"
		}
		if r := res[i]; r.Err != nil || string(r.Body) != want || r.StatusCode != 200 || r.Bytes != int64(len(want)) || r.Cache != CacheBypass {
			t.Errorf("item %d: %+v", i, r)
		}
	}
	var se *StatusError
	if r := res[3]; !errors.As(r.Err, &se) || se.StatusCode != 404 || r.StatusCode != 404 || !strings.Contains(r.Err.Error(), "/missing") {
		t.Errorf("404 item: status %d, err %v", r.StatusCode, r.Err)
	}
	for _, i := range []int{2, 5, 6, 7} {
		if res[i].Err == nil {
			t.Errorf("item %d (%s) has no error", i, urls[i])
		}
	}
	if !strings.Contains(res[6].Err.Error(), "example.com/no-scheme") {
		t.Errorf("bad URL error %q does not name the URL", res[6].Err)
	}
	last := calls[len(calls)-1]
	if len(calls) != len(urls) || last.Done != len(urls) || last.Total != len(urls) || last.Failed != 5 {
		t.Fatalf("%d progress calls, last %+v", len(calls), last)
	}
}

func TestGetBatchCancel(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/slow", testserver.Slow(testserver.NewResource([]byte("x")), time.Minute))
	m := newManager(t, Config{})
	urls := make([]string, 50)
	for i := range urls {
		urls[i] = srv.URL + "/slow"
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	res := m.GetBatch(ctx, urls, WithConcurrency(5))
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("GetBatch returned %v after cancel", d)
	}
	for i, r := range res {
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("item %d: err %v, want context.Canceled", i, r.Err)
		}
	}
}

func TestGetBatchEmpty(t *testing.T) {
	m := newManager(t, Config{})
	if res := m.GetBatch(context.Background(), nil); len(res) != 0 {
		t.Fatal(res)
	}
	if res := m.GetBatchToFiles(context.Background(), nil); len(res) != 0 {
		t.Fatal(res)
	}
}

func TestGetBatchToFiles(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	const size = 3<<20 + 17
	srv.Handle("/big", testserver.Generated(size, 7))
	srv.Handle("/small", testserver.NewResource([]byte("small")))
	srv.Handle("/reset", testserver.ResetAfter(bytes.Repeat([]byte("r"), 100_000), 50_000))
	srv.Handle("/short", testserver.Short(bytes.Repeat([]byte("s"), 100_000), 50_000))
	srv.Handle("/error", testserver.Status(http.StatusInternalServerError, "error page"))
	m := newManager(t, Config{DisableRateLimit: true, Retry: fastRetry})

	dir := t.TempDir()
	existing := filepath.Join(dir, "keep", "existing.txt")
	os.MkdirAll(filepath.Dir(existing), 0o755)
	os.WriteFile(existing, []byte("old"), 0o644)
	targets := []Target{
		{srv.URL + "/big", filepath.Join(dir, "deep", "er", "big.bin")},
		{srv.URL + "/small", filepath.Join(dir, "small.txt")},
		{srv.URL + "/reset", filepath.Join(dir, "reset.bin")},
		{srv.URL + "/short", filepath.Join(dir, "short.bin")},
		{srv.URL + "/error", existing},
		{srv.URL + "/missing", filepath.Join(dir, "missing.html")},
		{srv.URL + "/small", filepath.Join(dir, "small.txt")},
		{srv.URL + "/small", ""},
	}
	var maxBytes int64
	res := m.GetBatchToFiles(context.Background(), targets, WithConcurrency(3), WithProgress(func(p Progress) {
		maxBytes = max(maxBytes, p.Bytes)
	}))
	for i, r := range res {
		if r.URL != targets[i].URL || r.Path != targets[i].Path {
			t.Fatalf("result %d out of order: %+v", i, r)
		}
	}
	if res[0].Err != nil || res[0].Bytes != size {
		t.Fatalf("big: %+v", res[0])
	}
	if got, want := fileHash(t, targets[0].Path), readerHash(testserver.GeneratedReader(size, 7)); got != want {
		t.Fatal("big file differs from what the origin sent")
	}
	if b, _ := os.ReadFile(targets[1].Path); string(b) != "small" || res[1].Err != nil {
		t.Fatalf("small: %q, %v", b, res[1].Err)
	}
	for _, i := range []int{2, 3, 5} {
		if res[i].Err == nil {
			t.Errorf("%s: no error", targets[i].URL)
		}
		if _, err := os.Stat(targets[i].Path); !os.IsNotExist(err) {
			t.Errorf("%s: a file was left at %s", targets[i].URL, targets[i].Path)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "old" || res[4].StatusCode != 500 || res[4].Err == nil {
		t.Errorf("error page replaced an existing file: %q, %+v", b, res[4])
	}
	if res[6].Err == nil || !strings.Contains(res[6].Err.Error(), "item 1") {
		t.Errorf("duplicate path: %v", res[6].Err)
	}
	if res[7].Err == nil || !strings.Contains(res[7].Err.Error(), "empty Path") {
		t.Errorf("empty path: %v", res[7].Err)
	}
	if maxBytes < size {
		t.Errorf("progress reported %d bytes, want at least %d", maxBytes, size)
	}
	// No temporary files anywhere.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.Contains(d.Name(), ".part-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestGetBatchToFilesCancelMidBody(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/slow", testserver.SlowBody(bytes.Repeat([]byte("z"), 1<<20), 4096, 10*time.Millisecond))
	m := newManager(t, Config{})
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res := m.GetBatchToFiles(ctx, []Target{{srv.URL + "/slow", filepath.Join(dir, "slow.bin")}})
	if !errors.Is(res[0].Err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's", res[0].Err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("cancelled download left %d files", len(entries))
	}
}

// TestGetBatchToFilesMemory downloads a body far larger than the allowed
// heap growth: streaming must keep memory flat.
func TestGetBatchToFilesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large body")
	}
	srv := testserver.New()
	defer srv.Close()
	const size = 128 << 20
	srv.Handle("/huge", testserver.Generated(size, 1))
	m := newManager(t, Config{})
	peak := heapPeak(t, func() {
		res := m.GetBatchToFiles(context.Background(), []Target{{srv.URL + "/huge", filepath.Join(t.TempDir(), "huge")}})
		if res[0].Err != nil || res[0].Bytes != size {
			t.Fatalf("%+v", res[0])
		}
	})
	t.Logf("128 MiB download: peak heap growth %d KiB", peak>>10)
	if peak > 16<<20 {
		t.Fatalf("heap grew by %d MiB for a %d MiB download", peak>>20, size>>20)
	}
}

// heapPeak runs f and returns the largest heap-in-use growth seen while it ran.
func heapPeak(t *testing.T, f func()) uint64 {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readerHash(f)
}

func readerHash(r io.Reader) [32]byte {
	h := sha256.New()
	io.Copy(h, r)
	return [32]byte(h.Sum(nil))
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://user:secret@example.com/x", "http://user:xxxxx@example.com/x"},
		{"http://user:secret@exa mple.com/%zz", "http://user:xxxxx@exa mple.com/%zz"},
		{"::not a url", "::not a url"},
		{"http://example.com/a:b@c", "http://example.com/a:b@c"},
		{"http://user@example.com/", "http://user@example.com/"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	m := newManager(t, Config{})
	res := m.GetBatch(context.Background(), []string{"http://user:secret@exa mple.com/%zz"})
	if res[0].Err == nil || strings.Contains(res[0].Err.Error(), "secret") {
		t.Fatalf("error %v leaks the password", res[0].Err)
	}
}

// TestGetBatchToFilesLongNames: any name the file system accepts is a
// target, up to 255 bytes, multi-byte characters included, and the
// temporary file beside it never passes that limit.
func TestGetBatchToFilesLongNames(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/x", testserver.NewResource([]byte("long")))
	m := newManager(t, Config{DisableRateLimit: true})
	dir := t.TempDir()
	var targets []Target
	for _, n := range []int{240, 250, 255} {
		targets = append(targets, Target{URL: srv.URL + "/x", Path: filepath.Join(dir, strings.Repeat("a", n))})
	}
	targets = append(targets, Target{URL: srv.URL + "/x", Path: filepath.Join(dir, strings.Repeat("é", 127)+"b")}) // 255 bytes
	for i, r := range m.GetBatchToFiles(context.Background(), targets) {
		b, err := os.ReadFile(targets[i].Path)
		if r.Err != nil || string(b) != "long" {
			t.Errorf("%d-byte name: %q, %v, %v", len(filepath.Base(targets[i].Path)), b, r.Err, err)
		}
	}
	for _, base := range []string{strings.Repeat("a", 255), strings.Repeat("é", 127) + "b", "short"} {
		p := tempPattern(base)
		if len(p)-1+20 > 255 || !utf8.ValidString(p) || !strings.HasPrefix(p, "."+base[:min(len(base), 10)]) {
			t.Errorf("tempPattern(%d bytes) = %q: %d bytes before the digits", len(base), p, len(p)-1)
		}
	}
}
