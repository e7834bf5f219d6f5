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
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/testserver"
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
	for _, size := range []int64{0, 1000, chunkSize - 1, chunkSize, 3*chunkSize + 17, backgroundCommitMin + 5} {
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
			if s := e.tr.Stats(); size < backgroundCommitMin && s.Stored != 1 {
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
// entry is then stored or not as for any caller that closes early.
func TestWriteToDestinationError(t *testing.T) {
	tests := []struct {
		size   int
		stored bool
	}{
		{size: 600 << 10, stored: true},                  // 500 KiB left at Close: read and stored
		{size: earlyCloseDrain + 300<<10, stored: false}, // over 1 MiB left: dropped
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			e := newEnv(t)
			e.srv.Handle("/b", testserver.Generated(int64(tt.size), 5))
			want, _ := io.ReadAll(testserver.GeneratedReader(int64(tt.size), 5))
			resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/b"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(&failAfter{n: 100 << 10}, resp.Body)
			if !errors.Is(err, errDestination) || n != 100<<10 {
				t.Fatalf("copied %d bytes, %v; want 100 KiB and the destination's error", n, err)
			}
			resp.Body.Close()
			want2 := Miss
			if tt.stored {
				want2 = Hit
			}
			expect(t, get(t, e.tr, "GET", e.srv.URL+"/b"), 200, want2, want)
		})
	}
}

// syncGate is a temporary file whose Sync waits for release, recording
// whether it was called from a background commit.
type syncGate struct {
	*os.File
	g *gate
}

type gate struct {
	release chan struct{}
	mu      sync.Mutex
	calls   []bool // per Sync: called by a background goroutine
	called  chan struct{}
	fail    error
	once    sync.Once
}

func newGate() *gate {
	return &gate{release: make(chan struct{}), called: make(chan struct{}, 100)}
}

// open lets every Sync through, once.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (f *syncGate) Sync() error {
	bg := strings.Contains(string(debug.Stack()), "goBackground")
	f.g.mu.Lock()
	f.g.calls = append(f.g.calls, bg)
	f.g.mu.Unlock()
	f.g.called <- struct{}{}
	<-f.g.release
	if f.g.fail != nil {
		return f.g.fail
	}
	return f.File.Sync()
}

// install makes tr's downloads use the gate; a test that fails opens it
// before tr's Close waits for the commits.
func (g *gate) install(t *testing.T, tr *Transport) {
	t.Cleanup(g.open)
	tr.createTemp = func(dir, pattern string) (tempFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(pattern, ".part") {
			return &syncGate{File: f, g: g}, nil
		}
		return f, nil
	}
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
func readAsync(tr http.RoundTripper, u string) chan result {
	ch := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", u, nil)
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
	e = newEnv(t)
	g = newGate()
	g.install(t, e.tr)
	e.srv.Handle("/big", testserver.Generated(size, seed))
	want, _ = io.ReadAll(testserver.GeneratedReader(size, seed))
	u = e.srv.URL + "/big"
	first := readAsync(e.tr, u)
	g.waitCalled(t, 1)
	expect(t, await(t, first, "first request"), 200, Miss, want)
	return e, g, u, want
}

// A large body reaches EOF before its commit ends; the entry is held until
// then, so a request for it waits instead of downloading again, and Close
// waits for the commit.
func TestLargeBodyCommitsInBackground(t *testing.T) {
	// The caller gets the whole body while the commit is held up.
	size := int64(backgroundCommitMin + 1)
	e, g, u, want := heldCommit(t, size, 11)
	if s := e.tr.Stats(); s.Stored != 0 {
		t.Fatalf("stored before the commit: %+v", s)
	}

	// A second request waits for the commit and is served from it.
	waiting := make(chan struct{}, 1)
	e.tr.testHookWait = func() { waiting <- struct{}{} }
	second := readAsync(e.tr, u)
	select {
	case <-waiting:
	case r := <-second:
		t.Fatalf("the second request did not wait: %d %s", r.status, r.cache)
	}
	g.open()
	expect(t, await(t, second, "second request"), 200, Hit, want)
	if n := e.srv.Hits("/big"); n != 1 {
		t.Fatalf("%d origin requests", n)
	}
	e.tr.Close()
	if s := e.tr.Stats(); s.Stored != 1 || s.StoredBytes != size {
		t.Fatalf("stats %+v", s)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.calls) != 1 || !g.calls[0] {
		t.Fatalf("syncs %v, want one, in the background", g.calls)
	}
}

// With maxBackgroundCommits commits under way, the next caller commits its
// own download before it sees EOF.
func TestBackgroundCommitsAreBounded(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	g.install(t, e.tr)
	size := int64(backgroundCommitMin)
	var readers []chan result
	for i := range maxBackgroundCommits + 1 {
		path := fmt.Sprintf("/big%d", i)
		e.srv.Handle(path, testserver.Generated(size, int64(i)))
		readers = append(readers, readAsync(e.tr, e.srv.URL+path))
		g.waitCalled(t, 1)
		if i < maxBackgroundCommits {
			if r := await(t, readers[i], path); r.status != 200 || int64(len(r.body)) != size {
				t.Fatalf("%s: %d, %d bytes", path, r.status, len(r.body))
			}
		}
	}
	g.mu.Lock()
	calls := slicesClone(g.calls)
	g.mu.Unlock()
	for i, bg := range calls {
		if bg != (i < maxBackgroundCommits) {
			t.Fatalf("commit %d in the background: %v (all: %v)", i, bg, calls)
		}
	}
	if len(readers[maxBackgroundCommits]) != 0 {
		t.Fatal("the last caller saw EOF before its commit")
	}
	g.open()
	if r := await(t, readers[maxBackgroundCommits], "last"); r.status != 200 || int64(len(r.body)) != size {
		t.Fatalf("last: %d, %d bytes", r.status, len(r.body))
	}
	e.tr.Close()
	if s := e.tr.Stats(); s.Stored != maxBackgroundCommits+1 {
		t.Fatalf("stats %+v", s)
	}
}

func slicesClone(b []bool) []bool { return append([]bool(nil), b...) }

// A background commit that fails costs the caller nothing: it already has
// the body. The failure is counted and the entry is not stored.
func TestBackgroundCommitFailure(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	g.fail = errors.New("I/O error (simulated)")
	g.open()
	g.install(t, e.tr)
	size := int64(backgroundCommitMin + 3)
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
	tr := e.reopen(t)
	expect(t, get(t, tr, "GET", u), 200, Miss, want)
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
	e := newEnv(t)
	e.tr.reserve = func(tempFile, int64) error { return syscall.ENOSPC }
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
// bytes, the first error other than EOF, and whether the Transport had
// stored the entry when EOF came.
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

// A caller with a small buffer is served from the chunk the download reads
// ahead into; it gets every byte, and EOF only once it has them all and the
// entry is committed.
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

// A caller that closes a small body after a few bytes, when the network
// has already delivered all of it, still gets the entry stored.
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
	expect(t, get(t, e.tr, "GET", e.srv.URL+"/b"), 200, Hit, body)
}

// lastWriteGate is a temporary file whose write of the body's last byte
// waits for release.
type lastWriteGate struct {
	*os.File
	size    int64
	n       int64
	reached chan struct{}
	release chan struct{}
}

func (f *lastWriteGate) Write(p []byte) (int, error) {
	if f.n += int64(len(p)); f.n == f.size {
		close(f.reached)
		<-f.release
	}
	return f.File.Write(p)
}

// Reading again after EOF, or closing, while a large body's commit runs in
// the background touches nothing the commit owns: with the race detector
// on, this test fails if Read looks at the writer's chunk while the commit
// releases it.
func TestReadAfterEOFDuringBackgroundCommit(t *testing.T) {
	e := newEnv(t)
	size := int64(backgroundCommitMin)
	gate := &lastWriteGate{size: size, reached: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	open := func() { once.Do(func() { close(gate.release) }) }
	t.Cleanup(open)
	e.tr.createTemp = func(dir, pattern string) (tempFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil || !strings.HasSuffix(pattern, ".part") {
			return f, err
		}
		gate.File = f
		return gate, nil
	}
	e.srv.Handle("/big", testserver.Generated(size, 1))
	resp, err := e.tr.RoundTrip(newRequest(t, "GET", e.srv.URL+"/big"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
		t.Fatalf("copied %d bytes, %v", n, err)
	}
	<-gate.reached
	open() // the commit goes on while the caller reads again
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

// flightsDone waits until no download of tr is in progress.
func flightsDone(t *testing.T, tr *Transport) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tr.flights.mu.Lock()
		n := len(tr.flights.m)
		tr.flights.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the download never ended")
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

// When the request's context ends mid-body, the download stops storing,
// but the bytes already read ahead still reach the caller, in order:
// the caller gets the whole body, or a prefix and an error.
func TestContextEndsAfterReadAhead(t *testing.T) {
	body, _ := io.ReadAll(testserver.GeneratedReader(300_000, 8))
	tests := []struct {
		name   string
		origin func(e *env) http.RoundTripper
	}{
		{"net/http", func(e *env) http.RoundTripper { return e.tr }},
		{"context-free body", func(e *env) http.RoundTripper {
			tr, err := New(contextFreeOrigin{body}, Options{Dir: t.TempDir(), Rules: localRules(t, time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tr.Close() })
			return tr
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.Handle("/b", testserver.NewResource(body))
			tr := tt.origin(e).(*Transport)
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
			flightsDone(t, tr) // the download was dropped
			rest, _, err := readWith(resp.Body, 1000, tr)
			resp.Body.Close()
			got = append(got, rest...)
			if !bytes.Equal(got, body[:len(got)]) {
				t.Fatalf("got %d bytes that are not the body's first bytes", len(got))
			}
			if err == nil && len(got) != len(body) {
				t.Fatalf("EOF after %d of %d bytes", len(got), len(body))
			}
			if s := tr.Stats(); s.Stored != 0 {
				t.Fatalf("stored after the context ended: %+v", s)
			}
		})
	}
}

// An invalidation that comes while a large body's commit is still running
// (after its caller saw EOF) waits for the commit, so the entry does not
// come back.
func TestInvalidateWaitsForBackgroundCommit(t *testing.T) {
	e, g, u, want := heldCommit(t, backgroundCommitMin, 6)
	deleted := make(chan error, 1)
	go func() {
		resp, err := e.tr.RoundTrip(newRequest(t, "DELETE", u))
		if err == nil {
			resp.Body.Close()
		}
		deleted <- err
	}()
	g.open()
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	expect(t, get(t, e.tr, "GET", u), 200, Miss, want)
	if s := e.tr.Stats(); s.Invalidated != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Close works while WriteTo's destination blocks: io.Copy into a pipe
// whose reader closes the body before the pipe.
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
	flightsDone(t, e.tr)
	if s := e.tr.Stats(); s.Stored != 0 {
		t.Fatalf("stats %+v", s)
	}
	want, _ := io.ReadAll(testserver.GeneratedReader(size, 9))
	expect(t, get(t, e.tr, "GET", e.srv.URL+"/b"), 200, Miss, want)
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
			if n, err := resp.Body.Read(make([]byte, 100)); n != 0 || !errors.Is(err, errBodyClosed) {
				t.Fatalf("read after Close: %d bytes, %v", n, err)
			}
			if n, err := io.Copy(io.Discard, resp.Body); n != 0 || !errors.Is(err, errBodyClosed) {
				t.Fatalf("copy after Close: %d bytes, %v", n, err)
			}
			expect(t, get(t, e.tr, "GET", e.srv.URL+"/b"), 200, Hit, body)
		})
	}
}
