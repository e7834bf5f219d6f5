//go:build !linux

package filecache

func startWriteback(tempFile, int64, int64) {}

func preallocate(tempFile, int64) error { return nil }
