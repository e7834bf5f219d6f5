package filestore

import (
	"errors"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a range of f to disk
// without waiting, so that the sync at commit has little left to do.
func startWriteback(f File, off, n int64) {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		unix.SyncFileRange(int(fd.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
}

// preallocate reserves n bytes of disk for f without changing its size:
// writing into reserved space costs the kernel less than growing the file
// page by page, and a disk without room says so before the download
// starts. Only a full disk is an error; a file system that cannot reserve
// space is written to as usual.
func preallocate(f File, n int64) error {
	fd, ok := f.(interface{ Fd() uintptr })
	if !ok || n <= 0 {
		return nil
	}
	err := unix.Fallocate(int(fd.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, n)
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return err
	}
	return nil
}
