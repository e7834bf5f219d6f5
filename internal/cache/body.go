package cache

import (
	"bytes"
	"hash/crc32"
	"io"
)

// CheckedBody returns a body that reads size bytes from rc and checks them
// against sum as they stream: it ends in io.EOF only when they match, else
// ErrDamaged (io.ErrUnexpectedEOF when rc ends early). done (nil: none)
// hears the verdict once.
func CheckedBody(rc io.ReadCloser, size int64, sum uint32, done func(ok bool)) io.ReadCloser {
	return &checkedBody{rc: rc, left: size, want: sum, done: done}
}

type checkedBody struct {
	rc   io.ReadCloser
	left int64
	crc  uint32
	want uint32
	done func(ok bool)
	err  error
}

func (b *checkedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n := 0
	var err error
	if len(p) > 0 {
		n, err = b.rc.Read(p)
	}
	b.crc = crc32.Update(b.crc, Castagnoli, p[:n])
	b.left -= int64(n)
	switch {
	case b.left == 0 && b.crc == b.want:
		err = io.EOF
	case b.left == 0:
		err = ErrDamaged
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	if b.done != nil && (err == io.EOF || err == ErrDamaged || err == io.ErrUnexpectedEOF) {
		b.done(err == io.EOF)
		b.done = nil
	}
	b.err = err
	return n, err
}

func (b *checkedBody) Close() error { return b.rc.Close() }

// MemBody returns a body reading b, which it never modifies.
func MemBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
