package testserver

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The generated stream is splitmix64 run in counter mode: the 8-byte word at
// index i is mix64(base + (i+1)*gamma), written little-endian. Any offset can
// be produced without the bytes before it, and the words are independent, so
// the loop runs at several GB/s.
const gamma = 0x9e3779b97f4a7c15

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill writes the stream bytes at offsets [off, off+len(p)) into p.
func fill(p []byte, base uint64, off int64) {
	w := uint64(off) / 8
	if skip := int(off % 8); skip != 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], mix64(base+(w+1)*gamma))
		p = p[copy(p, tmp[skip:]):]
		w++
	}
	s := base + (w+1)*gamma
	g1 := uint64(gamma)
	g2, g3, g4 := 2*g1, 3*g1, 4*g1 // wrapping, as the counter does
	for len(p) >= 32 {
		binary.LittleEndian.PutUint64(p[0:8], mix64(s))
		binary.LittleEndian.PutUint64(p[8:16], mix64(s+g1))
		binary.LittleEndian.PutUint64(p[16:24], mix64(s+g2))
		binary.LittleEndian.PutUint64(p[24:32], mix64(s+g3))
		s += g4
		p = p[32:]
	}
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, mix64(s))
		s += gamma
		p = p[8:]
	}
	if len(p) > 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], mix64(s))
		copy(p, tmp[:])
	}
}

// genBufSize is the size of the buffers the handler and WriteTo fill: large
// enough for few system calls, small enough to bound memory per request.
const genBufSize = 256 << 10

var genBufPool = sync.Pool{New: func() any { b := make([]byte, genBufSize); return &b }}

// GeneratedReader returns a reader of the size bytes that [Generated] serves
// for seed, for verifying a download without holding it. The reader also
// implements [io.Seeker], [io.ReaderAt] and [io.WriterTo]. A negative size
// counts as 0.
func GeneratedReader(size, seed int64) io.Reader {
	return &genReader{base: mix64(uint64(seed)), size: max(size, 0)}
}

type genReader struct {
	base      uint64
	size, off int64
}

var (
	_ io.ReadSeeker = (*genReader)(nil)
	_ io.ReaderAt   = (*genReader)(nil)
	_ io.WriterTo   = (*genReader)(nil)
)

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	if rem := g.size - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	fill(p, g.base, g.off)
	g.off += int64(len(p))
	return len(p), nil
}

func (g *genReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("testserver: negative offset")
	}
	if off >= g.size {
		return 0, io.EOF
	}
	var err error
	if rem := g.size - off; int64(len(p)) > rem {
		p, err = p[:rem], io.EOF
	}
	fill(p, g.base, off)
	return len(p), err
}

func (g *genReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += g.off
	case io.SeekEnd:
		offset += g.size
	default:
		return 0, errors.New("testserver: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("testserver: negative position")
	}
	g.off = offset
	return offset, nil
}

func (g *genReader) WriteTo(w io.Writer) (int64, error) {
	bp := genBufPool.Get().(*[]byte)
	defer genBufPool.Put(bp)
	var total int64
	for g.off < g.size {
		p := (*bp)[:min(int64(len(*bp)), g.size-g.off)]
		fill(p, g.base, g.off)
		n, err := w.Write(p)
		g.off += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < len(p) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// genEpoch is the default Last-Modified of generated bodies: fixed, so that
// validators are stable across runs.
var genEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Generated returns a handler that serves size deterministic pseudo-random
// bytes derived from seed, the same as [GeneratedReader] yields. The body is
// produced while it is written, never held in memory, so sizes of many GiB
// cost a fixed buffer per request. Responses carry Content-Length and, unless
// [WithoutValidators] is given, a stable ETag and Last-Modified with real 304
// answers, like a [Resource]. With [WithGzip] the body is compressed on the
// fly for clients that accept gzip; that variant has no Content-Length. A
// negative size counts as 0.
func Generated(size, seed int64, opts ...ResourceOption) http.Handler {
	g := &generated{
		size: max(size, 0),
		base: mix64(uint64(seed)),
		opts: collectOptions(opts),
	}
	if g.opts.contentType == "" {
		g.opts.contentType = "application/octet-stream"
	}
	if g.opts.etag == "" {
		g.opts.etag = fmt.Sprintf(`"gen-%x-%x"`, g.size, uint64(seed))
	}
	if g.opts.lastModified.IsZero() {
		g.opts.lastModified = genEpoch
	}
	return g
}

type generated struct {
	size int64
	base uint64
	opts resourceOptions
}

func (g *generated) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !allowGetHead(w, r) {
		return
	}
	etag, coding := g.opts.etag, ""
	if g.opts.gzip && acceptsGzip(r) {
		etag, coding = variantETag(etag, "gzip"), "gzip"
	}
	if writeHead(w, r, &g.opts, etag, g.opts.lastModified) {
		return
	}
	h := w.Header()
	setContentHeaders(h, &g.opts, g.opts.contentType, coding)
	if coding == "" {
		h.Set("Content-Length", strconv.FormatInt(g.size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	src := &genReader{base: g.base, size: g.size}
	if coding == "" {
		src.WriteTo(w) // a write error means the client went away
		return
	}
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if _, err := src.WriteTo(zw); err == nil {
		zw.Close()
	}
}
