//go:build !unix

package filestore

import "os"

func inode(os.FileInfo) uint64 { return 0 }

func openRead(name string) (*os.File, error) { return os.Open(name) }
