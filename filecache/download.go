package filecache

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// earlyCloseDrain is how much of a body the transport still reads when the
// caller closes it early, to finish the entry; beyond it the download is
// dropped.
const earlyCloseDrain = 1 << 20

const (
	chunkSize   = 256 << 10 // bytes handed to the writer at a time
	chunksAhead = 8         // chunks the writer may lag behind: the memory bound per download
	syncEvery   = 8 << 20   // start write-back this often, so the final sync is short

	metaOverhead = 1 << 10 // a sidecar's size, roughly, for the usage estimate
)

var chunkPool = sync.Pool{New: func() any { return make([]byte, 0, chunkSize) }}

// download tees a response body into a temporary file while the caller
// reads it and commits the entry when the body is complete. The file is
// written by a goroutine of its own, so the caller reads at network speed
// while the disk keeps up; the caller waits only when the writer is
// chunksAhead chunks behind, and at the end, for the commit.
type download struct {
	t    *Transport
	ctx  context.Context
	l    loc
	lock *entryLock
	fl   *flight
	rc   io.ReadCloser
	m    meta // everything but size, checksum and file identity
	want int64
	old  int64 // size of the entry this one replaces, for the usage estimate

	mu      sync.Mutex // serialises Read and Close
	tmp     tempFile   // nil once storing has stopped
	buf     []byte     // the chunk being filled
	ch      chan []byte
	wdone   chan struct{}
	werr    error  // the writer's error, read after wdone
	crc     uint32 // written by the writer, read after wdone
	n       int64
	err     error       // a read error already returned
	done    bool        // committed, dropped or failed: the flight is finished
	wclose  bool        // ch is closed
	unwatch func() bool // stops watching the leader's context
}

func (t *Transport) newDownload(ctx context.Context, l loc, lock *entryLock, fl *flight, resp *http.Response, m meta, old int64) (*download, error) {
	f, err := t.createTemp(filepath.Join(t.dir, tmpDir), lockBase(&l)+"-*.part")
	if err != nil {
		return nil, err
	}
	d := &download{
		t: t, ctx: ctx, l: l, lock: lock, fl: fl, rc: resp.Body, m: m,
		want: resp.ContentLength, old: old, tmp: f,
		buf: chunkPool.Get().([]byte)[:0], ch: make(chan []byte, chunksAhead), wdone: make(chan struct{}),
	}
	go d.write(f)
	// A leader whose context ends without reading or closing the body
	// would keep every waiter (and the entry's lock) until theirs end.
	d.unwatch = context.AfterFunc(ctx, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.drop("the request's context ended", ctx.Err())
	})
	return d, nil
}

// write runs on its own goroutine: it writes and checksums chunks until ch
// is closed, and after an error only recycles them.
func (d *download) write(f tempFile) {
	defer close(d.wdone)
	var off, synced int64
	for b := range d.ch {
		if d.werr == nil {
			d.crc = crc32.Update(d.crc, castagnoli, b)
			if _, err := f.Write(b); err != nil {
				d.werr = err
			}
			off += int64(len(b))
			if off-synced >= syncEvery {
				startWriteback(f, synced, off-synced)
				synced = off
			}
		}
		chunkPool.Put(b[:0])
	}
}

func (d *download) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.rc.Read(p)
	d.record(p[:n])
	switch {
	case err == io.EOF:
		d.finish()
	case err != nil:
		d.err = err
		d.drop("read error", err)
	}
	return n, err
}

// record hands p to the writer.
func (d *download) record(p []byte) {
	d.n += int64(len(p))
	if d.tmp == nil {
		return
	}
	for len(p) > 0 {
		k := copy(d.buf[len(d.buf):cap(d.buf)], p)
		d.buf = d.buf[:len(d.buf)+k]
		p = p[k:]
		if len(d.buf) == cap(d.buf) {
			d.flush()
		}
	}
}

// flush sends the current chunk to the writer; after a write error it
// stops storing, but never stops passing the body on.
func (d *download) flush() {
	if len(d.buf) == 0 {
		return
	}
	d.ch <- d.buf
	d.buf = chunkPool.Get().([]byte)[:0]
}

// stopWriter closes the writer's queue and waits for it to finish.
func (d *download) stopWriter() error {
	if !d.wclose {
		d.wclose = true
		close(d.ch)
	}
	<-d.wdone
	if d.buf != nil {
		chunkPool.Put(d.buf[:0])
		d.buf = nil
	}
	return d.werr
}

func (d *download) removeTemp() {
	if d.tmp == nil {
		return
	}
	d.stopWriter()
	d.tmp.Close()
	os.Remove(d.tmp.Name())
	d.tmp = nil
}

// end releases the entry and finishes the flight, once.
func (d *download) end(res flightResult) {
	if d.done {
		return
	}
	d.done = true
	if d.unwatch != nil {
		d.unwatch()
	}
	d.lock.release()
	d.t.flights.finish(d.l.key, d.fl, res)
}

// drop abandons the entry.
func (d *download) drop(why string, err error) {
	if d.done {
		return
	}
	d.t.debug(d.ctx, "filecache: download not stored", slog.String("url", d.m.URL), slog.String("why", why), slog.Any("err", err))
	d.removeTemp()
	d.end(flightResult{kind: flightRetry})
}

// storeFailed gives up storing after a file-system error.
func (d *download) storeFailed(err error) {
	d.t.stats.storeErrors.Add(1)
	d.t.log.Warn("filecache: cannot store response", "url", d.m.URL, "err", err)
	d.removeTemp()
	d.end(flightResult{kind: flightDirect})
}

// finish is called at EOF: it commits a complete body before the caller
// sees EOF, so that the next request finds the entry.
func (d *download) finish() {
	if d.done {
		return
	}
	if d.want >= 0 && d.n != d.want {
		d.drop(fmt.Sprintf("got %d of %d bytes", d.n, d.want), nil)
		return
	}
	d.flush()
	if err := d.stopWriter(); err != nil {
		d.storeFailed(err)
		return
	}
	if err := d.commit(); err != nil {
		d.storeFailed(err)
		return
	}
	t := d.t
	t.stats.stored.Add(1)
	t.stats.storedBytes.Add(d.n)
	t.debug(d.ctx, "filecache: stored", slog.String("url", d.m.URL), slog.Int64("bytes", d.n))
	d.end(flightResult{kind: flightEntry})
	if t.maxBytes > 0 && t.usage.Add(d.n-d.old+metaOverhead) > t.maxBytes {
		t.goBackground(func() { t.evict(false) })
	}
}

// commit makes the entry visible: body data synced, renamed into place,
// sidecar written last. A crash at any step leaves no sidecar that matches
// a body it does not describe.
func (d *download) commit() error {
	tmp := d.tmp
	err := tmp.Sync()
	var fi os.FileInfo
	if err == nil {
		fi, err = tmp.Stat()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && fi.Size() != d.n {
		err = fmt.Errorf("wrote %d bytes, file has %d", d.n, fi.Size())
	}
	if err == nil {
		err = renameInto(tmp.Name(), d.l.body)
	}
	if err != nil {
		os.Remove(tmp.Name())
		d.tmp = nil
		return err
	}
	d.tmp = nil
	m := d.m
	m.Size, m.CRC32C, m.File, m.Stored = d.n, fmt.Sprintf("%08x", d.crc), fileIDOf(fi), d.t.now()
	if err := d.t.writeMeta(&d.l, &m); err != nil {
		os.Remove(d.l.meta) // the old sidecar does not match the new body anyway
		return err
	}
	return nil
}

// Close ends the download. A caller that closes before the end of the body
// gets the entry stored anyway when at most earlyCloseDrain bytes remain
// (read now, under the request's context); otherwise nothing is stored.
func (d *download) Close() error {
	if !d.mu.TryLock() {
		// A Read is blocked: closing the network body unblocks it.
		err := d.rc.Close()
		d.mu.Lock()
		defer d.mu.Unlock()
		d.drop("closed during a read", nil)
		return err
	}
	defer d.mu.Unlock()
	if !d.done && d.err == nil && (d.want < 0 || d.want-d.n <= earlyCloseDrain) {
		buf := make([]byte, 32<<10)
		lr := &io.LimitedReader{R: d.rc, N: earlyCloseDrain + 1}
		for !d.done {
			n, err := lr.Read(buf)
			d.record(buf[:n])
			if err == io.EOF && lr.N > 0 {
				d.finish()
			} else if err != nil {
				d.drop("closed early", err)
			}
		}
	}
	err := d.rc.Close()
	d.drop("closed early", nil)
	if d.err == nil {
		d.err = errors.New("filecache: read on closed body")
	}
	return err
}
