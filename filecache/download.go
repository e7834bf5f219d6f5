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
	"strings"
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

	preallocMin = 1 << 20 // bodies at least this long get their disk space reserved up front
	reserveMax  = 1 << 30 // the most reserved for one download

	// Bodies of at least backgroundCommitMin bytes are committed after the
	// caller has seen EOF, by up to maxBackgroundCommits goroutines per
	// Transport; beyond that, the caller waits for its own commit.
	backgroundCommitMin  = syncEvery
	maxBackgroundCommits = 4
)

var chunkPool = sync.Pool{New: func() any { return make([]byte, 0, chunkSize) }}

// download tees a response body into a temporary file while the caller
// reads it and commits the entry when the body is complete. The file is
// written by a goroutine of its own, so the caller reads at network speed
// while the disk keeps up; the caller waits only when the writer is
// chunksAhead chunks behind, and at the end for the commit of a body
// shorter than backgroundCommitMin (see finish).
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

	// mu serialises Read, WriteTo, Close and the context's callback.
	// WriteTo lets go of it while the caller's writer runs.
	mu      sync.Mutex
	tmp     tempFile // nil once storing has stopped (or the commit owns it)
	buf     []byte   // the chunk being filled; nil once storing has stopped
	pos     int      // bytes of buf the caller has had
	later   error    // the network read's error (EOF too), for when the caller has all of buf
	tail    []byte   // bytes read ahead that the caller is still owed after storing stopped
	lent    bool     // WriteTo's writer is reading buf: it must not be recycled
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
	if resp.ContentLength >= preallocMin {
		// A Content-Length is the origin's word: reserve no more than
		// reserveMax (or the cache's cap) on it.
		n := min(resp.ContentLength, reserveMax)
		if t.maxBytes > 0 {
			n = min(n, t.maxBytes)
		}
		if err := t.reserve(f, n); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("reserving %d bytes: %w", n, err)
		}
	}
	d := &download{
		t: t, ctx: ctx, l: l, lock: lock, fl: fl, rc: resp.Body, m: m,
		want: resp.ContentLength, old: old, tmp: f,
		buf: chunkPool.Get().([]byte)[:0], ch: make(chan []byte, chunksAhead), wdone: make(chan struct{}),
	}
	go d.write(f)
	// A leader whose context ends without reading or closing the body
	// would keep every waiter (and the entry's lock) until theirs end.
	// The callback takes d.mu, so it cannot run before unwatch is set.
	d.mu.Lock()
	d.unwatch = context.AfterFunc(ctx, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.drop("the request's context ended", ctx.Err())
	})
	d.mu.Unlock()
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

// Read serves the caller from the chunk being filled for the writer: it
// reads the network into the chunk's free space (as much as has arrived,
// not just len(p)) and copies out what p takes, so a caller with a small
// buffer does not cost a system call per buffer. The chunk goes to the
// writer once it is full and the caller has had all of it; a network
// error or EOF is returned, and the entry committed or dropped, once the
// caller has had every byte before it.
func (d *download) Read(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.tail) > 0 {
		n := copy(p, d.tail)
		d.tail = d.tail[n:]
		return n, nil
	}
	if d.pos < len(d.buf) {
		return d.serve(p), nil
	}
	if err := d.later; err != nil {
		d.later = nil
		return 0, d.received(err)
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.tmp == nil || len(p) == 0 {
		n, err := d.rc.Read(p)
		d.record(p[:n])
		return n, d.received(err)
	}
	n, err := d.rc.Read(d.buf[len(d.buf):cap(d.buf)])
	d.n += int64(n)
	d.buf = d.buf[:len(d.buf)+n]
	k := d.serve(p)
	if err != nil && d.pos < len(d.buf) {
		d.later = err
		return k, nil
	}
	return k, d.received(err)
}

// serve copies unread bytes of the chunk to p and hands the chunk to the
// writer once it is full and had.
func (d *download) serve(p []byte) int {
	k := copy(p, d.buf[d.pos:])
	d.pos += k
	if d.pos == cap(d.buf) {
		d.flush()
	}
	return k
}

// received acts on the error of a network read once the caller has every
// byte before it, and returns it.
func (d *download) received(err error) error {
	switch {
	case err == io.EOF:
		d.finish()
		if d.err == nil {
			d.err = io.EOF
		}
	case err != nil:
		d.err = err
		d.drop("read error", err)
	}
	return err
}

// WriteTo is io.Copy's fast path: the body is read from the network
// straight into the chunk that the file writer gets next, and w is given
// that chunk, so the bytes are not copied on the way (Read has to copy
// them, since the caller's buffer is not the download's to keep). d.mu is
// not held while w runs, so that Close works while w blocks; the chunk is
// lent to w meanwhile and neither recycled nor handed to the file writer.
func (d *download) WriteTo(w io.Writer) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var total int64
	var scratch []byte
	for {
		var p []byte
		var rerr error
		switch {
		case len(d.tail) > 0:
			p, d.tail = d.tail, nil
		case d.pos < len(d.buf):
			p = d.buf[d.pos:]
			d.pos = len(d.buf)
		case d.later != nil:
			err := d.later
			d.later = nil
			if err = d.received(err); err == io.EOF {
				err = nil
			}
			return total, err
		case d.err == io.EOF:
			return total, nil
		case d.err != nil:
			return total, d.err
		case d.tmp == nil:
			if scratch == nil {
				scratch = make([]byte, 32<<10)
			}
			n, err := d.rc.Read(scratch)
			d.n += int64(n)
			p, rerr = scratch[:n], err
		default:
			n, err := d.rc.Read(d.buf[len(d.buf):cap(d.buf)])
			d.n += int64(n)
			d.buf = d.buf[:len(d.buf)+n]
			p, rerr = d.buf[d.pos:], err
			d.pos = len(d.buf)
		}
		if len(p) > 0 {
			d.lent = true
			d.mu.Unlock()
			k, werr := w.Write(p)
			d.mu.Lock()
			d.lent = false
			total += int64(k)
			if werr == nil && k < len(p) {
				werr = io.ErrShortWrite
			}
			if d.buf != nil && d.pos == cap(d.buf) {
				d.flush()
			}
			if werr != nil {
				// The caller has not had what w did not take.
				d.tail = append(append([]byte(nil), p[k:]...), d.tail...)
				if rerr != nil {
					d.later = rerr
				}
				return total, werr
			}
		}
		if rerr != nil {
			if rerr = d.received(rerr); rerr == io.EOF {
				rerr = nil
			}
			return total, rerr
		}
	}
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
	d.pos = len(d.buf) // bytes the caller has had, or given up
}

// flush sends the current chunk to the writer and starts a new one.
func (d *download) flush() {
	if len(d.buf) == 0 {
		return
	}
	d.ch <- d.buf
	d.buf = chunkPool.Get().([]byte)[:0]
	d.pos = 0
}

// stopWriter closes the writer's queue and waits for it to finish.
func (d *download) stopWriter() error {
	if !d.wclose {
		d.wclose = true
		close(d.ch)
	}
	<-d.wdone
	if d.buf != nil {
		if d.pos < len(d.buf) { // read ahead, not yet had by the caller
			d.tail = append(d.tail, d.buf[d.pos:]...)
		}
		if !d.lent {
			chunkPool.Put(d.buf[:0])
		}
		d.buf, d.pos = nil, 0
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
	d.settle(res)
}

// settle releases the entry and finishes the flight.
func (d *download) settle(res flightResult) {
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

// finish is called at EOF, under d.mu. A body shorter than
// backgroundCommitMin is committed before the caller sees EOF. A longer one
// is committed in the background, because syncing it costs about as long
// as downloading it on a fast network: the caller goes on while the disk
// catches up. Until the commit ends, the entry's flight and lock stay
// held, so a request for the same URL, in this process or another, waits
// and then finds the entry; [Transport.Close] waits for every commit.
func (d *download) finish() {
	if d.done {
		return
	}
	if d.want >= 0 && d.n != d.want {
		d.drop(fmt.Sprintf("got %d of %d bytes", d.n, d.want), nil)
		return
	}
	// The last chunk goes to the writer, and buf is left nil: after a
	// hand-over below, Read and Close must find nothing of the writer's.
	if len(d.buf) > 0 {
		d.ch <- d.buf
	} else if d.buf != nil {
		chunkPool.Put(d.buf[:0])
	}
	d.buf, d.pos = nil, 0
	if d.n >= backgroundCommitMin {
		select {
		case d.t.commits <- struct{}{}:
			// From here the goroutine owns the temporary file, the
			// writer and the entry; Read and Close only see EOF.
			d.done = true
			d.err = io.EOF
			if d.unwatch != nil {
				d.unwatch()
			}
			d.t.goBackground(func() {
				defer func() { <-d.t.commits }()
				d.settle(d.complete())
			})
			return
		default:
		}
	}
	d.end(d.complete())
}

// complete stops the writer and commits the entry, or gives up storing it
// after a file-system error; it returns what the flight's waiters do next.
func (d *download) complete() flightResult {
	err := d.stopWriter()
	if err == nil {
		err = d.commit()
	}
	t := d.t
	if err != nil {
		t.stats.storeErrors.Add(1)
		t.log.Warn("filecache: cannot store response", "url", d.m.URL, "err", err)
		d.removeTemp()
		return flightResult{kind: flightDirect}
	}
	t.stats.stored.Add(1)
	t.stats.storedBytes.Add(d.n)
	t.debug(d.ctx, "filecache: stored", slog.String("url", d.m.URL), slog.Int64("bytes", d.n))
	if t.maxBytes > 0 && t.usage.Add(d.n-d.old+metaOverhead) > t.maxBytes {
		t.goBackground(func() { t.evict(false) })
	}
	return flightResult{kind: flightEntry}
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
		err = d.replaceBody(tmp.Name())
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

// replaceBody renames the finished file over the entry's body. Renaming
// over a large body makes the kernel free it there and then (about 15 ms
// for 64 MiB, a fifth of the whole download on loopback), so a large old
// body is first linked to a temporary name and removed in the background;
// a crash in between leaves a leftover that cleanup removes.
func (d *download) replaceBody(from string) error {
	if d.old < preallocMin {
		return renameInto(from, d.l.body)
	}
	trash := strings.TrimSuffix(from, ".part") + ".old"
	if os.Link(d.l.body, trash) != nil {
		return renameInto(from, d.l.body)
	}
	err := renameInto(from, d.l.body)
	d.t.goBackground(func() { os.Remove(trash) })
	return err
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
		d.closed()
		return err
	}
	defer d.mu.Unlock()
	if d.lent {
		// WriteTo's writer is running: the body is given up.
		err := d.rc.Close()
		d.drop("closed during a write", nil)
		d.closed()
		return err
	}
	if err := d.later; err != nil {
		d.later = nil
		d.pos = len(d.buf)
		d.received(err)
	}
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
	d.closed()
	return err
}

// errBodyClosed is what reading a closed body returns, as with net/http.
var errBodyClosed = errors.New("filecache: read on closed body")

// closed makes later reads fail, whatever was left to read.
func (d *download) closed() {
	d.tail, d.later, d.err = nil, nil, errBodyClosed
}
