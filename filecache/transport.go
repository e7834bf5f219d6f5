package filecache

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
)

// sharedMax is the largest response that is not stored but is still handed
// to the requests that waited for it.
const sharedMax = 64 << 10

// maxWaits bounds how often a request waits for other requests' downloads
// before it fetches on its own.
const maxWaits = 4

// RoundTrip implements http.RoundTripper.
//
// GET requests whose URL has a rule with a positive MaxAge are served from
// the cache when fresh, revalidated when stale and fetched and stored when
// missing; HEAD requests are answered from a fresh entry. Other methods go
// to the origin and, when unsafe, remove the URL's entries. Every response
// carries [Header].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.isClosed() {
		httpbody.CloseRequest(req)
		return nil, ErrClosed
	}
	ctx := req.Context()
	switch req.Method {
	case "", http.MethodGet, http.MethodHead:
	default:
		resp, err := t.next.RoundTrip(req)
		switch req.Method {
		case http.MethodOptions, http.MethodTrace:
		default:
			t.invalidate(req)
		}
		return t.bypass(ctx, req, resp, err, "method")
	}
	l, maxAge, why := t.classify(req)
	if why != "" {
		resp, err := t.next.RoundTrip(req)
		return t.bypass(ctx, req, resp, err, why)
	}
	revalidate := noCache(req)
	if req.Method == http.MethodHead {
		if m, _ := t.loadMeta(&l); m != nil && !revalidate && t.fresh(m, maxAge) {
			if f, ok := t.openBody(&l, m); ok {
				f.Close()
				return t.serve(ctx, req, m, nil, Hit), nil
			}
		}
		resp, err := t.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		return t.mark(ctx, req, resp, Miss), nil
	}
	for waits := 0; ; waits++ {
		if resp := t.serveFresh(ctx, req, &l, maxAge, revalidate); resp != nil {
			if waits > 0 {
				t.stats.coalesced.Add(1)
			}
			return resp, nil
		}
		if waits == maxWaits {
			return t.direct(ctx, req)
		}
		fl, leader := t.flights.join(l.key)
		if leader {
			return t.lead(req, l, maxAge, fl, revalidate)
		}
		if t.testHookWait != nil {
			t.testHookWait()
		}
		res, err := fl.wait(ctx)
		if err != nil {
			httpbody.CloseRequest(req)
			return nil, err
		}
		switch res.kind {
		case flightStale:
			if resp := t.serveStale(ctx, req, &l); resp != nil {
				t.stats.coalesced.Add(1)
				return resp, nil
			}
		case flightShared:
			t.stats.coalesced.Add(1)
			return t.serveShared(ctx, req, res.shared), nil
		case flightError:
			httpbody.CloseRequest(req)
			return nil, res.err
		case flightDirect:
			return t.direct(ctx, req)
		}
	}
}

// classify finds the entry for req and its rule; why is non-empty when the
// request must bypass the cache.
func (t *Transport) classify(req *http.Request) (l loc, maxAge time.Duration, why string) {
	u := req.URL
	if t.rules == nil {
		return l, 0, "no rules"
	}
	maxAge, ok := t.rules.LookupURL(u)
	if !ok || maxAge <= 0 {
		return l, 0, "no rule"
	}
	h := req.Header
	for _, k := range []string{"Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		if h.Get(k) != "" {
			return l, 0, k
		}
	}
	if hasDirective(h, "no-store") {
		return l, 0, "no-store"
	}
	if req.Host != "" && !strings.EqualFold(req.Host, u.Host) {
		return l, 0, "Host differs from URL"
	}
	host := hostDir(u)
	if host == "" {
		return l, 0, "scheme"
	}
	variant := host + t.variant(req)
	key := entryKey(variant, u)
	if key == "" {
		return l, 0, "path"
	}
	return newLoc(t.dir, host, key), maxAge, ""
}

// variant returns the host folder suffix that keeps representations apart:
// an explicit Accept-Encoding (the response may be encoded, unlike what Go's
// transport returns for requests without one) and credentials, keyed by an
// HMAC under the folder's secret so the names reveal nothing.
func (t *Transport) variant(req *http.Request) string {
	h := req.Header
	var v string
	if h.Get("Accept-Encoding") != "" {
		ae := strings.ToLower(strings.Join(h.Values("Accept-Encoding"), ","))
		ae = strings.Join(strings.Fields(ae), "")
		sum := sha256.Sum256([]byte(ae))
		v += "@ae-" + hex.EncodeToString(sum[:4])
	}
	auth, cookie := h.Values("Authorization"), h.Values("Cookie")
	if len(auth) > 0 || len(cookie) > 0 || req.URL.User != nil {
		mac := hmac.New(sha256.New, t.credKey)
		for _, a := range auth {
			mac.Write([]byte("a:" + a + "\n"))
		}
		for _, c := range cookie {
			mac.Write([]byte("c:" + c + "\n"))
		}
		if req.URL.User != nil {
			mac.Write([]byte("u:" + req.URL.User.String() + "\n"))
		}
		v += "@cred-" + hex.EncodeToString(mac.Sum(nil)[:12])
	}
	return v
}

// fresh reports whether m may be served without asking the origin.
func (t *Transport) fresh(m *meta, maxAge time.Duration) bool {
	if maxAge <= 0 {
		return false
	}
	return t.now().Sub(m.Fetched) < maxAge
}

// serveFresh returns a HIT response when the entry is fresh.
func (t *Transport) serveFresh(ctx context.Context, req *http.Request, l *loc, maxAge time.Duration, revalidate bool) *http.Response {
	if revalidate {
		return nil
	}
	// The sidecar last seen in memory is good enough when it is fresh and
	// its body is still the very file it describes: sidecars change without
	// their body only on revalidation, which only makes an entry fresher.
	if e, ok := t.metas.peek(l.key); ok && t.fresh(e.m, maxAge) {
		// A small body kept in memory is good while the body file is
		// still the one the sidecar describes: one stat instead of an
		// open, a read and a close.
		if e.body != nil {
			if fi, err := os.Stat(l.body); err == nil && fileIDOf(fi) == e.m.File {
				t.touch(l, e)
				return t.serve(ctx, req, e.m, &memBody{b: e.body}, Hit)
			}
		} else if f, ok := t.openBodyVerify(l, e.m, false); ok {
			if body := t.entryBody(l, e.m, f); body != nil {
				t.touch(l, e)
				return t.serve(ctx, req, e.m, body, Hit)
			}
		}
	}
	m, mtime := t.loadMeta(l)
	if m == nil || revalidate || !t.fresh(m, maxAge) {
		return nil
	}
	f, ok := t.openBody(l, m)
	if !ok {
		return nil
	}
	body := t.entryBody(l, m, f)
	if body == nil {
		return nil
	}
	t.touch(l, cachedMeta{m: m, mtime: mtime})
	return t.serve(ctx, req, m, body, Hit)
}

// entryBody returns the body of an entry whose file f has been verified.
// A small body is read whole and kept beside its sidecar in memory; nil
// means it could not be read.
func (t *Transport) entryBody(l *loc, m *meta, f *os.File) io.ReadCloser {
	if m.Size > hotBodyMax {
		return &fileBody{f: f, left: m.Size}
	}
	defer f.Close()
	b := make([]byte, m.Size)
	if _, err := io.ReadFull(f, b); err != nil {
		t.log.Warn("filecache: cannot read cached body", "path", l.body, "err", err)
		return nil
	}
	t.metas.keepBody(l.key, m, b)
	return &memBody{b: b}
}

// touch records a use for least-recently-used eviction: the sidecar's
// modification time, updated at most once a minute.
func (t *Transport) touch(l *loc, e cachedMeta) {
	if t.maxBytes <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(e.mtime) > time.Minute && os.Chtimes(l.meta, now, now) == nil {
		t.metas.put(l.key, cachedMeta{m: e.m, mtime: now, body: e.body}) // identity unknown: re-read next time
	}
}

// serveStale returns a STALE response from the entry, if there is one.
func (t *Transport) serveStale(ctx context.Context, req *http.Request, l *loc) *http.Response {
	m, _ := t.loadMeta(l)
	if m == nil {
		return nil
	}
	f, ok := t.openBody(l, m)
	if !ok {
		return nil
	}
	return t.serve(ctx, req, m, &fileBody{f: f, left: m.Size}, Stale)
}

// serve builds a 200 response from an entry; body is nil for HEAD.
func (t *Transport) serve(ctx context.Context, req *http.Request, m *meta, body io.ReadCloser, status string) *http.Response {
	httpbody.CloseRequest(req)
	h := m.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h[Header] = []string{status}
	if !m.Uncompressed {
		h["Content-Length"] = []string{strconv.FormatInt(m.Size, 10)}
	}
	if age := t.now().Sub(m.Fetched); age > 0 {
		h["Age"] = []string{strconv.FormatInt(int64(age/time.Second), 10)}
	}
	resp := &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: m.Size,
		Body:          http.NoBody,
		Request:       req,
		Uncompressed:  m.Uncompressed,
	}
	if body != nil {
		resp.Body = body
	}
	t.count(status)
	if t.log.Enabled(ctx, slog.LevelDebug) { // the URL is not redacted on every hit for nothing
		t.debug(ctx, "filecache", slog.String(Header, status), slog.String("method", req.Method), slog.String("url", req.URL.Redacted()))
	}
	return resp
}

// fileBody streams a cached body from its file. It ends at the size the
// sidecar recorded, returning io.EOF with the last bytes (saving a read),
// and reports io.ErrUnexpectedEOF if the file turns out shorter.
type fileBody struct {
	f    *os.File
	left int64
}

func (b *fileBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.f.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// WriteTo lets io.Copy to a network connection use sendfile.
func (b *fileBody) WriteTo(w io.Writer) (int64, error) {
	n, err := io.Copy(w, &io.LimitedReader{R: b.f, N: b.left})
	b.left -= n
	if err == nil && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *fileBody) Close() error { return b.f.Close() }

// memBody serves a small cached body from memory. The bytes are shared by
// every hit and never written.
type memBody struct {
	b   []byte
	off int
}

func (b *memBody) Read(p []byte) (int, error) {
	if b.off >= len(b.b) {
		return 0, io.EOF
	}
	n := copy(p, b.b[b.off:])
	b.off += n
	if b.off == len(b.b) {
		return n, io.EOF
	}
	return n, nil
}

func (b *memBody) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b.b[b.off:])
	b.off += n
	if err == nil && b.off < len(b.b) {
		err = io.ErrShortWrite
	}
	return int64(n), err
}

func (b *memBody) Close() error { return nil }

// lead fetches or revalidates the entry for every request waiting on fl.
func (t *Transport) lead(req *http.Request, l loc, maxAge time.Duration, fl *flight, revalidate bool) (*http.Response, error) {
	ctx := req.Context()
	lock, err := lockEntry(ctx, l.lockPath())
	if err != nil {
		if ctx.Err() != nil {
			t.flights.finish(l.key, fl, flightResult{kind: flightRetry})
			httpbody.CloseRequest(req)
			return nil, err
		}
		t.stats.storeErrors.Add(1)
		t.log.Warn("filecache: cannot lock entry", "path", l.lockPath(), "err", err)
		t.flights.finish(l.key, fl, flightResult{kind: flightDirect})
		return t.direct(ctx, req)
	}
	// Another process may have stored the entry while this one waited.
	if !revalidate {
		if resp := t.serveFresh(ctx, req, &l, maxAge, false); resp != nil {
			lock.release()
			t.flights.finish(l.key, fl, flightResult{kind: flightEntry})
			return resp, nil
		}
	}
	old, _ := t.loadMeta(&l)
	if old != nil {
		if f, ok := t.openBody(&l, old); ok {
			f.Close()
		} else {
			old = nil
		}
	}
	out := req
	conditional := false
	if old != nil {
		etag, lm := old.Header.Get("Etag"), old.Header.Get("Last-Modified")
		if etag != "" || lm != "" {
			out = req.Clone(ctx)
			if etag != "" {
				out.Header.Set("If-None-Match", etag)
			}
			if lm != "" {
				out.Header.Set("If-Modified-Since", lm)
			}
			conditional = true
		}
	}
	resp, err := t.next.RoundTrip(out)
	fetched := t.now()
	if err != nil {
		if ctx.Err() != nil {
			lock.release()
			t.flights.finish(l.key, fl, flightResult{kind: flightRetry})
			return nil, err
		}
		if old != nil && t.staleIfError {
			if sresp := t.serveStale(ctx, req, &l); sresp != nil {
				lock.release()
				t.flights.finish(l.key, fl, flightResult{kind: flightStale})
				t.log.Debug("filecache: origin failed, serving stale entry", "url", req.URL.Redacted(), "err", err)
				return sresp, nil
			}
		}
		lock.release()
		t.flights.finish(l.key, fl, flightResult{kind: flightError, err: err})
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		httpbody.Discard(resp.Body)
		m := *old
		m.Header = mergeHeader(old.Header, resp.Header)
		m.Fetched = fetched
		if err := t.writeMeta(&l, &m); err != nil {
			t.stats.storeErrors.Add(1)
			t.log.Warn("filecache: cannot update sidecar", "path", l.meta, "err", err)
		}
		f, ok := t.openBody(&l, &m)
		lock.release()
		if !ok {
			// The body vanished under the lock: only a person can do that.
			t.flights.finish(l.key, fl, flightResult{kind: flightRetry})
			return nil, errors.New("filecache: cached body disappeared during revalidation")
		}
		t.flights.finish(l.key, fl, flightResult{kind: flightEntry})
		return t.serve(ctx, req, &m, &fileBody{f: f, left: m.Size}, Revalidated), nil

	case resp.StatusCode == http.StatusOK && httpbody.Framed(resp):
		m := meta{
			Version:      metaVersion,
			Key:          l.key,
			URL:          req.URL.Redacted(),
			Status:       http.StatusOK,
			Header:       storedHeader(resp.Header),
			Uncompressed: resp.Uncompressed,
			Fetched:      fetched,
		}
		var oldSz int64
		if old != nil {
			oldSz = old.Size
		}
		d, err := t.newDownload(ctx, l, lock, fl, resp, m, oldSz)
		if err != nil {
			t.stats.storeErrors.Add(1)
			t.log.Warn("filecache: cannot store response", "url", req.URL.Redacted(), "err", err)
			lock.release()
			t.flights.finish(l.key, fl, flightResult{kind: flightDirect})
			return t.mark(ctx, req, resp, Miss), nil
		}
		resp.Body = d
		return t.mark(ctx, req, resp, Miss), nil

	case resp.StatusCode >= 500 && old != nil && t.staleIfError:
		if sresp := t.serveStale(ctx, req, &l); sresp != nil {
			httpbody.Discard(resp.Body)
			lock.release()
			t.flights.finish(l.key, fl, flightResult{kind: flightStale})
			return sresp, nil
		}
	}
	// Not storable: let waiters share it when small, else send them to the
	// origin themselves.
	lock.release()
	res := flightResult{kind: flightDirect}
	if !httpbody.Framed(resp) {
		// Its end cannot be told from a dropped connection: nobody else
		// should take it for a whole body.
		t.flights.finish(l.key, fl, res)
		return t.mark(ctx, req, resp, Miss), nil
	}
	buf, rest, err := readPrefix(resp.Body, sharedMax)
	switch {
	case err != nil:
		resp.Body.Close()
		t.flights.finish(l.key, fl, res)
		return nil, err
	case rest == nil:
		resp.Body = io.NopCloser(bytes.NewReader(buf))
		res = flightResult{kind: flightShared, shared: &sharedResponse{
			status: resp.StatusCode, proto: resp.Proto, header: storedHeader(resp.Header), body: buf, uncompr: resp.Uncompressed,
		}}
	default:
		resp.Body = rest
	}
	t.flights.finish(l.key, fl, res)
	return t.mark(ctx, req, resp, Miss), nil
}

// readPrefix reads up to max bytes of body. When body ends within them it is
// closed and rest is nil; otherwise rest reads the whole body.
func readPrefix(body io.ReadCloser, max int) (buf []byte, rest io.ReadCloser, err error) {
	buf = make([]byte, 0, 512)
	lr := io.LimitReader(body, int64(max)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if len(buf) <= max {
		body.Close()
		return buf, nil, nil
	}
	return nil, &prefixedBody{Reader: io.MultiReader(bytes.NewReader(buf), body), c: body}, nil
}

type prefixedBody struct {
	io.Reader
	c io.Closer
}

func (b *prefixedBody) Close() error { return b.c.Close() }

// serveShared gives a waiter its own copy of the leader's small response.
func (t *Transport) serveShared(ctx context.Context, req *http.Request, s *sharedResponse) *http.Response {
	httpbody.CloseRequest(req)
	resp := &http.Response{
		Status:        strconv.Itoa(s.status) + " " + http.StatusText(s.status),
		StatusCode:    s.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        s.header.Clone(),
		ContentLength: int64(len(s.body)),
		Body:          io.NopCloser(bytes.NewReader(s.body)),
		Request:       req,
		Uncompressed:  s.uncompr,
	}
	return t.mark(ctx, req, resp, Miss)
}

// direct fetches without storing, after the cache could not help.
func (t *Transport) direct(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	return t.mark(ctx, req, resp, Miss), nil
}

// bypass marks a response that did not involve the cache.
func (t *Transport) bypass(ctx context.Context, req *http.Request, resp *http.Response, err error, why string) (*http.Response, error) {
	if err != nil {
		return nil, err
	}
	t.debug(ctx, "filecache: bypass", slog.String("why", why))
	return t.mark(ctx, req, resp, Bypass), nil
}

// mark sets the X-Cache header of a response from the origin.
func (t *Transport) mark(ctx context.Context, req *http.Request, resp *http.Response, status string) *http.Response {
	cachestatus.Set(resp, status)
	t.count(status)
	if status != Bypass && t.log.Enabled(ctx, slog.LevelDebug) {
		t.debug(ctx, "filecache", slog.String(Header, status), slog.String("method", req.Method),
			slog.String("url", req.URL.Redacted()), slog.Int("status", resp.StatusCode))
	}
	return resp
}

// invalidate removes every variant of the request URL's entry.
func (t *Transport) invalidate(req *http.Request) {
	host := hostDir(req.URL)
	if host == "" {
		return
	}
	// A commit finishing after this would bring the entry back.
	t.waitCommits(req.Context())
	dirents, err := os.ReadDir(t.dir)
	if err != nil {
		return
	}
	for _, de := range dirents {
		name := de.Name()
		if name != host && !strings.HasPrefix(name, host+"@") {
			continue
		}
		key := entryKey(name, req.URL)
		if key == "" {
			continue
		}
		t.metas.forget(key)
		l := newLoc(t.dir, host, key)
		if os.Remove(l.meta) == nil {
			t.stats.invalidated.Add(1)
			t.debug(req.Context(), "filecache: invalidated", slog.String("url", req.URL.Redacted()))
		}
		os.Remove(l.body)
	}
}

// waitCommits waits until no commit runs in the background, or ctx ends,
// by taking every slot of t.commits (which it cannot tell apart: a first
// entry's folders do not exist yet). A commit that finds no slot meanwhile
// runs before its caller's EOF instead.
func (t *Transport) waitCommits(ctx context.Context) {
	n := 0
	defer func() {
		for ; n > 0; n-- {
			<-t.commits
		}
	}()
	for n < cap(t.commits) {
		select {
		case t.commits <- struct{}{}:
			n++
		case <-ctx.Done():
			return
		}
	}
}

// noCache reports whether the caller asked for revalidation.
func noCache(req *http.Request) bool {
	return hasDirective(req.Header, "no-cache") || hasDirective(req.Header, "max-age=0")
}

func hasDirective(h http.Header, d string) bool {
	for _, v := range h.Values("Cache-Control") {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), d) {
				return true
			}
		}
	}
	for _, v := range h.Values("Pragma") {
		if d == "no-cache" && strings.EqualFold(strings.TrimSpace(v), "no-cache") {
			return true
		}
	}
	return false
}
