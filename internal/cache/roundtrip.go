package cache

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
)

const maxWaits = 4 // flights a request waits for before it fetches alone

// request is a cacheable GET or HEAD.
type request struct {
	req  *http.Request
	ctx  context.Context
	key  Key // with its Variant; with Vary once a marker or another variant's download showed which
	pol  Request
	cond bool // the caller validates: If-None-Match or If-Modified-Since
	// validate: the caller demands an answer from the origin (no-cache,
	// max-age=0); at and atClock: when the cache got it, by the real clock
	// and by the cache's.
	validate    bool
	at, atClock time.Time
}

// mayShare reports whether an answer the origin gave at answered (by the
// real clock; zero when not known, and then the entry m's Fetched, by the
// cache's clock, tells) may answer rq: any may, unless rq demands an answer
// from the origin and this one came before rq arrived.
func (rq *request) mayShare(answered time.Time, m *Meta) bool {
	switch {
	case !rq.validate:
		return true
	case !answered.IsZero():
		return !answered.Before(rq.at)
	}
	return m != nil && m.Fetched.After(rq.atClock)
}

// RoundTrip implements http.RoundTripper: a GET or HEAD is answered from a
// fresh entry, revalidated, or fetched once per stampede and stored; other
// methods go to the origin and unsafe ones invalidate. Every response
// carries X-Cache.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.closed.Load() {
		httpbody.CloseRequest(req)
		return nil, ErrClosed
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead:
	default:
		return t.unsafe(req)
	}
	rq, why := t.classify(req)
	if why != "" {
		return t.bypass(req, why)
	}
	if req.Method == http.MethodHead || rq.cond {
		return t.head(rq)
	}
	for waits := 0; ; waits++ {
		ends := t.flights.ends.Load()
		k, m, body := t.lookup(rq)
		if t.policy.Vary() {
			rq.key.Vary = k.Vary // the variant the URL's marker selects, if any: its own flight and lock
		}
		if m != nil && rq.pol.Fresh(m, t.now()) {
			if waits > 0 {
				t.stats.coalesced.Add(1)
			}
			return t.respond(rq, k, m, body, cachestatus.Hit), nil
		}
		if m != nil && rq.pol.Revalidating(m, t.now()) {
			if fl, leader := t.flights.join(rq.key); leader {
				t.revalidateLater(rq, fl, k, m, ends)
			} else {
				t.flights.unhold(fl)
			}
			return t.respond(rq, k, m, body, cachestatus.Stale), nil
		}
		closeBody(body)
		if rq.pol.OnlyIfCached() {
			return t.onlyIfCached(rq), nil
		}
		if waits == maxWaits {
			return t.direct(rq)
		}
		fl, leader := t.flights.join(rq.key)
		if leader {
			return t.lead(rq, fl, k, m, ends)
		}
		resp, err, again := t.await(rq, fl)
		if !again {
			return resp, err
		}
	}
}

// detach returns a context for a request whose download may outlive ctx
// for the requests that share it: it has ctx's values and reports ctx's
// deadline to the stages below, and ctx's end ends it, with ctx's cause
// (a deadline stays context.DeadlineExceeded), until stop is called.
func detach(ctx context.Context) (_ context.Context, cancel context.CancelFunc, stop func() bool) {
	c, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	stop = context.AfterFunc(ctx, func() { cancelCause(context.Cause(ctx)) })
	return detached{c, ctx}, func() { cancelCause(nil) }, stop
}

type detached struct {
	context.Context
	parent context.Context
}

func (d detached) Deadline() (time.Time, bool) { return d.parent.Deadline() }

// revalidateLater revalidates m at k in the background as fl's leader (see
// lead), on a request detached from rq's context and ended by Close.
func (t *Transport) revalidateLater(rq *request, fl *flight, k Key, m *Meta, ends uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		t.flights.end(fl, outcome{kind: outRetry})
		return
	}
	t.fills.Add(1)
	bg := &request{req: rq.req.Clone(t.stop), ctx: t.stop, key: rq.key, pol: rq.pol}
	bg.req.Body = nil
	go func() {
		defer t.fills.Done()
		resp, err := t.lead(bg, fl, k, m, ends)
		if err != nil {
			t.log.Debug(t.name+": background revalidation failed", "url", bg.req.URL.Redacted(), "err", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
}

// await answers rq from the outcome of the flight it joined, or reports
// that rq should look again. The hold keeps the shared download readable.
func (t *Transport) await(rq *request, fl *flight) (resp *http.Response, err error, again bool) {
	wait := false // for the end of the flight, unless its download stalls
	var o outcome
	defer func() {
		t.flights.unhold(fl)
		if !wait {
			return
		}
		tick := time.NewTicker(max(t.stallAfter/2, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-fl.done:
				return
			case <-rq.ctx.Done():
				httpbody.CloseRequest(rq.req)
				resp, err, again = nil, rq.ctx.Err(), false
				return
			case <-tick.C:
				if o.fill != nil && o.fill.stalled() {
					resp, err = t.besides(rq)
					again = false
					return
				}
			}
		}
	}()
	o, err = fl.wait(rq.ctx)
	if err != nil {
		httpbody.CloseRequest(rq.req)
		return nil, err, false
	}
	switch o.kind {
	case outEntry, outStale: // just stored, confirmed or judged servable stale: whatever its age says
		status := cachestatus.Hit
		if o.kind == outStale {
			status = cachestatus.Stale
		}
		k, m, body := t.lookup(rq)
		if m != nil && ((k != o.key && !rq.pol.Fresh(m, t.now())) || !rq.mayShare(o.answered, m)) {
			closeBody(body) // another variant's, which nobody asked the origin about, or older than rq allows
			m = nil
		} else if k != o.key {
			status = cachestatus.Hit
		}
		if m != nil {
			t.stats.coalesced.Add(1)
			return t.respond(rq, k, m, body, status), nil, false
		}
	case outFill:
		if resp := t.follow(rq, o.fill); resp != nil {
			t.stats.coalesced.Add(1)
			return resp, nil, false
		}
		if sig := varySig(o.fill.head.Vary, rq.req.Header); o.fill.otherVariant(rq) && rq.key.Vary != sig {
			// Another variant's download (also when the origin's Vary
			// changed since the marker named rq's): rq's own variant gets
			// a flight of its own beside it, which the rest of rq's
			// stampede joins.
			rq.key.Vary = sig
			return nil, nil, true
		}
		if o.fill.stalled() || (!rq.mayShare(o.fill.answered, nil) && !o.fill.downloaded()) {
			resp, err := t.besides(rq) // rather than wait for a download rq may not have
			if err == nil && rq.validate && !o.fill.otherVariant(rq) && newerAnswer(resp) {
				o.fill.supersede() // not stored over the origin's newer answer
			}
			return resp, err, false
		}
		wait = true // a failed download, or one being committed: look again once it is over
	case outError:
		httpbody.CloseRequest(rq.req)
		return nil, o.err, false
	case outDirect:
		resp, err := t.alone(rq, nil) // with rq's own stale-if-error
		return resp, err, false
	}
	return nil, nil, true
}

// rangeFields make a request bypass the cache. Like every field name the
// cache looks up by indexing a Header, they are canonical.
var rangeFields = []string{"Range", "If-Match", "If-Unmodified-Since", "If-Range"}

// classify returns the cacheable request, or why req must bypass the cache.
func (t *Transport) classify(req *http.Request) (*request, string) {
	if req.URL == nil {
		return nil, "no URL"
	}
	k, ok := KeyFor(req.URL)
	if !ok {
		return nil, "not an http(s) URL"
	}
	if req.Host != "" && !strings.EqualFold(req.Host, req.URL.Host) {
		return nil, "Host differs from the URL"
	}
	for _, f := range rangeFields {
		if len(req.Header[f]) > 0 {
			return nil, f
		}
	}
	if HasDirective(req.Header, "no-store") {
		return nil, "request no-store"
	}
	var rule Rule
	if t.rules != nil {
		rule.MaxAge, rule.OK = t.rules.LookupURL(req.URL)
		if rule.OK && rule.MaxAge <= 0 {
			return nil, "rule: never cache"
		}
	}
	pol, why := t.policy.Request(req, rule)
	if why != "" {
		return nil, why
	}
	k.Variant = variant(req, t.secretKey)
	cond := len(req.Header["If-None-Match"]) > 0 || len(req.Header["If-Modified-Since"]) > 0
	return &request{req: req, ctx: req.Context(), key: k, pol: pol, cond: cond, validate: DemandsOrigin(req.Header),
		at: time.Now(), atClock: t.now()}, ""
}

// DemandsOrigin reports whether a request with header h demands an answer
// from the origin: Cache-Control no-cache or max-age=0 (or Pragma no-cache).
func DemandsOrigin(h http.Header) bool {
	return HasDirective(h, "no-cache") || HasDirective(h, "max-age=0")
}

// HasDirective reports whether h's Cache-Control (or, for no-cache,
// Pragma) has the directive d, in any case.
func HasDirective(h http.Header, d string) bool {
	for _, v := range h["Cache-Control"] {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), d) {
				return true
			}
		}
	}
	if d == "no-cache" && len(h["Cache-Control"]) == 0 {
		for _, v := range h["Pragma"] {
			if strings.EqualFold(strings.TrimSpace(v), "no-cache") {
				return true
			}
		}
	}
	return false
}

// lookup returns the entry that may answer rq (through a Vary marker to
// rq's variant), its key and open body, or a nil Meta.
func (t *Transport) lookup(rq *request) (k Key, m *Meta, body io.ReadCloser) {
	k = rq.key
	m, body, err := t.store.Lookup(rq.ctx, k)
	if err != nil || !m.Marker() {
		return k, m, body
	}
	if k.Vary = varySig(m.Vary, rq.req.Header); !t.policy.Vary() || !slices.Contains(m.Variants, k.Vary) {
		return k, nil, nil
	}
	if m, body, err = t.store.Lookup(rq.ctx, k); err != nil {
		return k, nil, nil
	}
	return k, m, body
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		b.Close()
	}
}

// head answers a HEAD or a conditional request from a fresh entry (a 304
// when its validators match, RFC 9111 §4.3.2), or passes it on.
func (t *Transport) head(rq *request) (*http.Response, error) {
	k, m, body := t.lookup(rq)
	if m == nil || !rq.pol.Fresh(m, t.now()) {
		closeBody(body)
		if rq.pol.OnlyIfCached() {
			return t.onlyIfCached(rq), nil
		}
		if rq.cond {
			return t.bypass(rq.req, "conditional request without a fresh entry")
		}
		return t.direct(rq)
	}
	// Conditions apply to a 2xx only (RFC 9110 §13.2.1), to GET and HEAD alike.
	unchanged := rq.cond && m.Status/100 == 2 && notModified(rq.req.Header, m.Header)
	if rq.req.Method == http.MethodHead || unchanged {
		closeBody(body)
		body = http.NoBody
	}
	resp := t.respond(rq, k, m, body, cachestatus.Hit)
	if unchanged {
		resp.StatusCode, resp.Status, resp.ContentLength = http.StatusNotModified, "304 Not Modified", 0
		resp.Header.Del("Content-Length")
	}
	return resp, nil
}

// onlyIfCached is the answer to a request that may not reach the origin
// when nothing stored may answer it (RFC 9111 §5.2.1.7).
func (t *Transport) onlyIfCached(rq *request) *http.Response {
	httpbody.CloseRequest(rq.req)
	resp := newResponse(rq.req, http.StatusGatewayTimeout, http.Header{}, 0, http.NoBody, false)
	return t.mark(rq.req, resp, cachestatus.Miss, "only-if-cached")
}

// bypass passes req on untouched.
func (t *Transport) bypass(req *http.Request, why string) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	return t.mark(req, resp, cachestatus.Bypass, why), nil
}

// lead fetches or revalidates the entry for fl's waiters; k and m are what
// rq found, ends the count of ended flights before it looked. It looks
// again first when a flight ended since (it may have stored the entry
// between rq's lookup and its join) and, under the lock, when the store
// locks across processes (another process may have).
func (t *Transport) lead(rq *request, fl *flight, k Key, m *Meta, ends uint64) (*http.Response, error) {
	unlock := func() {}
	if t.locker != nil {
		u, err := t.locker.Lock(rq.ctx, rq.key, fl.alive)
		if err == nil && rq.key.Vary == "" && t.policy.Vary() {
			// Under the URL's lock a marker may name rq's variant now: its
			// lock is the one a download of that variant holds.
			if k, _, body := t.lookup(rq); k.Vary != "" {
				closeBody(body)
				u()
				rq.key.Vary = k.Vary
				u, err = t.locker.Lock(rq.ctx, rq.key, fl.alive)
			} else {
				closeBody(body)
			}
		}
		if err != nil {
			if rq.ctx.Err() != nil {
				t.flights.end(fl, outcome{kind: outRetry})
				httpbody.CloseRequest(rq.req)
				return nil, rq.ctx.Err()
			}
			t.flights.end(fl, outcome{kind: outDirect})
			return t.direct(rq)
		}
		unlock = u
	} else if t.flights.ends.Load() == ends {
		return t.fetch(rq, fl, k, m, unlock)
	}
	var body io.ReadCloser
	k, m, body = t.lookup(rq)
	if m != nil && (rq.pol.Fresh(m, t.now()) || (rq.validate && rq.mayShare(time.Time{}, m))) { // stored meanwhile
		unlock()
		t.flights.end(fl, outcome{kind: outEntry, key: k})
		return t.respond(rq, k, m, body, cachestatus.Hit), nil
	}
	closeBody(body)
	return t.fetch(rq, fl, k, m, unlock)
}

// fetch asks the origin, with the validators of the stale entry old at k
// if any. It ends fl and calls unlock when the flight is over: at once, or
// when the fill ends.
func (t *Transport) fetch(rq *request, fl *flight, k Key, old *Meta, unlock func()) (*http.Response, error) {
	ctx, sctx := rq.ctx, rq.ctx
	if old != nil && rq.pol.Stale(old, t.now(), nil) {
		sctx = cachestatus.WithStale(ctx) // a failure is answered stale at once, not retried
	}
	// The leader's context ends the request until the fill takes the body.
	fctx, cancel, stop := detach(sctx)
	out := rq.req.WithContext(fctx)
	conditional := false
	if old != nil {
		etag, lm := old.Header.Get("Etag"), old.Header.Get("Last-Modified")
		if etag != "" || lm != "" {
			out = rq.req.Clone(fctx)
			if etag != "" {
				out.Header.Set("If-None-Match", etag)
			}
			if lm != "" {
				out.Header.Set("If-Modified-Since", lm)
			}
			conditional = true
		}
	}
	var answered time.Time // by the real clock, which orders requests
	done := func(o outcome) {
		if o.answered.IsZero() {
			o.answered = answered
		}
		unlock()
		t.flights.end(fl, o)
	}
	started, reqTime := time.Now(), t.now()
	resp, err := t.next.RoundTrip(out)
	respTime, answered := t.now(), time.Now()
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			done(outcome{kind: outRetry})
			return nil, ctx.Err()
		}
		if old != nil && rq.pol.Stale(old, respTime, nil) {
			if r := t.fromStore(rq, k, old, cachestatus.Stale, nil); r != nil {
				done(outcome{kind: outStale, key: k})
				return r, nil
			}
		}
		done(outcome{kind: outError, err: err})
		return nil, err
	}
	resp.Request = rq.req
	if resp.StatusCode == http.StatusNotModified && conditional {
		httpbody.Discard(resp.Body)
		cancel()
		if !sameETag(resp.Header, old.Header) { // RFC 9111 §4.3.4: it updates nothing; ask again without validators
			return t.fetch(rq, fl, k, nil, unlock)
		}
		return t.revalidated(rq, fl, k, old, resp, started, reqTime, respTime, done)
	}
	if serverError(resp.StatusCode) && old != nil && rq.pol.Stale(old, respTime, resp) {
		if r := t.fromStore(rq, k, old, cachestatus.Stale, nil); r != nil {
			httpbody.Discard(resp.Body)
			cancel()
			done(outcome{kind: outStale, key: k})
			return r, nil
		}
	}
	if k, m, storable := t.answer(rq, resp); m != nil {
		m.Requested, m.Fetched, m.Started = reqTime, respTime, started
		if r := t.startFill(rq, fl, k, m, storable, resp, answered, cancel, stop, done); r != nil {
			return r, nil
		}
	}
	done(outcome{kind: outDirect})
	resp.Body = httpbody.OnClose(resp.Body, cancel)
	return t.mark(rq.req, resp, cachestatus.Miss, "not stored"), nil
}

// answer decides what becomes of resp, the origin's answer to rq: stored
// and shared with the waiters (storable), shared only, or neither (m nil).
// k is the entry it names: its Vary variant, not the one rq expected.
func (t *Transport) answer(rq *request, resp *http.Response) (k Key, m *Meta, storable bool) {
	framed := httpbody.Framed(resp)
	storable = framed && rq.pol.Storable(resp)
	var names []string
	if storable && t.policy.Vary() {
		names = VaryNames(resp.Header)
		storable = !slices.Contains(names, "*")
	}
	if storable && t.maxBody > 0 && resp.ContentLength > t.maxBody {
		storable = false
		t.stats.tooLarge.Add(1)
	}
	if !storable && !(framed && rq.pol.Shareable(resp)) {
		return rq.key, nil, false
	}
	k = rq.key
	k.Vary = ""
	if len(names) > 0 {
		k.Vary = varySig(names, rq.req.Header)
	}
	m = &Meta{Key: k.String(), URL: rq.req.URL.Redacted(), Status: resp.StatusCode, Header: StoredHeader(resp.Header),
		Uncompressed: resp.Uncompressed, Vary: names, Size: max(resp.ContentLength, 0)}
	return k, m, storable
}

// revalidated answers a 304: the entry at k gets its new fields and times.
func (t *Transport) revalidated(rq *request, fl *flight, k Key, old *Meta, resp *http.Response,
	started, reqTime, respTime time.Time, done func(outcome)) (*http.Response, error) {
	nm := *old
	nm.Header = merge304(old.Header, resp.Header)
	if len(resp.Header["Date"]) == 0 { // RFC 9110 §6.6.1: the time it arrived
		nm.Header["Date"] = []string{respTime.UTC().Format(http.TimeFormat)}
	}
	nm.Requested, nm.Fetched, nm.Started = reqTime, respTime, started
	if !fl.invalid.Load() {
		if body, err := t.store.Update(rq.ctx, k, &nm); err == nil {
			if fl.invalid.Load() { // during the update: the answer stands, the entry goes
				t.store.Remove(context.WithoutCancel(rq.ctx), k)
			} else {
				t.stats.stored.Add(1)
				t.stats.storedBytes.Add(nm.Size)
			}
			done(outcome{kind: outEntry, key: k})
			return t.respond(rq, k, &nm, body, cachestatus.Revalidated), nil
		}
	}
	if r := t.fromStore(rq, k, old, cachestatus.Revalidated, &nm); r != nil {
		done(outcome{kind: outEntry, key: k})
		return r, nil
	}
	done(outcome{kind: outRetry})
	return t.direct(rq) // the entry went away meanwhile
}

// fromStore answers rq from the entry at k if it still holds old's body,
// with newer when that is more recent (a failed update).
func (t *Transport) fromStore(rq *request, k Key, old *Meta, status string, newer *Meta) *http.Response {
	m, body, err := t.store.Lookup(rq.ctx, k)
	if err != nil || m.Marker() || m.CRC32C != old.CRC32C || m.Size != old.Size {
		closeBody(body)
		return nil
	}
	if newer != nil && m.Fetched.Before(newer.Fetched) {
		m = newer
	}
	return t.respond(rq, k, m, body, status)
}

// alone fetches for rq outside the flight it did not share, as direct
// does, but answers a failure from the stale entry when the policy allows.
// With fl, a flight of t.beside that rq leads, its answer is shared with
// fl's waiters (not stored) as it downloads.
func (t *Transport) alone(rq *request, fl *flight) (*http.Response, error) {
	end := func(o outcome) {
		if fl != nil {
			t.beside.end(fl, o)
		}
	}
	_, m, body := t.lookup(rq)
	closeBody(body)
	ctx := rq.ctx
	if m != nil && rq.pol.Stale(m, t.now(), nil) {
		ctx = cachestatus.WithStale(ctx) // answered stale at once, not retried
	}
	req, cancel, stop := rq.req, context.CancelFunc(func() {}), func() bool { return true }
	if fl != nil { // the download may outlive rq's context for the waiters
		ctx, cancel, stop = detach(ctx)
	}
	if ctx != rq.ctx {
		req = req.WithContext(ctx)
	}
	resp, err := t.next.RoundTrip(req)
	answered := time.Now()
	if err != nil && rq.ctx.Err() != nil {
		end(outcome{kind: outRetry}) // rq gave up, not the origin: a waiter asks in its place
	}
	if err != nil || serverError(resp.StatusCode) {
		end(outcome{kind: outDirect}) // each waiter with its own stale-if-error
		// The entry now: a download rq did not share may have replaced it.
		k, m, body := t.lookup(rq)
		if m != nil && rq.pol.Stale(m, t.now(), resp) {
			if err == nil {
				httpbody.Discard(resp.Body)
			}
			stop()
			cancel()
			return t.respond(rq, k, m, body, cachestatus.Stale), nil
		}
		closeBody(body)
	}
	if err != nil {
		stop()
		cancel()
		if rq.ctx.Err() != nil {
			return nil, rq.ctx.Err()
		}
		return nil, err
	}
	resp.Request = rq.req
	if fl != nil && !serverError(resp.StatusCode) {
		if k, m, _ := t.answer(rq, resp); m != nil { // shared as fetch would share it, and not stored
			if r := t.startFill(rq, fl, k, m, false, resp, answered, cancel, stop, end); r != nil {
				return r, nil
			}
		}
	}
	end(outcome{kind: outDirect})
	if fl != nil {
		resp.Body = httpbody.OnClose(resp.Body, func() { stop(); cancel() })
	}
	return t.mark(rq.req, resp, cachestatus.Miss, "alone"), nil
}

// besides fetches for rq, as alone does, beside a flight it could not
// share: a stalled download, or one older than rq allows. The requests
// that do so at once share the first one's answer when they may (see
// follow), so that a burst costs one origin request.
func (t *Transport) besides(rq *request) (*http.Response, error) {
	for waits := 0; ; waits++ {
		fl, leader := t.beside.join(rq.key)
		if leader {
			return t.alone(rq, fl)
		}
		o, err := fl.wait(rq.ctx)
		if err != nil {
			t.beside.unhold(fl)
			httpbody.CloseRequest(rq.req)
			return nil, err
		}
		if o.kind == outFill {
			if resp := t.follow(rq, o.fill); resp != nil {
				t.beside.unhold(fl)
				t.stats.coalesced.Add(1)
				return resp, nil
			}
		}
		again := waits < maxWaits
		var sig string
		if o.kind == outFill {
			sig = varySig(o.fill.head.Vary, rq.req.Header)
		}
		switch {
		case !again, o.kind == outRetry: // its leader gave up: one of its waiters asks instead
		case o.kind != outFill: // a failure: each with its own stale-if-error
			again = false
		case o.fill.otherVariant(rq) && rq.key.Vary != sig:
			rq.key.Vary = sig // a flight of rq's own variant
		case o.fill.otherVariant(rq):
			again = false
		default: // older than rq allows, stalled or given up: another flight in its place
			t.beside.retire(fl)
		}
		t.beside.unhold(fl)
		if !again {
			return t.alone(rq, nil)
		}
	}
}

// newerAnswer reports whether resp, which alone got from the origin, says
// what the resource is now: a success, a redirect, or 404 or 410; not a
// failure or a refusal such as 429.
func newerAnswer(resp *http.Response) bool {
	c := resp.StatusCode
	return resp.Header.Get(cachestatus.Header) == cachestatus.Miss &&
		(c < 400 || c == http.StatusNotFound || c == http.StatusGone)
}

// direct fetches without the cache, after it could not help.
func (t *Transport) direct(rq *request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(rq.req)
	if err != nil {
		return nil, err
	}
	return t.mark(rq.req, resp, cachestatus.Miss, "direct"), nil
}

// unsafe sends a request of another method and, but for OPTIONS and
// TRACE, invalidates what the Policy says it changed.
func (t *Transport) unsafe(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if req.Method != http.MethodOptions && req.Method != http.MethodTrace {
		ctx := context.WithoutCancel(req.Context())
		for _, u := range t.policy.Invalidated(req, resp) {
			k, ok := KeyFor(u)
			if !ok {
				continue
			}
			t.flights.invalidate(k)
			t.beside.invalidate(k)
			n, _ := t.store.Invalidate(ctx, k)
			t.stats.inv.Add(int64(n))
			t.log.Debug(t.name+": invalidated", "url", u.Redacted(), "entries", n)
		}
	}
	if err != nil {
		return nil, err
	}
	return t.mark(req, resp, cachestatus.Bypass, "method"), nil
}

// respond answers rq from the entry m at k with body.
func (t *Transport) respond(rq *request, k Key, m *Meta, body io.ReadCloser, status string) *http.Response {
	req := rq.req
	httpbody.CloseRequest(req)
	if req.Method == http.MethodHead && body != http.NoBody {
		closeBody(body)
		body = http.NoBody
	}
	add := [...]string{cachestatus.Header, status, "Age", strconv.FormatInt(int64(rq.pol.Age(m, t.now())/time.Second), 10),
		"Content-Length", ""}
	n := len(add)
	if m.Status != http.StatusNoContent && m.Status != http.StatusNotModified {
		add[n-1] = strconv.FormatInt(m.Size, 10)
	} else {
		n -= 2
	}
	resp := newResponse(req, m.Status, cloneHeader(m.Header, add[:n]...), m.Size, body, m.Uncompressed)
	return t.mark(req, resp, status, "")
}

// mark sets X-Cache on resp and counts it.
func (t *Transport) mark(req *http.Request, resp *http.Response, status, why string) *http.Response {
	cachestatus.Set(resp, status)
	t.stats.count(status)
	if t.log.Enabled(req.Context(), slog.LevelDebug) {
		attrs := []slog.Attr{slog.String("X-Cache", status), slog.String("method", req.Method),
			slog.String("url", req.URL.Redacted()), slog.Int("status", resp.StatusCode)}
		if why != "" {
			attrs = append(attrs, slog.String("why", why))
		}
		t.log.LogAttrs(req.Context(), slog.LevelDebug, t.name, attrs...)
	}
	return resp
}

// cloneHeader returns a copy of h with the fields of add (name, value,
// name, value...) set, in one allocation for the map and one for the
// values: a hit allocates little.
func cloneHeader(h http.Header, add ...string) http.Header {
	nv := len(add) / 2
	for _, v := range h {
		nv += len(v)
	}
	sv := make([]string, nv)
	out := make(http.Header, len(h)+len(add)/2)
	for k, v := range h {
		if v == nil {
			out[k] = nil // as Clone keeps it
			continue
		}
		n := copy(sv, v)
		out[k], sv = sv[:n:n], sv[n:]
	}
	for i := 0; i+1 < len(add); i += 2 {
		sv[0] = add[i+1]
		out[add[i]], sv = sv[:1:1], sv[1:]
	}
	return out
}

// newResponse is an HTTP/1.1 response to req that the cache made.
func newResponse(req *http.Request, code int, h http.Header, size int64, body io.ReadCloser, uncompressed bool) *http.Response {
	return &http.Response{Status: strconv.Itoa(code) + " " + http.StatusText(code), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, ContentLength: size, Body: body,
		Request: req, Uncompressed: uncompressed}
}
