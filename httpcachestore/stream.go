package httpcachestore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"time"
)

// smallFile is the size up to which Open reads a file whole and serves it
// from memory: one read instead of a checking pass and a reading pass.
const smallFile = 64 << 10

// writeBufSize is the buffer of an [EntryWriter], so that a caller writing in
// small pieces does not make a system call for each.
const writeBufSize = 64 << 10

// EntryWriter is a value being written by [Store.Create]: Write appends to
// it, Commit makes it the value of its key, Abort discards it. It is the
// same type as rfccache.EntryWriter.
type EntryWriter = interface {
	io.Writer
	// Commit makes what was written the value of the key, atomically, and
	// returns an error when that failed. Writing after Commit fails.
	Commit() error
	// Abort discards what was written. It does nothing after Commit.
	Abort()
}

var errDone = errors.New("httpcachestore: write after Commit or Abort")

// Open returns a reader of the value stored for key and its length, or false
// when there is none that can be trusted. The whole file is checked before
// Open returns, in one pass holding 64 KiB, so a damaged value is a miss
// (counted, and removed, as by [Store.Get]) rather than a read that fails
// half-way; the reader then reads the checked file from the start, which the
// page cache makes cheap. Values of up to 64 KiB are read once and served
// from memory. Files are only ever replaced by renaming, never changed in
// place, so the open file keeps the checked bytes even if the key is
// replaced, deleted or evicted meanwhile; the reader fails with
// io.ErrUnexpectedEOF, rather than end early, if something outside the store
// shortens the file. The caller must close the reader.
func (s *Store) Open(key string) (io.ReadCloser, int64, bool) {
	shard, p := s.path(key)
	f, err := os.Open(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.fail("read", p, err)
		}
		s.stats.misses.Add(1)
		return nil, 0, false
	}
	r, n, err := s.openFile(f, key)
	if err != nil {
		f.Close()
		if damage(err) {
			s.damaged(shard, p, key, err)
		} else {
			s.fail("read", p, err)
		}
		s.stats.misses.Add(1)
		return nil, 0, false
	}
	if s.maxBytes > 0 {
		now := time.Now()
		os.Chtimes(p, now, now)
	}
	s.stats.hits.Add(1)
	return r, n, true
}

// openFile checks f, which must hold key, and returns a reader of its value.
func (s *Store) openFile(f *os.File, key string) (io.ReadCloser, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	if size <= smallFile {
		b := make([]byte, size)
		if _, err := io.ReadFull(f, b); err != nil {
			return nil, 0, readErr(err)
		}
		k, v, err := decode(b)
		if err == nil && k != key {
			err = errKey
		}
		if err != nil {
			return nil, 0, err
		}
		f.Close()
		return io.NopCloser(bytes.NewReader(v)), int64(len(v)), nil
	}
	off, n, err := verify(f, size, key)
	if err != nil {
		return nil, 0, err
	}
	return &valueReader{f: f, r: io.NewSectionReader(f, off, n), left: n}, n, nil
}

// valueReader reads a checked value from its file.
type valueReader struct {
	f    *os.File
	r    *io.SectionReader
	left int64
}

func (v *valueReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.left -= int64(n)
	if err == io.EOF && v.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (v *valueReader) Close() error { return v.f.Close() }

// Create returns a writer of a new value for key, in a temporary file beside
// the key's file: nothing is visible until Commit renames it into place, under
// the shard's lock, as [Store.Set] does; a process killed meanwhile leaves a
// temporary file that later scans remove. Commit counts the value in the
// folder's size and evicts when it is over the cap; a temporary file is not
// counted while it is written. The writer is not safe for concurrent use.
func (s *Store) Create(key string) (EntryWriter, error) {
	shard, p := s.path(key)
	if err := os.MkdirAll(shard, 0o755); err != nil {
		s.fail("write", p, err)
		return nil, fmt.Errorf("httpcachestore: create: %w", err)
	}
	f, err := os.CreateTemp(shard, tmpPrefix+"*")
	if err != nil {
		s.fail("write", p, err)
		return nil, fmt.Errorf("httpcachestore: create: %w", err)
	}
	w := &entryWriter{s: s, shard: shard, path: p, klen: len(key), f: f, bw: bufio.NewWriterSize(f, writeBufSize)}
	// The header is written by Commit, once the length and checksum are
	// known; until then the zeros fail every check.
	var h [headerSize]byte
	w.bw.Write(h[:])
	w.bw.WriteString(key)
	w.sum = crc32.Update(0, castagnoli, []byte(key))
	return w, nil
}

type entryWriter struct {
	s           *Store
	shard, path string
	klen        int
	f           *os.File
	bw          *bufio.Writer
	sum         uint32
	n           int64
	err         error
	done        bool
}

func (w *entryWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errDone
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.bw.Write(p)
	w.sum = crc32.Update(w.sum, castagnoli, p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = err
		w.s.fail("write", w.path, err)
	}
	return n, err
}

func (w *entryWriter) Commit() error {
	if w.done {
		return errDone
	}
	w.done = true
	err := w.err
	if err == nil {
		err = w.bw.Flush()
	}
	if err == nil {
		h := headerFor(w.klen, w.n, w.sum)
		_, err = w.f.WriteAt(h[:], 0)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	var old int64
	if err == nil {
		err = w.s.withShardLock(w.shard, func() error {
			if fi, err := os.Stat(w.path); err == nil {
				old = fi.Size()
			}
			return os.Rename(w.f.Name(), w.path)
		})
	}
	if err != nil {
		os.Remove(w.f.Name())
		if w.err == nil {
			w.s.fail("write", w.path, err)
		}
		return fmt.Errorf("httpcachestore: commit: %w", err)
	}
	s := w.s
	s.stats.sets.Add(1)
	if size := int64(headerSize+w.klen) + w.n; s.maxBytes > 0 && s.size.Add(size-old) > s.maxBytes {
		s.evict()
	}
	return nil
}

func (w *entryWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}
