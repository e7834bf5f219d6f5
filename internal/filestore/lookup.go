package filestore

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// metaCache keeps parsed sidecars, valid while the sidecar keeps its file
// identity, and small bodies, valid while the body file has the identity
// its sidecar records: a hit costs a stat or two.
type metaCache struct {
	mu        sync.Mutex
	m         map[string]cachedMeta
	bodyBytes int64
}

type cachedMeta struct {
	id      string // the sidecar's identity when read
	meta    *cache.Meta
	mtime   time.Time // the sidecar's modification time: its last use, for eviction
	body    []byte    // the whole body of a small entry, never modified, or nil
	checked time.Time // when the sidecar was last seen to be this one
}

const (
	// metaTrust is how long a sidecar is trusted without a stat while its
	// body is the file it describes: another process's 304 within it costs
	// at most one more revalidation.
	metaTrust      = time.Second
	verifyFirstMax = 64 << 20
	metaCacheMax   = 4096
	hotBodyMax     = 64 << 10
	hotBytesMax    = 16 << 20
)

func (c *metaCache) get(key string) (cachedMeta, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e, ok
}

// put records e for key, keeping a known body of the same sidecar.
func (c *metaCache) put(key string, e cachedMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= metaCacheMax {
		c.m, c.bodyBytes = make(map[string]cachedMeta), 0
	}
	if old, ok := c.m[key]; ok {
		if e.body == nil && old.meta == e.meta {
			e.body = old.body
		}
		c.bodyBytes -= int64(len(old.body))
	}
	if c.bodyBytes+int64(len(e.body)) > hotBytesMax {
		e.body = nil
	}
	c.bodyBytes += int64(len(e.body))
	c.m[key] = e
}

func (c *metaCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.bodyBytes -= int64(len(e.body))
		delete(c.m, key)
	}
}

func idOf(fi os.FileInfo) string { return string(appendID(nil, fi)) }

func appendID(b []byte, fi os.FileInfo) []byte {
	b = strconv.AppendInt(b, fi.Size(), 10)
	b = strconv.AppendInt(append(b, '.'), fi.ModTime().UnixNano(), 10)
	return strconv.AppendUint(append(b, '.'), inode(fi), 10)
}

// hasID reports whether fi's identity is id, without allocating.
func hasID(fi os.FileInfo, id string) bool {
	var buf [64]byte
	return string(appendID(buf[:0], fi)) == id
}

// Lookup returns the entry at k with its body open. A body with the
// identity its sidecar records is served as it is (up to 64 KiB, read,
// checked and kept in memory). Another file (a copied folder, damage) is
// checked against its checksum, before it is served up to 64 MiB, as it
// streams beyond, and its identity recorded once it matched.
func (s *Store) Lookup(_ context.Context, k cache.Key) (*cache.Meta, io.ReadCloser, error) {
	return s.lookup(k, true)
}

// lookup is Lookup; with trust a recent sidecar is taken as it is, and it
// looks again without when the body turns out to be another file.
func (s *Store) lookup(k cache.Key, trust bool) (*cache.Meta, io.ReadCloser, error) {
	key := k.String()
	bodyPath, metaPath := s.pathsOf(key)
	c, trusted, err := s.loadMeta(key, metaPath, trust)
	if err != nil {
		return nil, nil, err
	}
	m := c.meta
	if m.Marker() {
		return m, nil, nil
	}
	if c.body != nil {
		if fi, err := os.Stat(bodyPath); err == nil && hasID(fi, m.ID) {
			return m, cache.MemBody(c.body), nil
		}
	}
	f, err := openRead(bodyPath)
	if err != nil {
		return nil, nil, cache.ErrNotFound
	}
	fi, err := f.Stat()
	if trusted && (err != nil || !hasID(fi, m.ID)) {
		f.Close()
		return s.lookup(k, false)
	}
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != m.Size {
		f.Close()
		if err == nil {
			s.damaged(key, bodyPath, c.id, fmt.Errorf("body of %d bytes, sidecar says %d", fi.Size(), m.Size))
		}
		return nil, nil, cache.ErrNotFound
	}
	same := hasID(fi, m.ID)
	if m.Size <= hotBodyMax {
		b := make([]byte, m.Size)
		_, err := io.ReadFull(f, b)
		f.Close()
		if err != nil || crc32.Checksum(b, cache.Castagnoli) != m.Sum() {
			s.damaged(key, bodyPath, c.id, errors.Join(err, errors.New("checksum mismatch")))
			return nil, nil, cache.ErrNotFound
		}
		if !same {
			m = s.refreshID(k, metaPath, c.id, m, idOf(fi))
		}
		s.metas.put(key, cachedMeta{id: c.id, meta: m, mtime: c.mtime, body: b})
		return m, cache.MemBody(b), nil
	}
	body := io.ReadCloser(&fileBody{f: f, left: m.Size})
	if !same && m.Size <= verifyFirstMax {
		h := crc32.New(cache.Castagnoli)
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, m.Size)); err != nil || h.Sum32() != m.Sum() {
			f.Close()
			s.damaged(key, bodyPath, c.id, errors.Join(err, errors.New("checksum mismatch")))
			return nil, nil, cache.ErrNotFound
		}
		m = s.refreshID(k, metaPath, c.id, m, idOf(fi))
	} else if !same {
		id := idOf(fi)
		body = cache.CheckedBody(body, m.Size, m.Sum(), func(ok bool) {
			if ok {
				s.refreshID(k, metaPath, c.id, m, id)
			} else {
				s.damaged(key, bodyPath, c.id, errors.New("checksum mismatch"))
			}
		})
	}
	return m, body, nil
}

// loadMeta returns the sidecar for key, parsed once per version, and
// records a use for eviction; with trust, one seen within metaTrust is
// taken as it is (trusted), for the caller to check against the body.
func (s *Store) loadMeta(key, metaPath string, trust bool) (c cachedMeta, trusted bool, err error) {
	c, ok := s.metas.get(key)
	if trust && ok && time.Since(c.checked) < metaTrust && !c.meta.Marker() {
		return c, true, nil
	}
	fi, err := os.Stat(metaPath)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.fail("read", metaPath, err)
		}
		return cachedMeta{}, false, cache.ErrNotFound
	}
	id := idOf(fi)
	if !ok || c.id != id {
		data, err := os.ReadFile(metaPath)
		if err != nil {
			return cachedMeta{}, false, cache.ErrNotFound
		}
		m, err := cache.ParseMeta(data)
		if err == nil && m.Key != key {
			err = fmt.Errorf("%w: key %q, want %q", cache.ErrDamaged, m.Key, key)
		}
		if err != nil {
			s.damaged(key, strings.TrimSuffix(metaPath, metaSuffix), id, err)
			return cachedMeta{}, false, cache.ErrNotFound
		}
		c = cachedMeta{id: id, meta: m, mtime: fi.ModTime()}
	}
	c.checked = time.Now()
	s.metas.put(key, c)
	c, _ = s.metas.get(key)
	// The sidecar's mtime is the entry's last use, updated once a minute.
	if now := time.Now(); s.maxBytes > 0 && now.Sub(c.mtime) > time.Minute && os.Chtimes(metaPath, now, now) == nil {
		if nfi, err := os.Stat(metaPath); err == nil && inode(nfi) == inode(fi) && nfi.Size() == fi.Size() {
			c.id, c.mtime = idOf(nfi), now
			s.metas.put(key, c)
		} else { // replaced meanwhile: read it anew next time
			s.metas.forget(key)
		}
	}
	return c, false, nil
}

// refreshID records a verified body's identity in the sidecar m came
// from (of identity metaID), unless a writer holds it or replaced it.
func (s *Store) refreshID(k cache.Key, metaPath, metaID string, m *cache.Meta, id string) *cache.Meta {
	nm := *m
	nm.ID = id
	l, ok, err := tryLock(s.lockPath(k.String()))
	if err != nil || !ok {
		return &nm
	}
	defer l.release()
	if fi, err := os.Stat(metaPath); err == nil && idOf(fi) == metaID {
		s.writeMeta(k, metaPath, &nm)
	}
	return &nm
}

// damaged counts a damaged entry and removes its sidecar (of identity
// metaID when judged), unless a writer holds it or replaced it since.
func (s *Store) damaged(key, bodyPath, metaID string, why error) {
	s.stats.corrupt.Add(1)
	s.log.Warn("filestore: damaged entry removed", "path", bodyPath, "err", why)
	s.metas.forget(key)
	if l, ok, _ := tryLock(s.lockPath(key)); ok {
		if fi, err := os.Stat(bodyPath + metaSuffix); err == nil && idOf(fi) == metaID {
			os.Remove(bodyPath + metaSuffix)
		}
		l.release()
	}
}

// fileBody streams a body to its recorded size, with io.EOF on the last
// bytes, or io.ErrUnexpectedEOF when the file is shorter.
type fileBody struct {
	f    *os.File
	left int64
}

func (b *fileBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.f.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteTo lets io.Copy to a socket or file use sendfile or
// copy_file_range; other writers get 256 KiB reads.
func (b *fileBody) WriteTo(w io.Writer) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.(io.ReaderFrom); ok && w != io.Discard {
		n, err = rf.ReadFrom(&io.LimitedReader{R: b.f, N: b.left})
	} else {
		buf := readPool.Get().(*[readChunk]byte)
		n, err = io.CopyBuffer(onlyWriter{w}, &io.LimitedReader{R: b.f, N: b.left}, buf[:])
		readPool.Put(buf)
	}
	b.left -= n
	if err == nil && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

const readChunk = 256 << 10

var readPool = sync.Pool{New: func() any { return new([readChunk]byte) }}

// onlyWriter hides ReadFrom from io.CopyBuffer.
type onlyWriter struct{ io.Writer }

func (b *fileBody) Close() error { return b.f.Close() }
