package cache

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
)

const (
	chunkSize = 256 << 10 // the most a fill reads from the network at a time
	// earlyCloseDrain: a body closed early by its last reader is still
	// downloaded and stored if at most this much is left.
	earlyCloseDrain = 1 << 20
	// commitBeforeEOF: a shorter body reaches EOF once committed, so that
	// a request right after finds the entry; a longer one at once, since
	// syncing it costs about as long as downloading it (its flight and
	// lock stay held until the commit ends).
	commitBeforeEOF = 8 << 20
	degradedWindow  = 8 << 20 // bytes kept in memory for readers when the store fails
	maxVariants     = 8       // Vary variants kept per URL
)

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// testHookFillStarted, set by a test, runs in the leader once its fill's
// goroutine is started.
var testHookFillStarted func(*fill)

var (
	errBodyClosed = errors.New("cache: read on closed body")
	errAbandoned  = errors.New("cache: download abandoned: its readers went away")
	// errFellBehind ends the body of a reader that read nothing for
	// StallAfter while the store had failed and degradedWindow bytes waited
	// for it: memory stays bounded and the other readers go on, at the cost
	// of that reader's answer (a leaked body, most likely).
	errFellBehind = errors.New("cache: body not read for too long while the store failed: the download went on without it")
)

// A fill downloads a body into a store Writer on a goroutine of its own
// while every reader, the leader included, follows the Writer as it grows:
// the download never waits for a reader that stops. The body is committed
// when complete, unless the URL was invalidated meanwhile. When the store
// fails mid-download, readers get the rest from memory, at the pace of the
// slowest.
type fill struct {
	t        *Transport
	fl       *flight
	k        Key
	head     *Meta     // the response, as followers get it
	answered time.Time // when it arrived, by the real clock
	store    bool      // started out to store the body (else: shared with waiters only)
	w        Writer
	src      io.ReadCloser
	want     int64 // Content-Length, or -1
	cancel   context.CancelFunc
	end      func() // ends the flight and releases the lock, once

	mu         sync.Mutex
	m          *Meta // what to commit; nil once storing is given up
	n          int64
	crc        uint32
	final      bool  // the network body ended
	err        error // why, when it did not end complete
	ended      bool  // the commit, if any, is over
	abandoned  bool
	stored     bool          // committed
	superseded bool          // the origin gave a newer answer since: store nothing
	wake       chan struct{} // closed at every change, by the fill or a reader
	readers    map[*reader]struct{}
	refs       int   // readers and the goroutine; w is closed at 0
	drainTo    int64 // -1, or the size past which the download is given up
	progress   time.Time
	degraded   bool // the store failed: bytes from memOff on are in mem, those below held in w
	memOff     int64
	held       int64
	mem        []byte
}

// startFill starts the fill of resp's body into a new entry at k (when not
// storable, shared with the waiters only) and returns the leader's
// response, or nil when the store cannot take it.
func (t *Transport) startFill(rq *request, fl *flight, k Key, m *Meta, storable bool, resp *http.Response, answered time.Time,
	cancel context.CancelFunc, stopLeader func() bool, done func(outcome)) *http.Response {
	w, err := t.store.Create(rq.ctx, k, m)
	if err != nil {
		return nil
	}
	f := &fill{t: t, fl: fl, k: k, head: m, answered: answered, store: storable, w: w, src: resp.Body, want: resp.ContentLength,
		cancel: cancel, end: sync.OnceFunc(func() { done(outcome{kind: outRetry}) }), wake: make(chan struct{}),
		readers: map[*reader]struct{}{}, refs: 1, drainTo: -1, progress: time.Now()}
	if storable {
		f.m = m
	} else {
		w.Abort()
	}
	stopLeader() // from here on the download belongs to the fill
	r := f.attach(rq.ctx)
	if r == nil || !t.goFill(f) {
		w.Close()
		return nil
	}
	if testHookFillStarted != nil {
		testHookFillStarted(f)
	}
	resp.Body = r
	return t.mark(rq.req, resp, cachestatus.Miss, "")
}

func (f *fill) broadcast() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// run downloads the body, then commits it or gives it up.
func (f *fill) run() {
	// Waiters follow the fill: decided here, before the fill can end the
	// flight (a short body may be over before its leader runs again).
	f.fl.decide(outcome{kind: outFill, fill: f})
	buf := chunkPool.Get().(*[chunkSize]byte)
	var err error
	for err == nil {
		var k int
		// Reads end at multiples of chunkSize, so that a store may write whole aligned pieces.
		if k, err = f.src.Read(buf[:chunkSize-f.n%chunkSize]); k > 0 {
			if aerr := f.add(buf[:k]); aerr != nil && (err == nil || err == io.EOF) {
				err = aerr
			}
		}
	}
	chunkPool.Put(buf)
	f.src.Close()
	f.cancel()
	if err == io.EOF {
		if err = nil; f.want >= 0 && f.n != f.want {
			err = io.ErrUnexpectedEOF
		}
	}
	f.mu.Lock()
	if f.abandoned && err == nil {
		err = errAbandoned // a body nobody wanted is not kept
	}
	m := f.m
	f.mu.Unlock()
	if err != nil { // before the readers hear of it, so that a request after starts afresh
		if m != nil {
			f.w.Abort()
			f.t.log.Debug(f.t.name+": download not stored", "url", f.head.URL, "err", err)
		}
		f.end()
	}
	f.mu.Lock()
	f.final, f.err = true, err
	f.broadcast()
	f.mu.Unlock()
	if m != nil && err == nil {
		f.commit(m)
	}
	f.end() // before the readers' EOF: a request after it looks at the store
	f.mu.Lock()
	f.ended = true
	f.broadcast()
	f.mu.Unlock()
	f.fl.g.whenIdle(f.fl, f.release) // waiters that joined still get to read it
}

// add makes p, the next bytes of the body, available to the readers.
func (f *fill) add(p []byte) error {
	f.crc = crc32.Update(f.crc, Castagnoli, p)
	var werr error
	if !f.degraded {
		_, werr = f.w.Write(p)
	}
	f.mu.Lock()
	giveUp := werr != nil && !f.degraded
	if giveUp { // the store failed: new requests go to the origin, readers get the rest from memory
		f.degraded, f.memOff, f.held = true, f.n, f.n
	}
	if f.degraded {
		f.mem = append(f.mem, p...)
	}
	f.n += int64(len(p))
	f.progress = time.Now()
	if f.m != nil && f.t.maxBody > 0 && f.n > f.t.maxBody {
		giveUp = true
		f.t.stats.tooLarge.Add(1)
	}
	if giveUp {
		f.m = nil
	}
	f.broadcast()
	var err error
	var slowest int64 = -1
	var since time.Time
	for f.degraded && err == nil {
		low := f.n
		for r := range f.readers {
			low = min(low, r.off)
		}
		if low > f.memOff {
			f.mem, f.memOff = f.mem[low-f.memOff:], low
		}
		if len(f.readers) == 0 || len(f.mem) <= degradedWindow {
			break
		}
		if low != slowest {
			slowest, since = low, time.Now()
		} else if time.Since(since) > f.t.stallAfter { // a body nobody reads holds nobody back for long
			var behind []*reader
			for r := range f.readers {
				if r.off == low {
					behind = append(behind, r)
				}
			}
			f.mu.Unlock()
			for _, r := range behind {
				r.detach(errFellBehind)
			}
			f.mu.Lock()
			continue
		}
		wake := f.wake
		f.mu.Unlock()
		select { // held back by the slowest reader
		case <-wake:
		case <-time.After(f.t.stallAfter / 2):
		case <-f.t.stop.Done():
			err = ErrClosed
		}
		f.mu.Lock()
	}
	if f.drainTo >= 0 && f.n > f.drainTo {
		err = errAbandoned
	}
	f.mu.Unlock()
	if giveUp {
		f.w.Abort()
		f.end()
	}
	return err
}

// commit stores m unless its URL was invalidated since the download
// started, before or during the commit.
func (f *fill) commit(m *Meta) {
	t, c, ctx := f.t, *m, context.Background() // neither Close nor a reader may cut a commit short
	c.SetSum(f.n, f.crc)
	c.Stored = t.now()
	if f.fl.invalid.Load() || f.isSuperseded() || f.w.Commit(ctx, &c) != nil {
		f.w.Abort()
		return
	}
	f.mu.Lock()
	f.stored = true
	superseded := f.superseded
	f.mu.Unlock()
	if f.fl.invalid.Load() || superseded {
		t.store.Remove(ctx, f.k)
		return
	}
	t.stats.stored.Add(1)
	t.stats.storedBytes.Add(f.n)
	if f.k.Vary != "" {
		t.addVariant(ctx, f.k, c.Vary)
	}
}

// addVariant records k in its URL's Vary marker, keeping the maxVariants
// most recent. Processes sharing a store may still lose a variant from the
// marker when they commit two at once: its next request is a miss.
func (t *Transport) addVariant(ctx context.Context, k Key, names []string) {
	t.markers.Lock() // two variants' commits would each write the marker they read, without the other's
	defer t.markers.Unlock()
	base := k
	base.Vary = ""
	mk := &Meta{Key: base.String(), Vary: names, Fetched: t.now(), Variants: []string{k.Vary}}
	if m, body, err := t.store.Lookup(ctx, base); err == nil {
		closeBody(body)
		for _, v := range m.Variants {
			if v == k.Vary {
				continue
			}
			if len(mk.Variants) < maxVariants && slices.Equal(names, m.Vary) {
				mk.Variants = append(mk.Variants, v)
			} else {
				t.store.Remove(ctx, Key{Host: k.Host, Variant: k.Variant, Path: k.Path, Vary: v})
			}
		}
	}
	if body, err := t.store.Update(ctx, base, mk); err == nil {
		closeBody(body) // a marker has none
	}
}

// attach returns a new reader, or nil when the download failed or is over.
func (f *fill) attach(ctx context.Context) *reader {
	f.mu.Lock()
	defer f.mu.Unlock()
	if (f.final && f.err != nil) || f.abandoned || f.refs == 0 || (f.degraded && f.memOff > f.held) {
		return nil // failed, over, or the bytes between the store's and memory's are gone
	}
	r := &reader{f: f, gone: make(chan struct{})}
	f.readers[r] = struct{}{}
	f.refs++
	f.drainTo = -1
	r.stop = context.AfterFunc(ctx, func() { r.detach(ctx.Err()) })
	return r
}

// release drops a reference; the last closes the Writer.
func (f *fill) release() {
	f.mu.Lock()
	f.refs--
	last := f.refs == 0
	f.mu.Unlock()
	if last {
		f.w.Close()
	}
}

// abandonIfUnread gives the download up when no reader follows it.
func (f *fill) abandonIfUnread() {
	f.mu.Lock()
	abandon := len(f.readers) == 0 && !f.final
	f.abandoned = f.abandoned || abandon
	f.mu.Unlock()
	if abandon {
		f.cancel()
	}
}

// supersede tells f that the origin gave a newer answer than its
// download: the download is not stored, or removed if it already was.
func (f *fill) supersede() {
	f.mu.Lock()
	f.superseded = true
	stored := f.stored
	f.mu.Unlock()
	if stored {
		f.t.store.Remove(context.Background(), f.k)
	}
}

func (f *fill) isSuperseded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.superseded
}

// otherVariant reports whether f downloads another Vary variant than rq's.
func (f *fill) otherVariant(rq *request) bool {
	return f.k.Vary != "" && varySig(f.head.Vary, rq.req.Header) != f.k.Vary
}

// downloaded reports whether the whole body arrived (it may be committing).
func (f *fill) downloaded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.final
}

// stalled reports whether the download made no progress for stallAfter.
func (f *fill) stalled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.final && time.Since(f.progress) > f.t.stallAfter
}

// follow answers rq from f's download, or returns nil for another Vary
// variant, a failed or stalled download, or one older than rq allows.
func (t *Transport) follow(rq *request, f *fill) *http.Response {
	if f.otherVariant(rq) || f.stalled() || !rq.mayShare(f.answered, nil) {
		return nil
	}
	r := f.attach(rq.ctx)
	if r == nil {
		return nil
	}
	httpbody.CloseRequest(rq.req)
	var add []string
	if f.want >= 0 {
		add = []string{"Content-Length", strconv.FormatInt(f.want, 10)}
	}
	resp := newResponse(rq.req, f.head.Status, cloneHeader(f.head.Header, add...), f.want, r, f.head.Uncompressed)
	if !f.store {
		return t.mark(rq.req, resp, cachestatus.Miss, "shared") // the origin's answer, not stored
	}
	return t.mark(rq.req, resp, cachestatus.Hit, "followed")
}

// reader is one reader of a fill's body.
type reader struct {
	f    *fill
	off  int64
	err  error // set when detached: errBodyClosed, or the context's error
	gone chan struct{}
	stop func() bool
}

// Read reads what has arrived, waiting for more.
func (r *reader) Read(p []byte) (int, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.off < f.n:
			want := min(int64(len(p)), f.n-r.off)
			if f.degraded && r.off >= f.memOff {
				k := copy(p[:want], f.mem[r.off-f.memOff:])
				r.off += int64(k)
				f.broadcast()
				return k, nil
			}
			if f.degraded {
				want = min(want, f.memOff-r.off)
			}
			off := r.off
			f.mu.Unlock()
			k, err := f.w.ReadAt(p[:want], off)
			f.mu.Lock()
			if r.off += int64(k); f.degraded {
				f.broadcast()
			}
			if k > 0 {
				return k, nil
			}
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		case f.final && f.err != nil:
			return 0, f.err
		case f.final && (f.ended || f.m == nil || f.n >= commitBeforeEOF):
			return 0, io.EOF
		case len(p) == 0:
			return 0, nil
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-r.gone:
		}
		f.mu.Lock()
	}
}

// WriteTo copies the body to w in chunks of up to chunkSize.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	buf := chunkPool.Get().(*[chunkSize]byte)
	defer chunkPool.Put(buf)
	var total int64
	for {
		k, err := r.Read(buf[:])
		if k > 0 {
			n, werr := w.Write(buf[:k])
			if total += int64(n); werr == nil && n < k {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return total, werr
			}
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
	}
}

// Close detaches the reader; the last one gives the download up when more
// than earlyCloseDrain is left.
func (r *reader) Close() error {
	r.stop()
	r.detach(errBodyClosed)
	return nil
}

func (r *reader) detach(why error) {
	f := r.f
	f.mu.Lock()
	if r.err != nil {
		f.mu.Unlock()
		return
	}
	r.err = why
	close(r.gone)
	delete(f.readers, r)
	abandon := !f.fl.g.held(f.fl) && f.unread(why == errBodyClosed) // else a waiter is about to follow
	f.broadcast()
	f.mu.Unlock()
	if abandon {
		f.cancel()
	}
	f.release()
}

// unread decides, under f.mu, what becomes of a download nobody reads
// (any more): one closed early with at most earlyCloseDrain left is still
// downloaded and stored, any other is given up (true: cancel it).
func (f *fill) unread(closed bool) bool {
	if len(f.readers) > 0 || f.final || f.abandoned {
		return false
	}
	if closed && f.m != nil && (f.want < 0 || f.want-f.n <= earlyCloseDrain) && !f.t.closed.Load() {
		if f.drainTo < 0 {
			f.drainTo = f.n + earlyCloseDrain
		}
		return false
	}
	f.abandoned = true
	return true
}

// unheld is called when the last waiter holding f's flight left without
// following it (another variant, a stalled or a refused download).
func (f *fill) unheld() {
	f.mu.Lock()
	abandon := !f.fl.g.held(f.fl) && f.unread(true) // a request may have joined since
	f.mu.Unlock()
	if abandon {
		f.cancel()
	}
}
