package rfccache

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/gregjones/httpcache"
)

// StreamCache is an [httpcache.Cache] that can also read and write values as
// streams. When the cache given to [New] implements it, as httpcachestore's
// Store does, the Transport never holds a body in memory: a hit streams the
// stored value to the caller, and a storable miss is written to the store as
// the caller reads it and committed only when it arrived complete. Other
// caches (s3store, httpcache.MemoryCache) go through Get and Set.
//
// The store's check makes a damaged value a miss. The Transport checks
// the value again as it streams, against the checksum in the entry's
// trailer: a value the store kept intact but that was wrong when it was
// stored ends in an error, never quietly, and is removed.
type StreamCache interface {
	httpcache.Cache

	// Open returns a reader of the value stored for key and its length in
	// bytes, or false when there is none. A damaged value must be a miss:
	// Open checks the whole value before it returns, and the reader fails
	// rather than return a byte the value did not hold.
	Open(key string) (r io.ReadCloser, size int64, ok bool)

	// Create returns a writer of a new value for key. Nothing is visible
	// until Commit, which replaces the value of key atomically; Abort
	// discards what was written.
	Create(key string) (EntryWriter, error)
}

// EntryWriter is a value being written to a [StreamCache]. It is the same
// type as httpcachestore.EntryWriter.
type EntryWriter = interface {
	io.Writer
	// Commit makes what was written the value of the key, atomically, and
	// returns an error when that failed. Writing after Commit fails.
	Commit() error
	// Abort discards what was written. It does nothing after Commit.
	Abort()
}

// headBufSize is the buffer in which a streamed entry's head is parsed.
// Body reads of at least its size bypass it.
const headBufSize = 4 << 10

// open reads the head of the value stored for key in t.stream and returns
// the entry, holding the open value, or nil, nil when there is none.
func (t *Transport) open(key string) (*entry, error) {
	rc, size, ok := t.stream.Open(key)
	if !ok {
		return nil, nil
	}
	cr := &checkingReader{r: rc, end: size - trailerSize}
	br := bufio.NewReaderSize(cr, headBufSize)
	e, err := decodeHead(br)
	if err != nil {
		rc.Close()
		return nil, err
	}
	headLen := cr.n - int64(br.Buffered())
	e.bodyLen = size - headLen - trailerSize
	if e.bodyLen < 0 {
		rc.Close()
		return nil, errDamaged
	}
	e.stream = &entryBody{br: br, rc: rc, cr: cr, left: e.bodyLen, n: e.bodyLen, damaged: func() {
		t.damaged(key, errDamaged)
	}}
	return e, nil
}

// shared returns what requests waiting on a flight may receive of e: e
// itself when it is in memory; for a streamed entry, a copy without its open
// value, which tells them which entry to open.
func (t *Transport) shared(e *entry) *entry {
	if t.stream == nil || e == nil {
		return e
	}
	c := *e
	c.stream = nil
	return &c
}

// reopen opens, for a request that waited on a flight, the streamed entry
// the flight's leader stored or served: nil when the store now holds
// another entry, or none, for rq.
func (t *Transport) reopen(rq *request, want *entry) *entry {
	e := t.lookup(rq)
	if e == nil {
		return nil
	}
	if !e.sameAs(want) {
		e.release()
		return nil
	}
	return e
}

// checkingReader counts what it reads and computes the CRC-32C of the bytes
// before end, where the trailer starts.
type checkingReader struct {
	r   io.Reader
	n   int64
	end int64
	crc uint32
}

func (c *checkingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n < c.end {
		c.crc = crc32.Update(c.crc, castagnoli, p[:min(int64(n), c.end-c.n)])
	}
	c.n += int64(n)
	return n, err
}

// entryBody reads the body of a streamed entry and then checks the trailer
// that follows it: a trailer that does not match is an error, never a
// quiet end.
type entryBody struct {
	br      *bufio.Reader
	rc      io.Closer
	cr      *checkingReader
	left    int64  // body bytes not read yet
	n       int64  // body length
	err     error  // sticky: the end, or the first failure
	damaged func() // called when the trailer does not match
}

func (b *entryBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		b.err = b.trailer()
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF:
		err = io.ErrUnexpectedEOF // the trailer is missing
	case err == nil && b.left == 0:
		err = b.trailer()
	}
	b.err = err
	return n, err
}

// trailer reads and checks the trailer; it returns io.EOF when it matches.
func (b *entryBody) trailer() error {
	var t [trailerSize]byte
	if _, err := io.ReadFull(b.br, t[:]); err != nil {
		return io.ErrUnexpectedEOF
	}
	if string(t[12:]) != trailerMagic || binary.BigEndian.Uint64(t[:]) != uint64(b.n) ||
		binary.BigEndian.Uint32(t[8:]) != b.cr.crc {
		b.damaged()
		return errDamaged
	}
	return io.EOF
}

// Close closes the value. It may run while a Read is running on another
// goroutine (a storingBody closed early), so it touches nothing Read uses:
// the store's reader makes a later Read fail.
func (b *entryBody) Close() error { return b.rc.Close() }
