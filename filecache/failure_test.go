package filecache

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/filestore"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// storedFiles lists the entry files under dir.
func storedFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() && strings.HasPrefix(de.Name(), "@") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestIncompleteBodiesAreNotStored(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10_000)
	tests := []struct {
		name string
		h    http.Handler
	}{
		{name: "short", h: testserver.Short(body, 5000)},
		{name: "reset", h: testserver.ResetAfter(body, 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.Handle("/b", tt.h)
			req, _ := http.NewRequest("GET", e.srv.URL+"/b", nil)
			resp, err := e.tr.RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("truncated body read without error")
			}
			if files := storedFiles(t, e.dir); len(files) != 0 {
				t.Fatalf("stored %v", files)
			}
			tmp, _ := os.ReadDir(filepath.Join(e.dir, tmpDir))
			if len(tmp) != 0 {
				t.Fatalf("temporary files left: %v", tmp)
			}
		})
	}
}

func TestEarlyClose(t *testing.T) {
	const first = 64 << 10
	tests := []struct {
		name   string
		size   int64
		read   int
		stored bool
	}{
		{name: "little left: finished and stored", size: 600 << 10, read: 1000, stored: true},
		{name: "much left: dropped", size: 8 << 20, read: 1000, stored: false},
		{name: "nothing read, small", size: 1000, read: 0, stored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			release := make(chan struct{})
			e.srv.Handle("/g", paused(tt.size, min(first, tt.size), 7, release))
			u := e.srv.URL + "/g"
			req, _ := http.NewRequest("GET", u, nil)
			resp, err := e.tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadFull(resp.Body, make([]byte, tt.read))
			resp.Body.Close()
			close(release)
			downloadsDone(t, e.dir)
			want := Miss
			if tt.stored {
				want = Hit
			}
			r := get(t, e.tr, "GET", u)
			want2, _ := io.ReadAll(testserver.GeneratedReader(tt.size, 7))
			expect(t, r, 200, want, want2)
		})
	}
}

// failingFile fails every write after limit bytes, like a full disk.
type failingFile struct {
	*os.File
	limit int64
	n     int64
}

var errDiskFull = errors.New("no space left on device (simulated)")

func (f *failingFile) Write(p []byte) (int, error) {
	if f.n+int64(len(p)) > f.limit {
		return 0, errDiskFull
	}
	f.n += int64(len(p))
	return f.File.Write(p)
}

func TestDiskFullKeepsTheBody(t *testing.T) {
	for _, limit := range []int64{0, 300 << 10} {
		e := newEnv(t, withStore(filestore.Options{CreateTemp: func(dir, pattern string) (filestore.File, error) {
			f, err := os.CreateTemp(dir, pattern)
			if err != nil || !strings.HasSuffix(pattern, ".part") {
				return f, err
			}
			return &failingFile{File: f, limit: limit}, nil
		}}))
		const size = 2 << 20
		e.srv.Handle("/big", testserver.Generated(size, 3))
		want, _ := io.ReadAll(testserver.GeneratedReader(size, 3))
		expect(t, get(t, e.tr, "GET", e.srv.URL+"/big"), 200, Miss, want)
		if s := e.tr.Stats(); s.StoreErrors != 1 || s.Stored != 0 {
			t.Fatalf("limit %d: stats %+v", limit, s)
		}
		if files := storedFiles(t, e.dir); len(files) != 0 {
			t.Fatalf("stored %v", files)
		}
		expect(t, get(t, e.tr, "GET", e.srv.URL+"/big"), 200, Miss, want)
	}
}

func TestCannotCreateTempFile(t *testing.T) {
	e := newEnv(t, withStore(filestore.Options{CreateTemp: func(dir, pattern string) (filestore.File, error) {
		if strings.HasSuffix(pattern, ".part") {
			return nil, errDiskFull
		}
		return os.CreateTemp(dir, pattern)
	}}))
	e.srv.Handle("/x", testserver.NewResource([]byte("body")))
	expect(t, get(t, e.tr, "GET", e.srv.URL+"/x"), 200, Miss, []byte("body"))
	if s := e.tr.Stats(); s.StoreErrors != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDamagedEntries(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, l loc)
	}{
		{name: "garbage sidecar", damage: func(t *testing.T, l loc) { os.WriteFile(l.meta, []byte("{not json"), 0o644) }},
		{name: "empty sidecar", damage: func(t *testing.T, l loc) { os.WriteFile(l.meta, nil, 0o644) }},
		{name: "future version", damage: func(t *testing.T, l loc) {
			b, _ := os.ReadFile(l.meta)
			os.WriteFile(l.meta, bytes.Replace(b, []byte(`"version": 1`), []byte(`"version": 9`), 1), 0o644)
		}},
		{name: "sidecar of another entry", damage: func(t *testing.T, l loc) {
			b, _ := os.ReadFile(l.meta)
			os.WriteFile(l.meta, bytes.Replace(b, []byte(`@a"`), []byte(`@b"`), 1), 0o644)
		}},
		{name: "body changed, same size", damage: func(t *testing.T, l loc) { os.WriteFile(l.body, []byte("XXXXXXXXXXX"), 0o644) }},
		{name: "body truncated", damage: func(t *testing.T, l loc) { os.Truncate(l.body, 3) }},
		{name: "body missing", damage: func(t *testing.T, l loc) { os.Remove(l.body) }},
		{name: "body is a folder", damage: func(t *testing.T, l loc) { os.Remove(l.body); os.Mkdir(l.body, 0o755) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.Handle("/a", testserver.NewResource([]byte("the body 12")))
			u := e.srv.URL + "/a"
			get(t, e.tr, "GET", u)
			tt.damage(t, e.locFor(t, u))
			fresh := e.reopen(t) // no parsed sidecars in memory
			r := get(t, fresh, "GET", u)
			if r.cache == Hit || string(r.body) != "the body 12" {
				t.Fatalf("damaged entry: %s %q", r.cache, r.body)
			}
		})
	}
}

func TestCopiedEntryIsVerified(t *testing.T) {
	// A folder copied elsewhere changes every body's identity: the bodies
	// are checked once against their checksum and then served.
	e := newEnv(t)
	e.srv.Handle("/a", testserver.NewResource([]byte("copy me")))
	u := e.srv.URL + "/a"
	get(t, e.tr, "GET", u)
	l := e.locFor(t, u)
	b, _ := os.ReadFile(l.body)
	os.Remove(l.body)
	os.WriteFile(l.body, b, 0o644)
	expect(t, get(t, e.reopen(t), "GET", u), 200, Hit, []byte("copy me"))
}

func TestNewErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o555)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "no dir", opts: Options{}, want: "Options.Dir is required"},
		{name: "dir is a file", opts: Options{Dir: file}, want: file},
		{name: "negative cap", opts: Options{Dir: t.TempDir(), MaxBytes: -1}, want: "MaxBytes"},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		tests = append(tests, struct {
			name string
			opts Options
			want string
		}{name: "read-only dir", opts: Options{Dir: ro}, want: ro})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nil, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRequestNotModified(t *testing.T) {
	e := newEnv(t)
	e.srv.Handle("/r", testserver.NewResource([]byte("v")))
	u := e.srv.URL + "/r"
	get(t, e.tr, "GET", u)
	e.clock.Advance(2 * time.Hour)
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("User-Agent", "test")
	before := req.Header.Clone()
	resp, err := e.tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(Header) != Revalidated {
		t.Fatal(resp.Header.Get(Header))
	}
	if len(req.Header) != len(before) || req.Header.Get("If-None-Match") != "" {
		t.Fatalf("request modified: %v", req.Header)
	}
}

func TestClosed(t *testing.T) {
	e := newEnv(t)
	e.tr.Close()
	e.tr.Close()
	req, _ := http.NewRequest("GET", e.srv.URL+"/x", nil)
	if _, err := e.tr.RoundTrip(req); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}
