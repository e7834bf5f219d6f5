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

// entryLock is an exclusive lock on one entry, shared by every process
// using the folder. Lock files are removed on release, so a locker checks,
// once it holds the lock, that its file is still the one at the path; if the
// previous holder removed it in between, it tries again.
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
// waiters in other processes stop waiting for it.
const lockLease = 5 * time.Second

// ErrStalled is returned by Store.Lock when the entry's holder, in another
// process, stopped renewing its lock: its download made no progress.
var ErrStalled = errors.New("filestore: the lock's holder stalled")

// lockEntry waits for the lock at path until ctx is done, or until the
// holder has not renewed it for lease.
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

// Lock takes the lock of k's entry, shared with every process using the
// folder, waiting until it is free or ctx ends. The holder renews it (the
// lock file's modification time) while alive (nil: always) says its
// download makes progress; a waiter gives up with [ErrStalled] once the
// holder has not renewed it for the lease (5 s), and goes to the origin.
func (s *Store) Lock(ctx context.Context, k cache.Key, alive func() bool) (func(), error) {
	l, err := lockEntry(ctx, s.lockPath(k.String()), s.lease)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrStalled) {
			s.fail("lock", s.lockPath(k.String()), err)
		}
		return nil, err
	}
	renew := func() {
		now := time.Now()
		os.Chtimes(l.path, now, now)
	}
	renew() // a lock file left by a dead holder keeps its old time until touched
	return cache.Renew(s.lease/3, alive, renew, func() {
		s.log.Warn("filestore: the download of a locked entry stalled; other processes stop waiting for it", "path", l.path)
	}, l.release), nil
}
