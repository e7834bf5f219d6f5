package cache

import (
	"context"
	"errors"
	"io"
	"os"
)

// NewSpool returns a Writer on a temporary file of the system's, for a
// store that takes a body only whole: Commit hands commit the complete
// body. fail (nil: none) hears of a failed write.
func NewSpool(commit func(ctx context.Context, m *Meta, body *io.SectionReader) error, fail func(error)) (Writer, error) {
	f, err := os.CreateTemp("", "throttlecache-spool-*")
	if err != nil {
		return nil, err
	}
	return &spool{f: f, commit: commit, fail: fail}, nil
}

type spool struct {
	f       *os.File
	n       int64
	err     error
	commit  func(ctx context.Context, m *Meta, body *io.SectionReader) error
	fail    func(error)
	aborted bool
}

func (w *spool) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if w.err = err; err != nil && w.fail != nil {
		w.fail(err)
	}
	return n, err
}

func (w *spool) ReadAt(p []byte, off int64) (int, error) { return w.f.ReadAt(p, off) }

func (w *spool) Commit(ctx context.Context, m *Meta) error {
	if w.err != nil {
		return w.err
	}
	if w.aborted {
		return errors.New("cache: commit after abort")
	}
	return w.commit(ctx, m, io.NewSectionReader(w.f, 0, w.n))
}

// Abort removes the file; it stays readable until Close.
func (w *spool) Abort() {
	if !w.aborted {
		w.aborted = true
		os.Remove(w.f.Name())
	}
}

func (w *spool) Close() error {
	err := w.f.Close()
	os.Remove(w.f.Name())
	return err
}
