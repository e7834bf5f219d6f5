package filestore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// entryLock is an entry's lock, shared by every process using the folder.
// Lock files are removed on release, so a locker checks that the file it
// holds is still the one at the path.
type entryLock struct {
	f    *flock.Flock
	path string
}

// tryLock takes the lock at path if it is free.
func tryLock(path string) (*entryLock, bool, error) {
	for range 16 {
		f := flock.New(path)
		ok, err := f.TryLock()
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, false, err
			}
			continue
		}
		if err != nil || !ok {
			return nil, false, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &entryLock{f: f, path: path}, true, nil
		}
		f.Unlock()
	}
	return nil, false, nil
}

// lockLease is how long a holder may go without renewing its lock before
// waiters stop waiting.
const lockLease = 5 * time.Second

// ErrStalled is returned by Store.Lock when the holder in another process
// stopped renewing its lock.
var ErrStalled = errors.New("filestore: the lock's holder stalled")

// lockEntry waits for the lock at path until ctx ends or its lease lapses.
func lockEntry(ctx context.Context, path string, lease time.Duration) (*entryLock, error) {
	delay := 500 * time.Microsecond
	for start := time.Now(); ; {
		l, ok, err := tryLock(path)
		if err != nil {
			return nil, err
		}
		if ok {
			return l, nil
		}
		if fi, err := os.Stat(path); err == nil && time.Since(start) > lease && time.Since(fi.ModTime()) > lease {
			return nil, ErrStalled
		}
		select { // an unstopped timer is collected since Go 1.23
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 25*time.Millisecond)
	}
}

// release removes the lock file and unlocks it.
func (l *entryLock) release() {
	if l == nil {
		return
	}
	os.Remove(l.path)
	l.f.Unlock()
}

// Lock takes k's lock, waiting until it is free or ctx ends. The holder
// renews it (the file's mtime) while alive (nil: always) reports progress;
// a waiter gives up with [ErrStalled] 5 s after the last renewal.
//
// A Vary variant is written under its URL's lock (see lockBase). When this
// Store holds that lock already, for another variant's download, a variant
// shares it instead of waiting for that download to end; the lock is
// released when its last holder lets go.
func (s *Store) Lock(ctx context.Context, k cache.Key, alive func() bool) (func(), error) {
	path := s.lockPath(k.String())
	h, err := s.hold(ctx, path, k.Vary != "")
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrStalled) {
			s.fail("lock", path, err)
		}
		return nil, err
	}
	renew := func() {
		now := time.Now()
		os.Chtimes(path, now, now)
	}
	renew() // a lock file left by a dead holder keeps its old time until touched
	return cache.Renew(s.lease/3, alive, renew, func() {
		s.log.Warn("filestore: the download of a locked entry stalled; other processes stop waiting for it", "path", path)
	}, func() { s.drop(path, h) }), nil
}

// heldLock is a lock this Store holds, and how many hold it (see Lock).
type heldLock struct {
	l    *entryLock
	refs int
}

// hold takes the lock at path, or a share of it when share is set and
// this Store holds it.
func (s *Store) hold(ctx context.Context, path string, share bool) (*heldLock, error) {
	s.heldMu.Lock()
	if h := s.held[path]; h != nil && share {
		h.refs++
		s.heldMu.Unlock()
		return h, nil
	}
	s.heldMu.Unlock()
	l, err := lockEntry(ctx, path, s.lease)
	if err != nil {
		return nil, err
	}
	h := &heldLock{l: l, refs: 1}
	s.heldMu.Lock()
	if s.held == nil {
		s.held = make(map[string]*heldLock)
	}
	s.held[path] = h
	s.heldMu.Unlock()
	return h, nil
}

// drop lets go of h, held at path; the last holder releases it.
func (s *Store) drop(path string, h *heldLock) {
	s.heldMu.Lock()
	h.refs--
	last := h.refs == 0
	if last {
		delete(s.held, path)
	}
	s.heldMu.Unlock()
	if last {
		h.l.release()
	}
}
