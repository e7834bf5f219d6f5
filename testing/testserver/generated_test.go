package testserver

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"testing"
)

func sum(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out, n
}

func TestGeneratedMatchesReader(t *testing.T) {
	s := newServer(t)
	c := rawClient(t)
	tests := []struct {
		name       string
		size, seed int64
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"odd size", 12345, 7},
		{"negative seed", 4099, -3},
		{"several buffers", 3*genBufSize + 5, 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Handle("/g", Generated(tt.size, tt.seed))
			resp, err := c.Get(s.URL + "/g")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ContentLength != tt.size {
				t.Fatalf("status %d, Content-Length %d, want 200, %d", resp.StatusCode, resp.ContentLength, tt.size)
			}
			got, n := sum(t, resp.Body)
			want, wn := sum(t, GeneratedReader(tt.size, tt.seed))
			if n != tt.size || wn != tt.size || got != want {
				t.Errorf("downloaded %d bytes, reader %d, hashes equal %v", n, wn, got == want)
			}
		})
	}
}

func TestGeneratedSeedsDiffer(t *testing.T) {
	a, _ := io.ReadAll(GeneratedReader(64, 1))
	b, _ := io.ReadAll(GeneratedReader(64, 2))
	if bytes.Equal(a, b) {
		t.Error("seeds 1 and 2 give the same bytes")
	}
	a2, _ := io.ReadAll(GeneratedReader(64, 1))
	if !bytes.Equal(a, a2) {
		t.Error("the same seed gives different bytes")
	}
}

// TestGeneratedReaderAccess checks that reads of any size, ReadAt, Seek and
// WriteTo all see one stream.
func TestGeneratedReaderAccess(t *testing.T) {
	const size = 10007
	want := make([]byte, size)
	r := GeneratedReader(size, 5)
	for i := range want { // one byte at a time: the reference
		if _, err := io.ReadFull(r, want[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read past the end: %d, %v", n, err)
	}
	for _, chunk := range []int{3, 7, 8, 31, 33, 4096} {
		r := GeneratedReader(size, 5)
		var buf bytes.Buffer
		p := make([]byte, chunk)
		for {
			n, err := r.Read(p)
			buf.Write(p[:n])
			if err == io.EOF {
				break
			}
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("reads of %d bytes differ", chunk)
		}
	}
	ra := GeneratedReader(size, 5).(io.ReaderAt)
	for _, off := range []int64{0, 1, 7, 8, 9, 1000, size - 9} {
		p := make([]byte, 9)
		if n, err := ra.ReadAt(p, off); n != 9 || err != nil && off+9 < size {
			t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
		}
		if !bytes.Equal(p, want[off:off+9]) {
			t.Errorf("ReadAt(%d) differs", off)
		}
	}
	if n, err := ra.ReadAt(make([]byte, 10), size-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v, want 4, EOF", n, err)
	}
	rs := GeneratedReader(size, 5).(io.ReadSeeker)
	if _, err := rs.Seek(-13, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(rs)
	if !bytes.Equal(tail, want[size-13:]) {
		t.Error("read after Seek differs")
	}
	var buf bytes.Buffer
	wt := GeneratedReader(size, 5).(io.ReadSeeker)
	wt.Seek(3, io.SeekStart)
	if n, err := wt.(io.WriterTo).WriteTo(&buf); n != size-3 || err != nil || !bytes.Equal(buf.Bytes(), want[3:]) {
		t.Errorf("WriteTo after Seek: %d, %v", n, err)
	}
}

func TestGeneratedConditional(t *testing.T) {
	s := newServer(t)
	s.Handle("/g", Generated(1000, 1, WithHeader("Cache-Control", "max-age=5")))
	c := rawClient(t)
	resp, _ := do(t, c, "GET", s.URL+"/g")
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("ETag %q, Last-Modified %q, Content-Type %q", etag, lm, resp.Header.Get("Content-Type"))
	}
	tests := []struct {
		name    string
		method  string
		headers []string
		status  int
		length  int
	}{
		{"etag", "GET", []string{"If-None-Match", etag}, 304, 0},
		{"ims", "GET", []string{"If-Modified-Since", lm}, 304, 0},
		{"etag mismatch", "GET", []string{"If-None-Match", `"nope"`}, 200, 1000},
		{"head", "HEAD", nil, 200, 0},
		{"post", "POST", nil, 405, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, c, tt.method, s.URL+"/g", tt.headers...)
			if resp.StatusCode != tt.status || tt.length >= 0 && len(body) != tt.length {
				t.Errorf("status %d with %d bytes, want %d with %d", resp.StatusCode, len(body), tt.status, tt.length)
			}
			if tt.status != 405 && (resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") != "max-age=5") {
				t.Errorf("ETag %q Cache-Control %q", resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
			}
			if tt.method == "HEAD" && resp.ContentLength != 1000 {
				t.Errorf("HEAD Content-Length %d", resp.ContentLength)
			}
		})
	}

	// The validators are stable: a second handler for the same data agrees.
	s.Handle("/g2", Generated(1000, 1))
	resp, _ = do(t, c, "GET", s.URL+"/g2", "If-None-Match", etag)
	if resp.StatusCode != 304 {
		t.Errorf("another Generated(1000, 1): status %d, want 304", resp.StatusCode)
	}
	s.Handle("/g3", Generated(1000, 1, WithoutValidators()))
	resp, _ = do(t, c, "GET", s.URL+"/g3", "If-None-Match", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != "" {
		t.Errorf("WithoutValidators: status %d ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

func TestGeneratedGzip(t *testing.T) {
	s := newServer(t)
	const size = 100000
	s.Handle("/g", Generated(size, 4, WithGzip()))
	want, _ := sum(t, GeneratedReader(size, 4))

	resp, body := do(t, rawClient(t), "GET", s.URL+"/g", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("Content-Encoding %q Vary %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got, n := sum(t, zr); got != want || n != size {
		t.Errorf("decompressed %d bytes, equal %v", n, got == want)
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, body = do(t, &http.Client{Transport: tr}, "GET", s.URL+"/g")
	if got, _ := sum(t, bytes.NewReader(body)); !resp.Uncompressed || got != want {
		t.Errorf("default transport: Uncompressed %v, equal %v", resp.Uncompressed, got == want)
	}
}

func BenchmarkGeneratedReader(b *testing.B) {
	r := GeneratedReader(1<<62, 1)
	p := make([]byte, 256<<10)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		r.Read(p)
	}
}

// BenchmarkGenerated downloads 256 MiB through the loopback server. The
// baseline serves a preallocated buffer the same way, so the difference is
// the cost of generating the bytes; BenchmarkGeneratedReader is the
// generator alone.
func BenchmarkGenerated(b *testing.B) {
	const size = 256 << 20
	static := make([]byte, genBufSize)
	baseline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(static) {
			if _, err := w.Write(static); err != nil {
				return
			}
		}
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"baseline", baseline},
		{"generated", Generated(size, 1)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := New()
			defer s.Close()
			s.Handle("/g", bc.h)
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			buf := make([]byte, 256<<10)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Get(s.URL + "/g")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
}
