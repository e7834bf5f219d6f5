package rfccache

import (
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"sync"
)

const (
	// chunkSize is the piece in which a body of unknown length is kept, so
	// that growing it never copies what was read.
	chunkSize = 256 << 10
	// drainOnClose is how much of the rest of a body Close reads to store
	// the entry when the caller stopped early (a JSON decoder often stops
	// just before the end).
	drainOnClose = 1 << 20
)

// storingBody passes the origin's body to the caller and keeps a copy,
// bounded by MaxBodyBytes, which becomes the entry when the body arrives
// complete. Past the bound the copy is dropped and the body streams on.
type storingBody struct {
	t  *Transport
	rq *request
	e  *entry
	fl *flight
	rc io.ReadCloser

	mu     sync.Mutex
	head   []byte
	want   int64    // Content-Length, or -1
	buf    []byte   // known length: head and body so far, allocated once
	chunks [][]byte // unknown length
	n      int64
	crc    uint32
	done   bool // stored or dropped
}

func (t *Transport) newStoringBody(rq *request, e *entry, resp *http.Response, fl *flight) io.ReadCloser {
	head := encodeHead(e)
	b := &storingBody{t: t, rq: rq, e: e, fl: fl, rc: resp.Body, head: head, want: resp.ContentLength,
		crc: crc32.Update(0, castagnoli, head)}
	if b.want >= 0 {
		b.buf = make([]byte, len(head), len(head)+int(b.want)+trailerSize)
		copy(b.buf, head)
	}
	return b
}

func (b *storingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readLocked(p)
}

func (b *storingBody) readLocked(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.done {
		return n, err
	}
	if n > 0 {
		b.keep(p[:n])
	}
	switch {
	case b.done:
	case err == io.EOF:
		b.finish()
	case err != nil:
		b.drop(resRetry)
	}
	return n, err
}

func (b *storingBody) keep(p []byte) {
	b.n += int64(len(p))
	if b.n > b.t.maxBody || (b.want >= 0 && b.n > b.want) {
		if b.n > b.t.maxBody {
			b.t.stats.tooLarge.Add(1)
		}
		b.drop(resDirect)
		return
	}
	b.crc = crc32.Update(b.crc, castagnoli, p)
	if b.buf != nil {
		b.buf = append(b.buf, p...)
		return
	}
	for len(p) > 0 {
		if len(b.chunks) == 0 || len(b.chunks[len(b.chunks)-1]) == chunkSize {
			b.chunks = append(b.chunks, make([]byte, 0, chunkSize))
		}
		last := &b.chunks[len(b.chunks)-1]
		k := min(len(p), chunkSize-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
}

// finish stores the complete body as the entry and hands it to the waiters.
func (b *storingBody) finish() {
	if b.want >= 0 && b.n != b.want {
		b.drop(resRetry)
		return
	}
	raw := b.buf
	if raw == nil {
		raw = make([]byte, 0, len(b.head)+int(b.n)+trailerSize)
		raw = append(raw, b.head...)
		for _, c := range b.chunks {
			raw = append(raw, c...)
		}
	}
	raw = appendTrailer(raw, b.n, b.crc)
	b.buf, b.chunks = nil, nil
	b.done = true
	e := b.e
	e.raw = raw
	e.body = raw[len(b.head) : len(b.head)+int(b.n)]
	b.t.cache.Set(b.rq.key, raw)
	b.t.stats.stored.Add(1)
	b.t.stats.storedBytes.Add(b.n)
	b.fl.decide(result{kind: resEntry, e: e, status: Hit})
}

// drop gives up storing; the waiters retry or fetch on their own.
func (b *storingBody) drop(kind int) {
	b.buf, b.chunks = nil, nil
	b.done = true
	b.fl.decide(result{kind: kind})
	b.t.log.Debug("rfccache: response not stored", slog.String("url", b.rq.req.URL.Redacted()), slog.Int64("read", b.n))
}

// Close reads what is left of a small body, so the entry can be stored, and
// closes the origin's body.
func (b *storingBody) Close() error {
	if !b.mu.TryLock() {
		// A Read is running on another goroutine: closing unblocks it, and
		// its error drops the copy.
		b.fl.decide(result{kind: resRetry})
		return b.rc.Close()
	}
	defer b.mu.Unlock()
	if !b.done && (b.want < 0 || b.want-b.n <= drainOnClose) {
		var tmp [32 << 10]byte
		for drained := 0; !b.done && drained <= drainOnClose; {
			n, err := b.readLocked(tmp[:])
			drained += n
			if err != nil {
				break
			}
		}
	}
	if !b.done {
		b.drop(resRetry)
	}
	return b.rc.Close()
}
