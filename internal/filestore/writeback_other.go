//go:build !linux

package filestore

func startWriteback(File, int64, int64) {}

func preallocate(File, int64) error { return nil }
