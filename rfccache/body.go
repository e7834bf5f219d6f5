package rfccache

import (
	"hash/crc32"
	"io"
	"log/slog"
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

// storingBody passes a body (the origin's, or a streamed entry's being
// refreshed) to the caller and stores it, bounded by MaxBodyBytes, when it
// arrives complete. With a StreamCache it writes the entry to the store as
// the caller reads; otherwise it keeps a copy in memory for Set. Past the
// bound the copy is dropped and the body streams on.
type storingBody struct {
	t  *Transport
	rq *request
	e  *entry
	fl *flight
	rc io.ReadCloser

	mu     sync.Mutex
	head   []byte
	want   int64       // the body's length, or -1
	w      EntryWriter // with a StreamCache: the entry being written
	buf    []byte      // in memory, known length: head and body so far, allocated once
	chunks [][]byte    // in memory, unknown length
	n      int64
	crc    uint32
	done   bool // stored or dropped
}

// newStoringBody returns body, of length want (-1: unknown), as a body that
// stores e with it when it is complete.
func (t *Transport) newStoringBody(rq *request, e *entry, body io.ReadCloser, want int64, fl *flight) io.ReadCloser {
	head := encodeHead(e)
	b := &storingBody{t: t, rq: rq, e: e, fl: fl, rc: body, head: head, want: want,
		crc: crc32.Update(0, castagnoli, head)}
	switch {
	case t.stream != nil:
		w, err := t.stream.Create(rq.key)
		if err == nil {
			if _, err = w.Write(head); err != nil {
				w.Abort()
			}
		}
		if err != nil {
			// The store is failing: pass the body on, and let the waiters
			// fetch on their own.
			fl.decide(result{kind: resDirect})
			t.log.Debug("rfccache: response not stored", slog.String("url", rq.req.URL.Redacted()), slog.Any("error", err))
			return body
		}
		b.w = w
	case want >= 0:
		b.buf = make([]byte, len(head), len(head)+int(want)+trailerSize)
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
	if b.w != nil {
		if _, err := b.w.Write(p); err != nil {
			b.drop(resDirect)
		}
		return
	}
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
	e := b.e
	e.bodyLen = b.n
	if b.w != nil {
		_, err := b.w.Write(appendTrailer(nil, b.n, b.crc))
		if err == nil {
			err = b.w.Commit()
		}
		if err != nil {
			// The store is failing: the waiters fetch on their own.
			b.drop(resDirect)
			return
		}
		b.w = nil
		b.done = true
		b.t.stats.stored.Add(1)
		b.t.stats.storedBytes.Add(b.n)
		b.fl.decide(result{kind: resEntry, e: b.t.shared(e), status: Hit})
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
	e.raw = raw
	e.body = raw[len(b.head) : len(b.head)+int(b.n)]
	b.t.cache.Set(b.rq.key, raw)
	b.t.stats.stored.Add(1)
	b.t.stats.storedBytes.Add(b.n)
	b.fl.decide(result{kind: resEntry, e: e, status: Hit})
}

// drop gives up storing; the waiters retry or fetch on their own.
func (b *storingBody) drop(kind int) {
	if b.w != nil {
		b.w.Abort()
		b.w = nil
	}
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
