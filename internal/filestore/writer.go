package filestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

const (
	syncEvery    = 8 << 20 // start write-back this often, so that the final sync is short
	preallocMin  = 1 << 20 // bodies at least this long get their disk space reserved first
	reserveMax   = 1 << 30 // the most reserved for one download
	metaOverhead = 1 << 10 // a sidecar's size, roughly, for the usage estimate
)

// Create starts a body for k in a temporary file. When m.Size (the
// expected length) is 1 MiB or more, that much disk is reserved first, so
// that a disk without room is found out before the download, not in the
// middle.
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

// writer is a body being written to a temporary file. Write, Commit and
// Abort come from one goroutine, ReadAt from any; Close comes last.
type writer struct {
	s         *Store
	k         cache.Key
	f         File
	since     time.Time
	n, synced int64
	err       error
	committed bool
	aborted   bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = err
		w.s.fail("write", w.f.Name(), err)
		return n, err
	}
	if w.n-w.synced >= syncEvery {
		startWriteback(w.f, w.synced, w.n-w.synced)
		w.synced = w.n
	}
	return n, nil
}

func (w *writer) ReadAt(p []byte, off int64) (int, error) { return w.f.ReadAt(p, off) }

// Abort removes the temporary file at once; readers keep reading it
// through the open file until Close.
func (w *writer) Abort() {
	if !w.committed && !w.aborted {
		w.aborted = true
		os.Remove(w.f.Name())
	}
}

// Close closes the temporary file, and removes it unless committed.
func (w *writer) Close() error {
	err := w.f.Close()
	w.Abort()
	return err
}

// Commit syncs the body, renames it into place and writes its sidecar
// last. An invalidation of the URL since the download started, seen before
// or after the rename, makes it fail and leave nothing.
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
	if s.maxBytes > 0 && s.usage.Add(m.Size-old+metaOverhead) > s.maxBytes {
		s.background(func() { s.evict(false) })
	}
	return nil
}

// replaceBody renames the finished file over the entry's body and returns
// the size of the body it replaced. Renaming over a large body makes the
// kernel free it there and then (about 15 ms for 64 MiB, a fifth of the
// whole download on loopback), so a large old body is first linked to a
// temporary name and removed in the background; a crash in between leaves
// a leftover that cleanup removes.
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

// writeMeta replaces k's sidecar atomically (not synced: see the package
// doc).
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

// renameInto renames from to to, creating to's folder. A concurrent prune
// may remove an empty folder between the two steps, hence the retry.
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

// Update replaces k's sidecar with m: a 304's fields for the same body, or
// a Vary marker, which has none, so the entry's body goes.
func (s *Store) Update(_ context.Context, k cache.Key, m *cache.Meta) error {
	bodyPath, metaPath := s.paths(k)
	if m.Marker() {
		os.Remove(bodyPath)
	}
	c := *m
	c.Key = k.String()
	s.metas.forget(c.Key)
	return s.writeMeta(k, metaPath, &c)
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

// Invalidate records the invalidation of u's URL and removes every entry
// of it: in every variant folder of its host (other credentials, other
// encodings), every Vary variant. A writer that commits after checks the
// record: a download that started before it is not kept.
func (s *Store) Invalidate(ctx context.Context, u cache.Key) (int, error) {
	tomb := filepath.Join(s.dir, invalDir, lockBase(u.String()))
	if err := os.WriteFile(tomb, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644); err != nil {
		s.fail("invalidate", tomb, err)
	}
	hosts, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, err
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
	return n, nil
}

// invalidatedSince reports whether k's URL was invalidated at or after
// since.
func (s *Store) invalidatedSince(k cache.Key, since time.Time) bool {
	b, err := os.ReadFile(filepath.Join(s.dir, invalDir, lockBase(k.URL().String())))
	if err != nil {
		return false
	}
	at, err := strconv.ParseInt(string(b), 10, 64)
	return err != nil || at >= since.UnixNano()
}
