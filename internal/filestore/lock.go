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
	var l *entryLock
	err := poll(ctx, path, lease, func() (ok bool, err error) {
		l, ok, err = tryLock(path)
		return ok, err
	})
	return l, err
}

// poll calls try until it is done, ctx ends, or, after lease, the lock file
// at path has not been renewed for lease ([ErrStalled]).
func poll(ctx context.Context, path string, lease time.Duration, try func() (done bool, err error)) error {
	delay := 500 * time.Microsecond
	for start := time.Now(); ; {
		if done, err := try(); done || err != nil {
			return err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(start) > lease && time.Since(fi.ModTime()) > lease {
			return ErrStalled
		}
		select { // an unstopped timer is collected since Go 1.23
		case <-ctx.Done():
			return ctx.Err()
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
// Store holds that lock already, for a download of another key, a variant
// shares it instead of waiting for that download to end; the lock is
// released when its last holder lets go. A second Lock of one key waits,
// in this Store as in another process.
func (s *Store) Lock(ctx context.Context, k cache.Key, alive func() bool) (func(), error) {
	key := k.String()
	path := s.lockPath(key)
	h, err := s.hold(ctx, path, key, k.Vary != "")
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
	}, func() { s.drop(path, key, h) }), nil
}

// heldLock is a lock this Store holds, and how many hold it for each key.
type heldLock struct {
	l    *entryLock
	refs int
	keys map[string]int
}

// hold takes the lock at path for key or, when share is set and this
// Store holds it for other keys, a share of it.
func (s *Store) hold(ctx context.Context, path, key string, share bool) (*heldLock, error) {
	var shared *heldLock
	if share {
		err := poll(ctx, path, s.lease, func() (bool, error) {
			s.heldMu.Lock()
			defer s.heldMu.Unlock()
			h := s.held[path]
			switch {
			case h == nil: // not held here: take it
				return true, nil
			case h.keys[key] > 0: // held for key itself: wait
				return false, nil
			}
			h.refs++
			h.keys[key]++
			shared = h
			return true, nil
		})
		if err != nil || shared != nil {
			return shared, err
		}
	}
	l, err := lockEntry(ctx, path, s.lease)
	if err != nil {
		return nil, err
	}
	h := &heldLock{l: l, refs: 1, keys: map[string]int{key: 1}}
	s.heldMu.Lock()
	if s.held == nil {
		s.held = make(map[string]*heldLock)
	}
	s.held[path] = h
	s.heldMu.Unlock()
	return h, nil
}

// drop lets go of h, held at path for key; the last holder releases it.
func (s *Store) drop(path, key string, h *heldLock) {
	s.heldMu.Lock()
	h.refs--
	if h.keys[key]--; h.keys[key] == 0 {
		delete(h.keys, key)
	}
	last := h.refs == 0
	if last {
		delete(s.held, path)
	}
	s.heldMu.Unlock()
	if last {
		h.l.release()
	}
}
