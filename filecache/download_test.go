package filecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/filestore"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// The engine's sizes, as these tests rely on them.
const (
	chunkSize       = 256 << 10 // the most a download reads from the network at a time
	commitBeforeEOF = 8 << 20   // shorter bodies reach EOF after their commit, longer ones before
	earlyCloseDrain = 1 << 20   // a body closed early is still stored when at most this is left
	preallocMin     = 1 << 20   // bodies this long get their disk space reserved first
)

// getCopy is get with io.Copy, which reaches the download's WriteTo.
func getCopy(t testing.TB, tr http.RoundTripper, u string, hdr ...string) result {
	t.Helper()
	resp, err := tr.RoundTrip(newRequest(t, "GET", u, hdr...))
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		t.Fatalf("GET %s: copying body: %v", u, err)
	}
	return result{status: resp.StatusCode, cache: resp.Header.Get(Header), body: buf.Bytes(), header: resp.Header}
}

func TestWriteToStoresWhatItCopies(t *testing.T) {
	for _, size := range []int64{0, 1000, chunkSize - 1, chunkSize, 3*chunkSize + 17, commitBeforeEOF + 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e := newEnv(t)
			e.srv.Handle("/b", testserver.Generated(size, size))
			want, _ := io.ReadAll(testserver.GeneratedReader(size, size))
			u := e.srv.URL + "/b"
			resp, err := e.tr.RoundTrip(newRequest(t, "GET", u))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := resp.Body.(io.WriterTo); !ok {
				t.Fatalf("a miss's body %T is not an io.WriterTo", resp.Body)
			}
			var got bytes.Buffer
			if _, err := io.Copy(&got, resp.Body); err != nil || !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("copied %d bytes, %v", got.Len(), err)
			}
			if s := e.tr.Stats(); size < commitBeforeEOF && s.Stored != 1 {
				t.Fatalf("not stored at EOF: %+v", s)
			}
			resp.Body.Close()
			expect(t, getCopy(t, e.tr, u), 200, Hit, want)
			expect(t, get(t, e.tr, "GET", u), 200, Hit, want)
			if n := e.srv.Hits("/b"); n != 1 {
				t.Fatalf("%d origin requests", n)
			}
		})
	}
}

// A caller may read some of the body and copy the rest.
func TestReadThenWriteTo(t *testing.T) {
	e := newEnv(t)
	const size = 2*chunkSize + 100
	e.srv.Handle("/b", testserver.Generated(size, 7))
	want, _ := io.ReadAll(testserver.GeneratedReader(size, 7))
	resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	var rest bytes.Buffer
	if _, err := io.Copy(&rest, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := append(head, rest.Bytes()...); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the body", len(got))
	}
	expect(t, get(t, e.tr, "GET", e.srv.URL+"/b"), 200, Hit, want)
}

func TestWriteToTruncatedBodyIsNotStored(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 100_000)
	for name, h := range map[string]http.Handler{
		"short": testserver.Short(body, len(body)/2),
		"reset": testserver.ResetAfter(body, len(body)/2),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.Handle("/b", h)
			resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil || n >= int64(len(body)) {
				t.Fatalf("copied %d bytes with error %v, want an error before the end", n, err)
			}
			e.srv.Handle("/b", testserver.NewResource(body))
			expect(t, get(t, e.tr, "GET", e.srv.URL+"/b"), 200, Miss, body)
			if s := e.tr.Stats(); s.Stored != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// paused serves size bytes of Generated(size, seed): first bytes, then,
// once release is closed, the rest.
func paused(size, first int64, seed int64, release chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		body := testserver.GeneratedReader(size, seed)
		io.CopyN(w, body, first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.Copy(w, body)
	})
}

// failAfter is a destination that fails once it has taken n bytes.
type failAfter struct{ n int }

var errDestination = errors.New("destination failed (simulated)")

func (w *failAfter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errDestination
	}
	w.n -= len(p)
	return len(p), nil
}

// When the caller's destination fails, io.Copy returns that error; the
// caller closes the body early, and the download goes on and is stored when
// at most earlyCloseDrain is left to download, and is dropped otherwise.
func TestWriteToDestinationError(t *testing.T) {
	const first = 200 << 10
	tests := []struct {
		size   int64
		stored bool
	}{
		{size: first + 500<<10, stored: true},                    // 500 KiB left to download
		{size: first + earlyCloseDrain + 300<<10, stored: false}, // over 1 MiB left: dropped
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			e := newEnv(t)
			release := make(chan struct{})
			e.srv.Handle("/b", paused(tt.size, first, 5, release))
			want, _ := io.ReadAll(testserver.GeneratedReader(tt.size, 5))
			resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(&failAfter{n: 100 << 10}, resp.Body)
			if !errors.Is(err, errDestination) || n != 100<<10 {
				t.Fatalf("copied %d bytes, %v; want 100 KiB and the destination's error", n, err)
			}
			resp.Body.Close()
			close(release)
			downloadsDone(t, e.dir)
			want2 := Miss
			if tt.stored {
				want2 = Hit
			}
			expect(t, get(t, e.reopen(t), "GET", e.srv.URL+"/b"), 200, want2, want)
		})
	}
}

// gate holds the syncs of downloads (each commit syncs its body once)
// until open, and records them.
type gate struct {
	release chan struct{}
	called  chan struct{}
	fail    error
	once    sync.Once
}

func newGate() *gate {
	return &gate{release: make(chan struct{}), called: make(chan struct{}, 100)}
}

// open lets every Sync through, once.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

type gatedFile struct {
	*os.File
	g *gate
}

func (f *gatedFile) Sync() error {
	f.g.called <- struct{}{}
	<-f.g.release
	if f.g.fail != nil {
		return f.g.fail
	}
	return f.File.Sync()
}

// option makes a Transport's downloads use the gate; a test that fails
// opens it before the Transport's Close waits for the commits.
func (g *gate) option(t *testing.T) func(*Options) {
	t.Cleanup(g.open)
	return withStore(filestore.Options{CreateTemp: func(dir, pattern string) (filestore.File, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil || !strings.HasSuffix(pattern, ".part") {
			return f, err
		}
		return &gatedFile{File: f, g: g}, nil
	}})
}

// waitCalled waits for n more Sync calls.
func (g *gate) waitCalled(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.called:
		case <-time.After(30 * time.Second):
			t.Fatal("no commit started")
		}
	}
}

// readAsync reads a whole response body on a goroutine.
func readAsync(tr http.RoundTripper, u string, method ...string) chan result {
	ch := make(chan result, 1)
	go func() {
		m := "GET"
		if len(method) > 0 {
			m = method[0]
		}
		req, _ := http.NewRequest(m, u, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			ch <- result{status: -1, cache: err.Error()}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			ch <- result{status: -2, cache: err.Error()}
			return
		}
		ch <- result{status: resp.StatusCode, cache: resp.Header.Get(Header), body: body}
	}()
	return ch
}

func await(t *testing.T, ch chan result, what string) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer", what)
		return result{}
	}
}

// heldCommit stores a body of size bytes at /big through a Transport whose
// commits wait at their sync for g.open, and reads it to EOF: its commit
// is then under way in the background.
func heldCommit(t *testing.T, size, seed int64) (e *env, g *gate, u string, want []byte) {
	t.Helper()
	g = newGate()
	e = newEnv(t, g.option(t))
	e.srv.Handle("/big", testserver.Generated(size, seed))
	want, _ = io.ReadAll(testserver.GeneratedReader(size, seed))
	u = e.srv.URL + "/big"
	first := readAsync(e.tr, u)
	g.waitCalled(t, 1)
	expect(t, await(t, first, "first request"), 200, Miss, want)
	return e, g, u, want
}

// A large body reaches EOF before its commit ends; the download stays the
// URL's until then, so a request for it reads the download instead of
// fetching again, and Close waits for the commit.
func TestLargeBodyCommitsInBackground(t *testing.T) {
	size := int64(commitBeforeEOF + 1)
	e, g, u, want := heldCommit(t, size, 11)
	if s := e.tr.Stats(); s.Stored != 0 {
		t.Fatalf("stored before the commit: %+v", s)
	}
	expect(t, await(t, readAsync(e.tr, u), "second request"), 200, Hit, want)
	if n := e.srv.Hits("/big"); n != 1 {
		t.Fatalf("%d origin requests", n)
	}
	g.open()
	e.tr.Close()
	if s := e.tr.Stats(); s.Stored != 1 || s.StoredBytes != size || s.Coalesced != 1 {
		t.Fatalf("stats %+v", s)
	}
	expect(t, get(t, e.reopen(t), "GET", u), 200, Hit, want)
}

// A commit that fails costs the caller nothing: it already has the body.
// The failure is counted and the entry is not stored.
func TestBackgroundCommitFailure(t *testing.T) {
	for _, size := range []int64{1000, commitBeforeEOF + 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			g := newGate()
			g.fail = errors.New("I/O error (simulated)")
			g.open()
			e := newEnv(t, g.option(t))
			e.srv.Handle("/big", testserver.Generated(size, 4))
			want, _ := io.ReadAll(testserver.GeneratedReader(size, 4))
			u := e.srv.URL + "/big"
			expect(t, get(t, e.tr, "GET", u), 200, Miss, want)
			e.tr.Close()
			if s := e.tr.Stats(); s.StoreErrors != 1 || s.Stored != 0 {
				t.Fatalf("stats %+v", s)
			}
			if files := storedFiles(t, e.dir); len(files) != 0 {
				t.Fatalf("stored %v", files)
			}
			if des, _ := os.ReadDir(filepath.Join(e.dir, tmpDir)); len(des) != 0 {
				t.Fatalf("left %d temporary files", len(des))
			}
			expect(t, get(t, e.reopen(t), "GET", u), 200, Miss, want)
		})
	}
}

// Replacing a large entry frees the old body in the background; a reader
// of the old body keeps its bytes, and nothing is left behind.
func TestReplacedLargeBody(t *testing.T) {
	e := newEnv(t)
	old := bytes.Repeat([]byte("old "), (preallocMin+100)/4)
	res := testserver.NewResource(old, testserver.WithoutValidators())
	e.srv.Handle("/r", res)
	u := e.srv.URL + "/r"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, old)

	resp, err := e.tr.RoundTrip(newRequest(t, "GET", u))
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Header.Get(Header); c != Hit {
		t.Fatalf("X-Cache %s", c)
	}
	part := make([]byte, 10)
	io.ReadFull(resp.Body, part)

	fresh := bytes.Repeat([]byte("new!"), (2*preallocMin)/4)
	res.Set(fresh)
	expect(t, get(t, e.tr, "GET", u, "Cache-Control", "no-cache"), 200, Miss, fresh)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(append(part, rest...), old) {
		t.Fatalf("the open hit lost its bytes: %d bytes, %v", len(part)+len(rest), err)
	}
	expect(t, get(t, e.tr, "GET", u), 200, Hit, fresh)
	e.tr.Close()
	if des, _ := os.ReadDir(filepath.Join(e.dir, tmpDir)); len(des) != 0 {
		t.Fatalf("left %v in the temporary folder", des)
	}
}

// A disk without room for the announced length is found out before the
// download: the caller gets the body and nothing is stored.
func TestNoRoomForTheBody(t *testing.T) {
	e := newEnv(t, withStore(filestore.Options{Reserve: func(filestore.File, int64) error { return syscall.ENOSPC }}))
	size := int64(preallocMin)
	e.srv.Handle("/big", testserver.Generated(size, 2))
	want, _ := io.ReadAll(testserver.GeneratedReader(size, 2))
	u := e.srv.URL + "/big"
	expect(t, get(t, e.tr, "GET", u), 200, Miss, want)
	if s := e.tr.Stats(); s.StoreErrors != 1 || s.Stored != 0 {
		t.Fatalf("stats %+v", s)
	}
	if des, _ := os.ReadDir(filepath.Join(e.dir, tmpDir)); len(des) != 0 {
		t.Fatalf("left %d temporary files", len(des))
	}
	// Smaller bodies are not reserved for.
	e.srv.Handle("/small", testserver.NewResource([]byte("small")))
	expect(t, get(t, e.tr, "GET", e.srv.URL+"/small"), 200, Miss, []byte("small"))
	expect(t, get(t, e.tr, "GET", e.srv.URL+"/small"), 200, Hit, []byte("small"))
}

// readWith reads r to the end with a buffer of n bytes, returning the
// bytes, the first error other than EOF, and how many entries the
// Transport had stored when EOF came.
func readWith(r io.Reader, n int, tr *Transport) (got []byte, storedAtEOF int64, err error) {
	buf := make([]byte, n)
	for {
		k, err := r.Read(buf)
		got = append(got, buf[:k]...)
		if err == io.EOF {
			return got, tr.Stats().Stored, nil
		}
		if err != nil {
			return got, 0, err
		}
	}
}

// A caller with any buffer size gets every byte, and EOF only once it has
// them all and (for a body under 8 MiB) the entry is committed.
func TestSmallReadsGetEveryByte(t *testing.T) {
	for _, bufSize := range []int{1, 7, 1000, chunkSize + 1} {
		t.Run(fmt.Sprint(bufSize), func(t *testing.T) {
			e := newEnv(t)
			size := int64(2*chunkSize + 12345)
			if bufSize == 1 {
				size = 5000
			}
			e.srv.Handle("/b", testserver.Generated(size, 3))
			want, _ := io.ReadAll(testserver.GeneratedReader(size, 3))
			resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
			if err != nil {
				t.Fatal(err)
			}
			got, stored, err := readWith(resp.Body, bufSize, e.tr)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %d of %d bytes, %v", len(got), len(want), err)
			}
			if stored != 1 {
				t.Fatalf("EOF came before the commit: %d stored", stored)
			}
			expect(t, get(t, e.tr, "GET", e.srv.URL+"/b"), 200, Hit, want)
		})
	}
}

// A connection reset reaches the caller after the bytes that arrived
// before it, never in their place; nothing is stored.
func TestResetAfterBytesReadAhead(t *testing.T) {
	body := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), 40_000)
	const at = 600_000
	e := newEnv(t)
	e.srv.Handle("/b", testserver.ResetAfter(body, at))
	resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := readWith(resp.Body, 1000, e.tr)
	resp.Body.Close()
	if err == nil {
		t.Fatal("no error for a reset connection")
	}
	if len(got) > at || !bytes.Equal(got, body[:len(got)]) {
		t.Fatalf("got %d bytes that are not the body's first bytes (reset after %d)", len(got), at)
	}
	if s := e.tr.Stats(); s.Stored != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A caller that closes a small body after a few bytes still gets the entry
// stored.
func TestCloseAfterNetworkEOF(t *testing.T) {
	e := newEnv(t)
	body := bytes.Repeat([]byte("0123456789"), 3000)
	e.srv.Handle("/b", testserver.NewResource(body))
	resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(head); err == nil {
		t.Fatal("read after Close succeeded")
	}
	downloadsDone(t, e.dir)
	expect(t, get(t, e.reopen(t), "GET", e.srv.URL+"/b"), 200, Hit, body)
}

// Reading again after EOF, or closing, while a large body's commit runs in
// the background is harmless: EOF again, nothing else.
func TestReadAfterEOFDuringBackgroundCommit(t *testing.T) {
	size := int64(commitBeforeEOF)
	g := newGate()
	e := newEnv(t, g.option(t))
	e.srv.Handle("/big", testserver.Generated(size, 1))
	resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/big"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
		t.Fatalf("copied %d bytes, %v", n, err)
	}
	g.waitCalled(t, 1)
	go g.open() // the commit goes on while the caller reads again
	for range 100 {
		if n, err := resp.Body.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("read after EOF: %d, %v", n, err)
		}
		if n, err := io.Copy(io.Discard, resp.Body); n != 0 || err != nil {
			t.Fatalf("copy after EOF: %d, %v", n, err)
		}
	}
	resp.Body.Close()
	e.tr.Close()
	if s := e.tr.Stats(); s.Stored != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// downloadsDone waits until no download of the folder is in progress: its
// temporary files are gone.
func downloadsDone(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		des, _ := os.ReadDir(filepath.Join(dir, tmpDir))
		if len(des) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the download never ended: %v", des)
		}
		time.Sleep(time.Millisecond)
	}
}

// contextFreeBody is a body that ignores the request's context.
type contextFreeBody struct{ *bytes.Reader }

func (contextFreeBody) Close() error { return nil }

type contextFreeOrigin struct{ body []byte }

func (o contextFreeOrigin) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/octet-stream"}},
		ContentLength: int64(len(o.body)),
		Body:          contextFreeBody{bytes.NewReader(o.body)},
		Request:       req,
	}, nil
}

// When the only reader's context ends mid-body, the download is given up
// and nothing partial is stored; the caller got a prefix of the body and
// then the context's error. A body that had arrived complete before (an
// origin that ignores the context and answers at once) may be stored: it
// is whole.
func TestContextEndsAfterReadAhead(t *testing.T) {
	body, _ := io.ReadAll(testserver.GeneratedReader(300_000, 8))
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name     string
		origin   func(e *env) (*Transport, string)
		complete bool
	}{
		{"net/http", func(e *env) (*Transport, string) {
			e.srv.Handle("/b", paused(int64(len(body)), 100_000, 8, release))
			return e.tr, e.dir
		}, false},
		{"context-free body", func(e *env) (*Transport, string) {
			dir := t.TempDir()
			tr, err := New(contextFreeOrigin{body}, Options{Dir: dir, Rules: localRules(t, time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tr.Close() })
			return tr, dir
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tr, dir := tt.origin(e)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/b", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 4096)
			if _, err := io.ReadFull(resp.Body, got); err != nil {
				t.Fatal(err)
			}
			cancel()
			downloadsDone(t, dir)
			rest, _, err := readWith(resp.Body, 1000, tr)
			resp.Body.Close()
			got = append(got, rest...)
			if !bytes.Equal(got, body[:len(got)]) {
				t.Fatalf("got %d bytes that are not the body's first bytes", len(got))
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("read after the context ended: %v", err)
			}
			s := tr.Stats()
			if !tt.complete && s.Stored != 0 {
				t.Fatalf("stored after the context ended: %+v", s)
			}
			if s.Stored == 1 {
				expect(t, get(t, tr, "GET", e.srv.URL+"/b"), 200, Hit, body)
			}
		})
	}
}

// An invalidation that comes while a download's commit is held up does not
// wait for it, and wins: the old bytes are not stored after it.
func TestInvalidationWinsOverACommit(t *testing.T) {
	for _, size := range []int64{1000, commitBeforeEOF} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			g := newGate()
			e := newEnv(t, g.option(t))
			e.srv.Handle("/big", testserver.Generated(size, 6))
			want, _ := io.ReadAll(testserver.GeneratedReader(size, 6))
			u := e.srv.URL + "/big"
			first := readAsync(e.tr, u)
			g.waitCalled(t, 1) // the body is in, its commit held
			expect(t, await(t, readAsync(e.tr, u, "DELETE"), "DELETE"), 405, Bypass, nil)
			g.open()
			expect(t, await(t, first, "GET"), 200, Miss, want)
			e.tr.Close()
			if s := e.tr.Stats(); s.Stored != 0 {
				t.Fatalf("stored after the invalidation: %+v", s)
			}
			expect(t, get(t, e.reopen(t), "GET", u), 200, Miss, want)
		})
	}
}

// A POST that completes while a GET is still downloading version 1 wins:
// version 1 is not stored, and the next GET fetches version 2.
func TestInvalidationDuringADownload(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	const size = 300 << 10
	var gets atomic.Int32
	v1 := paused(size, 1000, 1, release)
	v2 := testserver.Generated(size, 2)
	e.srv.HandleFunc("/doc", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST":
			io.WriteString(w, "updated")
		case gets.Add(1) == 1:
			v1.ServeHTTP(w, r)
		default:
			v2.ServeHTTP(w, r)
		}
	})
	want1, _ := io.ReadAll(testserver.GeneratedReader(size, 1))
	want2, _ := io.ReadAll(testserver.GeneratedReader(size, 2))
	u := e.srv.URL + "/doc"
	first := readAsync(e.tr, u)
	for e.srv.Hits("/doc") == 0 {
		time.Sleep(time.Millisecond)
	}
	expect(t, get(t, e.tr, "POST", u), 200, Bypass, []byte("updated"))
	close(release)
	expect(t, await(t, first, "GET"), 200, Miss, want1)
	expect(t, get(t, e.tr, "GET", u), 200, Miss, want2)
	expect(t, get(t, e.tr, "GET", u), 200, Hit, want2)
}

// Close works while WriteTo's destination blocks: io.Copy into a pipe
// whose reader closes the body before the pipe. The download, complete,
// is kept.
func TestCloseWhileWriteToBlocks(t *testing.T) {
	e := newEnv(t)
	size := int64(3 * chunkSize)
	e.srv.Handle("/b", testserver.Generated(size, 9))
	resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(pw, resp.Body)
		copied <- err
	}()
	if _, err := io.ReadFull(pr, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- resp.Body.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close blocked behind the destination's Write")
	}
	pr.Close()
	if err := <-copied; err == nil {
		t.Fatal("io.Copy of a closed body succeeded")
	}
	downloadsDone(t, e.dir)
	want, _ := io.ReadAll(testserver.GeneratedReader(size, 9))
	expect(t, get(t, e.reopen(t), "GET", e.srv.URL+"/b"), 200, Hit, want)
}

// Reading a closed body fails, as with net/http, whatever was left in it:
// read to the end, read in part, or not read at all.
func TestReadAfterClose(t *testing.T) {
	for _, readFirst := range []int{-1, 0, 10} {
		t.Run(fmt.Sprint(readFirst), func(t *testing.T) {
			e := newEnv(t)
			body := bytes.Repeat([]byte("z"), 50_000)
			e.srv.Handle("/b", testserver.NewResource(body))
			resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case readFirst < 0:
				io.Copy(io.Discard, resp.Body)
			case readFirst > 0:
				io.ReadFull(resp.Body, make([]byte, readFirst))
			}
			resp.Body.Close()
			if n, err := resp.Body.Read(make([]byte, 100)); n != 0 || err == nil || !strings.Contains(err.Error(), "closed body") {
				t.Fatalf("read after Close: %d bytes, %v", n, err)
			}
			if n, err := io.Copy(io.Discard, resp.Body); n != 0 || err == nil {
				t.Fatalf("copy after Close: %d bytes, %v", n, err)
			}
			downloadsDone(t, e.dir)
			expect(t, get(t, e.reopen(t), "GET", e.srv.URL+"/b"), 200, Hit, body)
		})
	}
}
