package filecache

import "golang.org/x/sys/unix"

// startWriteback asks the kernel to start writing a range of f to disk
// without waiting, so that the sync at commit has little left to do.
func startWriteback(f tempFile, off, n int64) {
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		unix.SyncFileRange(int(fd.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
}
