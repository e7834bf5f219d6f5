package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

const (
	syncEvery    = 8 << 20 // start write-back this often, so that the final sync is short
	preallocMin  = 1 << 20 // bodies at least this long get their disk space reserved first
	reserveMax   = 1 << 30 // the most reserved for one download
	metaOverhead = 1 << 10 // a sidecar's size, roughly, for the usage estimate
)

// Create starts a body for k in a temporary file, reserving m.Size of disk
// first from 1 MiB, so that a full disk shows before the download.
func (s *Store) Create(_ context.Context, k cache.Key, m *cache.Meta) (cache.Writer, error) {
	key := k.String()
	f, err := s.create(filepath.Join(s.dir, tmpDir), lockBase(key)+"-*.part")
	if err != nil {
		s.fail("create", s.dir, err)
		return nil, err
	}
	if m.Size >= preallocMin {
		n := min(m.Size, reserveMax)
		if s.maxBytes > 0 {
			n = min(n, s.maxBytes)
		}
		if err := s.reserve(f, n); err != nil {
			f.Close()
			os.Remove(f.Name())
			s.fail("reserve", f.Name(), fmt.Errorf("reserving %d bytes: %w", n, err))
			return nil, err
		}
	}
	return &writer{s: s, k: k, f: f, since: m.Started}, nil
}

// writer is a body being written to a temporary file, in pieces of
// writeChunk that start at multiples of it: the page cache reads a file
// written in large aligned pieces back faster (by 5 to 10% at 1 MiB
// against the sizes network reads give), and every hit reads it. Whole
// aligned pieces are written as they come, the rest through a buffer,
// whose bytes ReadAt reads until they are in the file. One goroutine
// writes; any may ReadAt.
type writer struct {
	s         *Store
	k         cache.Key
	f         File
	since     time.Time
	n, synced int64 // bytes written, and those handed to write-back
	err       error
	committed bool
	aborted   bool

	mu     sync.Mutex // guards buf's changes against ReadAt; only Write changes it
	buf    *[writeChunk]byte
	filled int  // the bytes of buf not yet in f, which end at n
	closed bool // buf went back to its pool
}

const writeChunk = 256 << 10

var writePool = sync.Pool{New: func() any { return new([writeChunk]byte) }}

func (w *writer) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 && w.err == nil {
		if w.filled == 0 && w.n%writeChunk == 0 && len(p) >= writeChunk { // whole pieces: no copy
			n, err := w.f.Write(p[:len(p)/writeChunk*writeChunk])
			w.mu.Lock()
			w.n += int64(n)
			w.mu.Unlock()
			p = p[n:]
			w.wrote(err)
			continue
		}
		take := min(writeChunk-int(w.n%writeChunk), len(p)) // to the end of the piece
		w.mu.Lock()
		if w.buf == nil {
			w.buf = writePool.Get().(*[writeChunk]byte)
		}
		w.filled += copy(w.buf[w.filled:], p[:take])
		w.n += int64(take)
		w.mu.Unlock()
		p = p[take:]
		if w.n%writeChunk == 0 {
			w.flush()
		}
	}
	return total - len(p), w.err
}

// flush writes the buffered bytes to the file. ReadAt reads buf meanwhile,
// which the write only reads too.
func (w *writer) flush() error {
	if w.err != nil || w.filled == 0 {
		return w.err
	}
	_, err := w.f.Write(w.buf[:w.filled])
	if err == nil {
		w.mu.Lock()
		w.filled = 0
		w.mu.Unlock()
	}
	return w.wrote(err) // after a failure buf keeps the bytes for ReadAt
}

// wrote records the outcome of a write to the file.
func (w *writer) wrote(err error) error {
	if err != nil {
		w.err = err
		w.s.fail("write", w.f.Name(), err)
		return err
	}
	if done := w.n - int64(w.filled); done-w.synced >= syncEvery {
		startWriteback(w.f, w.synced, done-w.synced)
		w.synced = done
	}
	return nil
}

func (w *writer) ReadAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return 0, os.ErrClosed
	}
	inFile := w.n - int64(w.filled)
	if off >= inFile {
		n := 0
		if off < w.n {
			n = copy(p, w.buf[off-inFile:w.filled])
		}
		w.mu.Unlock()
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	w.mu.Unlock()
	n, err := w.f.ReadAt(p[:min(int64(len(p)), inFile-off)], off)
	if err == nil && n < len(p) { // the rest is in buf, or in the file by now
		k, err := w.ReadAt(p[n:], off+int64(n))
		return n + k, err
	}
	return n, err
}

// Abort removes the temporary file; readers keep it open until Close.
func (w *writer) Abort() {
	if !w.committed && !w.aborted {
		w.aborted = true
		os.Remove(w.f.Name())
	}
}

// Close closes the temporary file, and removes it unless committed.
func (w *writer) Close() error {
	w.mu.Lock()
	if buf := w.buf; buf != nil && !w.closed {
		defer writePool.Put(buf)
	}
	w.closed, w.buf = true, nil
	w.mu.Unlock()
	err := w.f.Close()
	w.Abort()
	return err
}

// Commit syncs the body, renames it into place and writes its sidecar
// last; an invalidation since the download started makes it fail.
func (w *writer) Commit(_ context.Context, m *cache.Meta) error {
	s := w.s
	if w.err != nil {
		return w.err
	}
	if w.aborted {
		return errors.New("filestore: commit after abort")
	}
	if s.invalidatedSince(w.k, w.since) {
		return cache.ErrInvalidated
	}
	if err := w.flush(); err != nil {
		return err // counted by wrote
	}
	err := w.f.Sync()
	var fi os.FileInfo
	if err == nil {
		fi, err = w.f.Stat()
	}
	if err == nil && fi.Size() != m.Size {
		err = fmt.Errorf("wrote %d bytes, file has %d", m.Size, fi.Size())
	}
	bodyPath, metaPath := s.paths(w.k)
	var old int64
	if err == nil {
		old, err = s.replaceBody(w.f.Name(), bodyPath)
	}
	if err != nil {
		s.fail("commit", bodyPath, err)
		return err
	}
	w.committed = true
	s.metas.forget(w.k.String())
	m.ID = idOf(fi)
	if err := s.writeMeta(w.k, metaPath, m); err != nil {
		os.Remove(bodyPath) // the old sidecar does not describe the new body anyway
		return err
	}
	if s.invalidatedSince(w.k, w.since) { // invalidated during the commit
		s.Remove(context.Background(), w.k)
		return cache.ErrInvalidated
	}
	if s.maxBytes > 0 {
		grown := m.Size - old + metaOverhead
		switch {
		case s.usage.Add(grown) > s.maxBytes:
			s.background(func() { s.evict(false) })
		case s.unmeasured.Add(grown) > s.maxBytes/8: // other processes' commits count too: measure the folder
			s.background(func() { s.evict(true) })
		}
	}
	return nil
}

// replaceBody renames the finished file over the body and returns the old
// body's size. Renaming over a large body frees it there and then (about
// 15 ms for 64 MiB), so a large one is linked aside and removed in the
// background.
func (s *Store) replaceBody(from, to string) (int64, error) {
	fi, err := os.Lstat(to)
	if err != nil || fi.Size() < preallocMin {
		var old int64
		if err == nil {
			old = fi.Size()
		}
		return old, renameInto(from, to)
	}
	trash := strings.TrimSuffix(from, ".part") + ".old"
	if os.Link(to, trash) != nil {
		return fi.Size(), renameInto(from, to)
	}
	err = renameInto(from, to)
	s.background(func() { os.Remove(trash) })
	return fi.Size(), err
}

// writeMeta replaces k's sidecar atomically, unsynced (see the package doc).
func (s *Store) writeMeta(k cache.Key, metaPath string, m *cache.Meta) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	f, err := s.create(filepath.Join(s.dir, tmpDir), lockBase(k.String())+"-*.meta")
	if err == nil {
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = renameInto(f.Name(), metaPath)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if err != nil {
		s.fail("write sidecar", metaPath, err)
	}
	return err
}

// renameInto renames from to to, creating its folder, again when a
// concurrent prune removed it in between.
func renameInto(from, to string) error {
	var err error
	for range 3 {
		if err = os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err = os.Rename(from, to); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// Update replaces k's sidecar with m and opens its body, as Lookup does;
// a Vary marker removes the body.
func (s *Store) Update(_ context.Context, k cache.Key, m *cache.Meta) (io.ReadCloser, error) {
	bodyPath, metaPath := s.paths(k)
	if m.Marker() {
		os.Remove(bodyPath)
	}
	c := *m
	c.Key = k.String()
	s.metas.forget(c.Key)
	if err := s.writeMeta(k, metaPath, &c); err != nil || m.Marker() {
		return nil, err
	}
	if s.invalidatedSince(k, m.Started) { // the 304 was sent before an invalidation
		s.Remove(context.Background(), k)
		return nil, cache.ErrInvalidated
	}
	_, body, err := s.lookup(k, false)
	return body, err
}

// Remove removes k's sidecar and body.
func (s *Store) Remove(_ context.Context, k cache.Key) error {
	bodyPath, metaPath := s.paths(k)
	s.metas.forget(k.String())
	err := os.Remove(metaPath)
	os.Remove(bodyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Invalidate records the invalidation of u's URL, which later commits
// check, and removes every variant of it.
func (s *Store) Invalidate(ctx context.Context, u cache.Key) (int, error) {
	tomb := filepath.Join(s.dir, invalDir, lockBase(u.String()))
	rerr := os.WriteFile(tomb, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644)
	if rerr != nil { // without it, another process's earlier download may still commit
		s.fail("invalidate", tomb, rerr)
	}
	hosts, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, errors.Join(rerr, err)
	}
	dir, base := path.Split(u.Path)
	n := 0
	for _, h := range hosts {
		if name := h.Name(); name != u.Host && !strings.HasPrefix(name, u.Host+"@") {
			continue
		}
		folder := filepath.Join(s.dir, h.Name(), filepath.FromSlash(dir))
		des, err := os.ReadDir(folder)
		if err != nil {
			continue
		}
		for _, de := range des {
			name := de.Name()
			if name != base+metaSuffix && !(strings.HasPrefix(name, base+"@@v-") && strings.HasSuffix(name, metaSuffix)) {
				continue
			}
			k := cache.Key{Host: h.Name(), Path: dir + strings.TrimSuffix(name, metaSuffix)}
			if _, vary, ok := strings.Cut(k.Path, "@@v-"); ok {
				k.Path, k.Vary = strings.TrimSuffix(k.Path, "@@v-"+vary), vary
			}
			k.Host, k.Variant = u.Host, strings.TrimPrefix(h.Name(), u.Host)
			if s.Remove(ctx, k) == nil {
				n++
			}
		}
	}
	return n, rerr
}

// invalidatedSince reports whether k's URL was invalidated since since
// (zero: never asked).
func (s *Store) invalidatedSince(k cache.Key, since time.Time) bool {
	if since.IsZero() {
		return false
	}
	b, err := os.ReadFile(filepath.Join(s.dir, invalDir, lockBase(k.URL().String())))
	if err != nil {
		return false
	}
	at, err := strconv.ParseInt(string(b), 10, 64)
	return err != nil || at >= since.UnixNano()
}
