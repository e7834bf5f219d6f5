package httpcachestore

import (
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// lockName is the lock file of a shard, and of the whole folder for eviction.
const lockName = ".lock"

// withShardLock runs f holding the shard's file lock, which excludes other
// goroutines and processes renaming or removing files in the shard.
func (s *Store) withShardLock(shard string, f func() error) error {
	l := flock.New(filepath.Join(shard, lockName))
	if err := l.Lock(); err != nil {
		if os.IsNotExist(err) {
			if err := os.MkdirAll(shard, 0o755); err == nil {
				err = l.Lock()
			}
		}
		if !l.Locked() {
			return err
		}
	}
	defer l.Unlock()
	return f()
}
