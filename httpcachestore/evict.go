package httpcachestore

import (
	"cmp"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

type entry struct {
	path  string
	size  int64
	mtime time.Time
}

// evict removes the least recently used entries until the folder is under
// 90% of the cap. One goroutine per process and one process per folder
// evicts at a time; the others skip, as the running eviction serves them.
func (s *Store) evict() {
	if !s.evictMu.TryLock() {
		return
	}
	defer s.evictMu.Unlock()
	l := flock.New(filepath.Join(s.dir, lockName))
	if ok, err := l.TryLock(); err != nil || !ok {
		return
	}
	defer l.Unlock()
	entries, total, err := s.scan()
	if err != nil {
		s.fail("scan", s.dir, err)
		return
	}
	s.size.Store(total)
	s.evictFrom(entries, total)
}

func (s *Store) evictFrom(entries []entry, total int64) {
	if total <= s.maxBytes {
		return
	}
	target := s.maxBytes / 10 * 9
	slices.SortFunc(entries, func(a, b entry) int { return a.mtime.Compare(b.mtime) })
	for _, e := range entries {
		if total <= target {
			break
		}
		if err := os.Remove(e.path); err != nil && !os.IsNotExist(err) {
			s.fail("evict", e.path, err)
			continue
		}
		total -= e.size
		s.stats.evictions.Add(1)
	}
	s.size.Store(total)
	s.log.Debug("httpcachestore: evicted", slog.String("dir", s.dir), slog.Int64("bytes", total))
}

// scan lists the entries of the folder and their total size, removing the
// temporary files of dead writers on the way.
func (s *Store) scan() ([]entry, int64, error) {
	var entries []entry
	var total int64
	now := time.Now()
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p != s.dir && filepath.Dir(p) != s.dir {
				return fs.SkipDir
			}
			return nil
		}
		name := d.Name()
		if filepath.Dir(filepath.Dir(p)) != s.dir || name == lockName {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if strings.HasPrefix(name, tmpPrefix) {
			if now.Sub(fi.ModTime()) > tmpMaxAge {
				os.Remove(p)
			}
			return nil
		}
		if len(name) != 64 {
			return nil
		}
		entries = append(entries, entry{path: p, size: fi.Size(), mtime: fi.ModTime()})
		total += fi.Size()
		return nil
	})
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.path, b.path) })
	return entries, total, err
}
