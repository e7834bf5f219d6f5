package filecache

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// metaCache keeps parsed sidecars, keyed by entry, valid while the sidecar
// file has the same identity (sidecars are only ever replaced by rename).
type metaCache struct {
	mu sync.Mutex
	m  map[string]cachedMeta
}

type cachedMeta struct {
	id fileID
	m  *meta
}

const metaCacheMax = 4096

func (c *metaCache) get(key string, id fileID) *meta {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && e.id == id {
		return e.m
	}
	return nil
}

func (c *metaCache) put(key string, id fileID, m *meta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= metaCacheMax {
		c.m = make(map[string]cachedMeta)
	}
	c.m[key] = cachedMeta{id, m}
}

// loadMeta returns the entry's sidecar and its modification time, or nil
// when there is none or it is damaged. The returned meta is shared: do not
// modify it.
func (t *Transport) loadMeta(l *loc) (*meta, time.Time) {
	fi, err := os.Stat(l.meta)
	if err != nil {
		return nil, time.Time{}
	}
	id := fileIDOf(fi)
	if m := t.metas.get(l.key, id); m != nil {
		return m, fi.ModTime()
	}
	data, err := os.ReadFile(l.meta)
	if err != nil {
		return nil, time.Time{}
	}
	m, err := parseMeta(data)
	if err == nil && m.Key != l.key {
		err = fmt.Errorf("%w: key %q, want %q", errBadMeta, m.Key, l.key)
	}
	if err != nil {
		t.stats.corrupt.Add(1)
		t.log.Warn("filecache: ignoring damaged sidecar", "path", l.meta, "err", err)
		return nil, time.Time{}
	}
	t.metas.put(l.key, id, m)
	return m, fi.ModTime()
}

// openBody opens the body m describes. When the file is not the one that
// was committed (a copied folder, a crash between body and sidecar) it is
// hashed and accepted only if size and checksum match.
func (t *Transport) openBody(l *loc, m *meta) (*os.File, bool) {
	f, err := os.Open(l.body)
	if err != nil {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, false
	}
	if fileIDOf(fi) == m.File {
		return f, true
	}
	if fi.Size() == m.Size {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil && hex.EncodeToString(h.Sum(nil)) == m.SHA256 {
			if _, err := f.Seek(0, io.SeekStart); err == nil {
				t.refreshFileID(l, m, fileIDOf(fi))
				return f, true
			}
		}
	}
	f.Close()
	t.stats.corrupt.Add(1)
	t.log.Debug("filecache: body does not match its sidecar", "path", l.body)
	return nil, false
}

// refreshFileID records a verified body's new identity so that it is not
// hashed again, if nobody else is writing the entry.
func (t *Transport) refreshFileID(l *loc, m *meta, id fileID) {
	lk, ok, err := tryLock(l.lock)
	if err != nil || !ok {
		return
	}
	defer lk.release()
	nm := *m
	nm.File = id
	t.writeMeta(l, &nm)
}

// writeMeta replaces the sidecar atomically.
func (t *Transport) writeMeta(l *loc, m *meta) error {
	data, err := m.marshal()
	if err != nil {
		return err
	}
	f, err := t.createTemp(filepath.Join(t.dir, tmpDir), lockBase(l)+"-*.meta")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameInto(name, l.meta)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// renameInto renames from to to, creating to's folder. A concurrent prune
// may remove an empty folder between the two steps, hence the retry.
func renameInto(from, to string) error {
	var err error
	for range 3 {
		if err = os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err = os.Rename(from, to); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// lockBase is the lock file's name without extension; temporary files start
// with it so that cleanup can tell whether their writer is alive.
func lockBase(l *loc) string {
	return strings.TrimSuffix(filepath.Base(l.lock), ".lock")
}

// storedHeader returns the response header worth keeping.
func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Set-Cookie", "Content-Length", "Age", Header,
	} {
		delete(out, k)
	}
	return out
}

// mergeHeader updates stored headers with those of a 304, as RFC 9111
// section 4.3.4 asks, keeping what describes the stored body.
func mergeHeader(stored, fresh http.Header) http.Header {
	out := stored.Clone()
	for k, v := range storedHeader(fresh) {
		switch k {
		case "Content-Encoding", "Content-Range", "Content-Type":
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

// earlyCloseDrain is how much of a body the transport still reads when the
// caller closes it early, to finish the entry; beyond it the download is
// dropped.
const earlyCloseDrain = 1 << 20

// download tees a response body into a temporary file while the caller
// reads it and commits the entry when the body is complete.
type download struct {
	t      *Transport
	ctx    context.Context
	l      loc
	lock   *entryLock
	fl     *flight
	rc     io.ReadCloser
	m      meta // template: everything but size, checksum and file
	want   int64
	oldSz  int64 // size of the entry this one replaces, for the usage estimate
	closed chan struct{}

	mu   sync.Mutex
	tmp  tempFile
	w    *bufio.Writer
	h    hash.Hash
	n    int64
	err  error // a read error already returned
	done bool  // committed, dropped or failed: the flight is finished
	once sync.Once
}

func (t *Transport) newDownload(ctx context.Context, l loc, lock *entryLock, fl *flight, resp *http.Response, m meta, oldSz int64) (*download, error) {
	f, err := t.createTemp(filepath.Join(t.dir, tmpDir), lockBase(&l)+"-*.part")
	if err != nil {
		return nil, err
	}
	return &download{
		t: t, ctx: ctx, l: l, lock: lock, fl: fl, rc: resp.Body, m: m,
		want: resp.ContentLength, oldSz: oldSz, closed: make(chan struct{}),
		tmp: f, w: bufio.NewWriterSize(f, 64<<10), h: sha256.New(),
	}, nil
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
		d.drop(Miss, "read error", err)
	}
	return n, err
}

// record writes p to the temporary file, giving up storing (never reading)
// on a write error.
func (d *download) record(p []byte) {
	if len(p) == 0 {
		return
	}
	d.n += int64(len(p))
	if d.tmp == nil {
		return
	}
	d.h.Write(p)
	if _, err := d.w.Write(p); err != nil {
		d.storeFailed(err)
	}
}

// storeFailed stops storing but keeps passing the body on.
func (d *download) storeFailed(err error) {
	d.t.stats.storeErrors.Add(1)
	d.t.log.Warn("filecache: cannot store response", "url", d.m.URL, "err", err)
	d.removeTemp()
	d.end(flightResult{kind: flightDirect})
}

func (d *download) removeTemp() {
	if d.tmp == nil {
		return
	}
	d.tmp.Close()
	os.Remove(d.tmp.Name())
	d.tmp, d.w = nil, nil
}

// end releases the entry and finishes the flight, once.
func (d *download) end(res flightResult) {
	if d.done {
		return
	}
	d.done = true
	d.lock.release()
	d.t.flights.finish(d.l.key, d.fl, res)
}

// drop abandons the entry.
func (d *download) drop(_ string, why string, err error) {
	if d.done {
		return
	}
	d.t.debug(d.ctx, "filecache: download not stored", slog.String("url", d.m.URL), slog.String("why", why), slog.Any("err", err))
	d.removeTemp()
	d.end(flightResult{kind: flightRetry})
}

// finish is called at EOF: commit when complete, before the caller sees EOF,
// so that a request that follows finds the entry.
func (d *download) finish() {
	if d.done {
		return
	}
	if d.tmp == nil {
		d.end(flightResult{kind: flightDirect})
		return
	}
	if d.want >= 0 && d.n != d.want {
		d.drop(Miss, fmt.Sprintf("got %d of %d bytes", d.n, d.want), nil)
		return
	}
	tmp, w, sum, n := d.tmp, d.w, hex.EncodeToString(d.h.Sum(nil)), d.n
	d.tmp, d.w = nil, nil
	d.done = true
	d.commit(tmp, w, sum, n)
}

// commit makes the entry visible: body data synced, renamed into place,
// sidecar written last. A crash at any step leaves no sidecar describing a
// body it does not match.
func (d *download) commit(tmp tempFile, w *bufio.Writer, sum string, n int64) {
	t := d.t
	err := w.Flush()
	if err == nil {
		err = tmp.Sync()
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = tmp.Stat()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && fi.Size() != n {
		err = fmt.Errorf("wrote %d bytes, file has %d", n, fi.Size())
	}
	if err == nil {
		err = renameInto(tmp.Name(), d.l.body)
	}
	if err == nil {
		m := d.m
		m.Size, m.SHA256, m.File, m.Stored = n, sum, fileIDOf(fi), t.now()
		if err = t.writeMeta(&d.l, &m); err != nil {
			os.Remove(d.l.meta) // the old sidecar no longer matches anyway
		}
	}
	res := flightResult{kind: flightEntry}
	if err != nil {
		os.Remove(tmp.Name())
		t.stats.storeErrors.Add(1)
		t.log.Warn("filecache: cannot store response", "url", d.m.URL, "err", err)
		res.kind = flightDirect
	} else {
		t.stats.stored.Add(1)
		t.stats.storedBytes.Add(n)
		t.debug(d.ctx, "filecache: stored", slog.String("url", d.m.URL), slog.Int64("bytes", n))
	}
	d.lock.release()
	t.flights.finish(d.l.key, d.fl, res)
	if err == nil && t.maxBytes > 0 {
		if t.usage.Add(n-d.oldSz) > t.maxBytes {
			t.goBackground(func() { t.evict(false) })
		}
	}
}

// Close ends the download. A caller that closes before the end of the body
// gets the entry stored anyway when at most earlyCloseDrain bytes remain
// (read now, under the request's context); otherwise nothing is stored.
func (d *download) Close() error {
	d.once.Do(func() { close(d.closed) })
	if !d.mu.TryLock() {
		// A Read is blocked: closing the network body unblocks it.
		err := d.rc.Close()
		d.mu.Lock()
		defer d.mu.Unlock()
		d.drop(Miss, "closed during a read", nil)
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
				d.drop(Miss, "closed early", err)
			}
		}
	}
	err := d.rc.Close()
	d.drop(Miss, "closed early", nil)
	if d.err == nil {
		d.err = errors.New("filecache: read on closed body")
	}
	return err
}
