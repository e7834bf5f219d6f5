package filestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// PruneResult tells what a prune removed and what is left.
type PruneResult struct {
	Removed        int   // entries removed
	FreedBytes     int64 // bytes of bodies, sidecars and leftovers removed
	Entries        int   // entries left
	Bytes          int64 // bytes left (bodies and sidecars)
	Busy           int   // entries over the cap that were being written and were kept
	Leftovers      int   // orphaned bodies and temporary files removed
	ReadFailures   int   // files that could not be examined
	RemoveFailures int   // entries whose sidecar could not be removed, kept
}

// Summary describes a cache folder.
type Summary struct {
	Dir     string
	Entries int
	Bytes   int64     // bodies and sidecars of valid entries
	Oldest  EntryInfo // the entry fetched longest ago; zero when there are none
	Newest  EntryInfo // the entry fetched most recently
	Damaged int       // sidecars that cannot be read
	Pending int       // temporary files of downloads in progress (or left by crashes)
}

// EntryInfo describes one entry.
type EntryInfo struct {
	URL     string
	Path    string // the body file
	Size    int64
	Fetched time.Time // when the origin last sent or confirmed it
	Used    time.Time // last use, as eviction sees it
}

// entryStat is one entry found by a scan.
type entryStat struct {
	key, meta, body string
	size            int64 // body and sidecar
	used            time.Time
}

// scan lists the entries under dir, oldest use first, and the bodies
// without a sidecar.
func scan(ctx context.Context, dir string) (entries []entryStat, orphans []entryStat, failures int, err error) {
	bodies := map[string]int64{}
	metas := map[string]entryStat{}
	err = filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			failures++
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := de.Name()
		if de.IsDir() {
			if path != dir && filepath.Dir(path) == dir && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(name, "@") || !de.Type().IsRegular() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			failures++
			return nil
		}
		if strings.HasSuffix(name, metaSuffix) && strings.Count(name, "@") >= 3 {
			body := strings.TrimSuffix(path, metaSuffix)
			metas[body] = entryStat{meta: path, body: body, size: fi.Size(), used: fi.ModTime()}
		} else {
			bodies[path] = fi.Size()
		}
		return nil
	})
	if err != nil {
		return nil, nil, failures, err
	}
	for body, e := range metas {
		sz, ok := bodies[body]
		if ok {
			e.size += sz
			delete(bodies, body)
		}
		e.key = keyOf(dir, body)
		entries = append(entries, e)
	}
	for body, sz := range bodies {
		orphans = append(orphans, entryStat{key: keyOf(dir, body), body: body, size: sz})
	}
	slices.SortFunc(entries, func(a, b entryStat) int {
		return cmp.Or(a.used.Compare(b.used), strings.Compare(a.key, b.key))
	})
	return entries, orphans, failures, nil
}

func keyOf(dir, body string) string {
	rel, err := filepath.Rel(dir, body)
	if err != nil {
		return ""
	}
	return filepath.ToSlash(rel)
}

// pruneDir removes least recently used entries until dir holds at most
// maxBytes, sparing those being written, and leftovers of crashed writers.
func pruneDir(ctx context.Context, dir string, maxBytes int64, log *slog.Logger) (PruneResult, error) {
	var r PruneResult
	if maxBytes < 0 {
		return r, fmt.Errorf("filestore: prune: maxBytes %d is negative", maxBytes)
	}
	r.Leftovers += cleanTemps(dir, log)
	entries, orphans, failures, err := scan(ctx, dir)
	r.ReadFailures = failures
	if err != nil {
		return r, fmt.Errorf("filestore: prune %q: %w", dir, err)
	}
	var dirs []string
	for _, o := range orphans {
		lk, ok, _ := tryLock(lockPath(dir, o.key))
		if !ok {
			continue
		}
		if _, err := os.Lstat(o.body + metaSuffix); err == nil { // committed since the scan
			lk.release()
			continue
		}
		if os.Remove(o.body) == nil {
			r.Leftovers++
			r.FreedBytes += o.size
			dirs = append(dirs, filepath.Dir(o.body))
		}
		lk.release()
	}
	var total int64
	for _, e := range entries {
		total += e.size
	}
	for _, e := range entries {
		if total <= maxBytes {
			break
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
		lk, ok, _ := tryLock(lockPath(dir, e.key))
		if !ok {
			r.Busy++
			continue
		}
		if fi, err := os.Stat(e.meta); err != nil || !fi.ModTime().Equal(e.used) { // used or replaced since the scan
			lk.release()
			continue
		}
		if err := os.Remove(e.meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
			lk.release()
			r.RemoveFailures++
			log.Warn("filestore: prune could not remove an entry", "path", e.meta, "err", err)
			continue // still an entry
		}
		os.Remove(e.body) // else a leftover, which a later prune removes
		lk.release()
		total -= e.size
		r.Removed++
		r.FreedBytes += e.size
		dirs = append(dirs, filepath.Dir(e.body))
		log.Debug("filestore: pruned", "key", e.key, "bytes", e.size)
	}
	removeEmptyDirs(dir, dirs)
	r.Entries = len(entries) - r.Removed
	r.Bytes = total
	return r, nil
}

// removeEmptyDirs removes dirs and their parents up to root while empty.
func removeEmptyDirs(root string, dirs []string) {
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	for _, d := range slices.Backward(dirs) {
		for d != root && strings.HasPrefix(d, root+string(filepath.Separator)) {
			if os.Remove(d) != nil {
				break
			}
			d = filepath.Dir(d)
		}
	}
}

// cleanTemps removes temporary files whose writer is gone (their lock is
// free, or a day old without one) and invalidation records a day old.
func cleanTemps(dir string, log *slog.Logger) int {
	n := 0
	for _, sub := range []string{tmpDir, invalDir} {
		des, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			continue
		}
		for _, de := range des {
			name := de.Name()
			path := filepath.Join(dir, sub, name)
			if base, _, found := strings.Cut(name, "-"); sub == tmpDir && found && len(base) == 32 {
				lk, ok, _ := tryLock(filepath.Join(dir, locksDir, base+".lock")) // base is a lockBase
				if !ok {
					continue
				}
				if os.Remove(path) == nil {
					n++
				}
				lk.release()
				continue
			}
			if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour && os.Remove(path) == nil {
				n++
			}
		}
	}
	if n > 0 {
		log.Debug("filestore: removed leftover temporary files", "count", n)
	}
	return n
}

// Prune removes least recently used entries until the folder holds at most
// maxBytes (0 empties it), sparing those being written, and leftovers of
// crashed downloads.
func (s *Store) Prune(ctx context.Context, maxBytes int64) (PruneResult, error) {
	r, err := pruneDir(ctx, s.dir, maxBytes, s.log)
	s.stats.evictions.Add(int64(r.Removed))
	if err == nil && s.maxBytes > 0 {
		s.usage.Store(r.Bytes)
	}
	return r, err
}

// PruneDir is [Store.Prune] for a folder without a Store, safe while other
// processes use it.
func PruneDir(ctx context.Context, dir string, maxBytes int64) (PruneResult, error) {
	if dir == "" {
		return PruneResult{}, errors.New("filestore: prune: no folder")
	}
	if _, err := os.Stat(dir); err != nil {
		return PruneResult{}, fmt.Errorf("filestore: prune: %w", err)
	}
	return pruneDir(ctx, dir, maxBytes, slog.New(slog.DiscardHandler))
}

// evict brings the folder to 90% of MaxBytes once over (measuring it first
// with measure). A call during an eviction makes it run one more pass.
func (s *Store) evict(measure bool) {
	s.evictPending.Store(true)
	for {
		if !s.evicting.CompareAndSwap(false, true) {
			return
		}
		for s.evictPending.Swap(false) {
			s.evictPass(measure)
			measure = false
		}
		s.evicting.Store(false)
		if !s.evictPending.Load() {
			return
		}
	}
}

func (s *Store) evictPass(measure bool) {
	ctx := context.Background()
	s.unmeasured.Store(0)
	if measure {
		entries, _, _, err := scan(ctx, s.dir)
		if err != nil {
			return
		}
		var total int64
		for _, e := range entries {
			total += e.size
		}
		s.usage.Store(total)
		if total <= s.maxBytes {
			return
		}
	}
	r, err := pruneDir(ctx, s.dir, s.maxBytes/10*9, s.log)
	if err != nil {
		s.log.Warn("filestore: eviction failed", "err", err)
		return
	}
	s.stats.evictions.Add(int64(r.Removed))
	s.usage.Store(r.Bytes)
}

// Inspect summarises the cache folder dir without changing it.
func Inspect(dir string) (Summary, error) {
	s := Summary{Dir: dir}
	if des, err := os.ReadDir(filepath.Join(dir, tmpDir)); err == nil {
		s.Pending = len(des)
	}
	entries, _, _, err := scan(context.Background(), dir)
	if err != nil {
		return s, fmt.Errorf("filestore: inspect %q: %w", dir, err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(e.meta)
		if err != nil {
			s.Damaged++
			continue
		}
		m, err := cache.ParseMeta(data)
		if err != nil || m.Key != e.key {
			s.Damaged++
			continue
		}
		if m.Marker() {
			continue
		}
		info := EntryInfo{URL: m.URL, Path: e.body, Size: m.Size, Fetched: m.Fetched, Used: e.used}
		if s.Entries == 0 || info.Fetched.Before(s.Oldest.Fetched) {
			s.Oldest = info
		}
		if s.Entries == 0 || info.Fetched.After(s.Newest.Fetched) {
			s.Newest = info
		}
		s.Entries++
		s.Bytes += e.size
	}
	return s, nil
}
