package rfccache

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
	"github.com/throttlecache/throttlecache/internal/httpbody"
)

// maxAttempts bounds how often a request waits for other requests' fetches
// (whose responses did not fit it) before it fetches on its own.
const maxAttempts = 4

// RoundTrip implements http.RoundTripper.
//
// GET requests are answered from a fresh entry, revalidated when the entry
// is stale, and fetched (one origin request per stampede) and stored, when
// allowed, when there is none. HEAD requests are answered from a fresh GET
// entry or passed on. Other methods are passed on and, when unsafe,
// invalidate the URL's entry and the same-origin Location and
// Content-Location. Every response carries [Header].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead:
	default:
		resp, err := t.next.RoundTrip(req)
		switch req.Method {
		case http.MethodOptions, http.MethodTrace:
		default:
			t.invalidate(req, resp)
		}
		if err != nil {
			return nil, err
		}
		return t.mark(req, resp, Bypass, "method"), nil
	}
	rq, why := t.classify(req)
	if why != "" {
		resp, err := t.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		return t.mark(req, resp, Bypass, why), nil
	}
	if req.Method == http.MethodHead {
		e := t.lookup(&rq)
		if e != nil && t.fresh(&rq, e) {
			return t.serve(req, e, Hit), nil
		}
		e.release()
		resp, err := t.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		return t.mark(req, resp, Miss, ""), nil
	}
	for attempt := 0; ; attempt++ {
		e := t.lookup(&rq)
		if e != nil && t.fresh(&rq, e) {
			if attempt > 0 {
				t.stats.coalesced.Add(1)
			}
			return t.serve(req, e, Hit), nil
		}
		if rq.cc.has("only-if-cached") {
			e.release()
			httpbody.CloseRequest(req)
			return t.mark(req, gatewayTimeout(req), Miss, "only-if-cached"), nil
		}
		if attempt == maxAttempts {
			return t.fetch(&rq, e, nil)
		}
		res, fl, err := t.join(&rq)
		if err != nil {
			e.release()
			httpbody.CloseRequest(req)
			return nil, err
		}
		if fl != nil {
			return t.fetch(&rq, e, fl)
		}
		switch res.kind {
		case resEntry:
			if t.stream != nil {
				if se := t.reopen(&rq, res.e); se != nil {
					e.release()
					t.stats.coalesced.Add(1)
					return t.serve(req, se, res.status), nil
				}
			} else if rq.matches(res.e) {
				t.stats.coalesced.Add(1)
				return t.serve(req, res.e, res.status), nil
			}
		case resError:
			e.release()
			httpbody.CloseRequest(req)
			return nil, res.err
		case resDirect:
			return t.fetch(&rq, e, nil)
		}
		e.release()
	}
}

// lookup returns the stored entry for rq, or nil when there is none that
// may answer it. A damaged value is removed. An entry from a StreamCache
// holds its open value: the caller serves or releases it.
func (t *Transport) lookup(rq *request) *entry {
	var e *entry
	var err error
	if t.stream != nil {
		if e, err = t.open(rq.key); e == nil && err == nil {
			return nil
		}
	} else {
		raw, ok := t.cache.Get(rq.key)
		if !ok {
			return nil
		}
		e, err = decode(raw)
	}
	if err != nil {
		t.damaged(rq.key, err)
		return nil
	}
	if !rq.matches(e) {
		e.release()
		return nil
	}
	return e
}

// damaged counts and removes the damaged value of key.
func (t *Transport) damaged(key string, err error) {
	t.stats.corrupt.Add(1)
	t.log.Warn("rfccache: damaged entry removed", slog.String("key", strings.TrimPrefix(key, keyPrefix)), slog.Any("error", err))
	t.cache.Delete(key)
}

// fresh reports whether e may answer rq without asking the origin.
func (t *Transport) fresh(rq *request, e *entry) bool {
	lifetime, age, respCC := t.freshness(rq, e)
	if rq.cc.has("no-cache") || (rq.cc == nil && hasPragmaNoCache(rq.req.Header)) {
		return false
	}
	if v, ok := rq.cc.seconds("max-age"); ok && age > v {
		return false
	}
	if v, ok := rq.cc.seconds("min-fresh"); ok {
		age += v
	}
	if age < lifetime {
		return true
	}
	if s, ok := rq.cc["max-stale"]; ok && !respCC.has("must-revalidate") && !respCC.has("no-cache") {
		if s == "" {
			return true
		}
		v, _ := rq.cc.seconds("max-stale")
		return age-lifetime <= v
	}
	return false
}

// freshness returns the freshness lifetime and current age of e for rq: from
// the rule when one applies, otherwise from e's own headers (RFC 9111 §4.2).
// A response with no-cache has a lifetime of 0.
func (t *Transport) freshness(rq *request, e *entry) (lifetime, age time.Duration, respCC directives) {
	now := t.now()
	respCC = parseCacheControl(e.header)
	if rq.hasRule && ruleStatuses[e.status] {
		// A rule counts from when the entry was fetched or last confirmed.
		return rq.maxAge, max(now.Sub(e.respTime), 0), nil
	}
	if respCC.has("no-cache") {
		return 0, e.age(now), respCC
	}
	return e.lifetime(respCC), e.age(now), respCC
}

// staleIfError reports whether e may answer rq when the origin failed.
func (t *Transport) staleIfError(rq *request, e *entry) bool {
	lifetime, age, respCC := t.freshness(rq, e)
	staleness := age - lifetime
	for _, cc := range []directives{rq.cc, respCC} {
		if v, ok := cc.seconds("stale-if-error"); ok && staleness <= v {
			return true
		}
	}
	return t.sie && !respCC.has("must-revalidate")
}

// hasPragmaNoCache reports Pragma: no-cache, which counts as Cache-Control:
// no-cache in a request without Cache-Control (RFC 9111 §5.4).
func hasPragmaNoCache(h http.Header) bool {
	for _, v := range h.Values("Pragma") {
		d := make(directives)
		if parseDirectives(v, d); d.has("no-cache") {
			return true
		}
	}
	return false
}

// fetch asks the origin, with e's validators when there is an entry, and
// answers with what comes back. fl, when not nil, is the flight other
// requests for the same entry wait on; fetch tells them what to do.
func (t *Transport) fetch(rq *request, e *entry, fl *flight) (*http.Response, error) {
	defer e.release() // unless a response took its body
	req := rq.req
	out := req
	if e != nil {
		etag, lm := e.header.Get("ETag"), e.header.Get("Last-Modified")
		if etag != "" || lm != "" {
			out = req.Clone(req.Context())
			if etag != "" {
				out.Header.Set("If-None-Match", etag)
			}
			if lm != "" {
				out.Header.Set("If-Modified-Since", lm)
			}
		}
	}
	reqTime := t.now()
	resp, err := t.next.RoundTrip(out)
	respTime := t.now()
	if e != nil && (err != nil || serverError(resp.StatusCode)) && t.staleIfError(rq, e) {
		if resp != nil {
			httpbody.Discard(resp.Body)
		}
		fl.decide(result{kind: resEntry, e: t.shared(e), status: Stale})
		return t.serve(req, e, Stale), nil
	}
	if err != nil {
		fl.decide(result{kind: resError, err: err})
		return nil, err
	}
	if resp.StatusCode == http.StatusNotModified && out != req {
		httpbody.Discard(resp.Body)
		if t.stream != nil {
			return t.refreshStream(rq, e, resp, reqTime, respTime, fl), nil
		}
		ne := t.refresh(rq, e, resp, reqTime, respTime)
		fl.decide(result{kind: resEntry, e: ne, status: Hit})
		return t.serve(req, ne, Revalidated), nil
	}
	if !t.storable(rq, resp) {
		if e != nil {
			t.cache.Delete(rq.key)
			t.stats.invalidated.Add(1)
		}
		fl.decide(result{kind: resDirect})
		return t.mark(req, resp, Miss, "not storable"), nil
	}
	if !httpbody.Framed(resp) {
		// Its end cannot be told from a dropped connection.
		fl.decide(result{kind: resDirect})
		return t.mark(req, resp, Miss, "body ends with the connection"), nil
	}
	if resp.ContentLength > t.maxBody {
		t.stats.tooLarge.Add(1)
		fl.decide(result{kind: resDirect})
		return t.mark(req, resp, Miss, "too large to store"), nil
	}
	ne := &entry{
		status:       resp.StatusCode,
		header:       storedHeader(resp.Header),
		reqTime:      reqTime,
		respTime:     respTime,
		variant:      rq.variant,
		vary:         varySignature(varyNames(resp.Header), req.Header),
		uncompressed: resp.Uncompressed,
	}
	resp.Body = t.newStoringBody(rq, ne, resp.Body, resp.ContentLength, fl)
	return t.mark(req, resp, Miss, ""), nil
}

// storable reports whether resp may be stored for rq: a rule for its URL and
// status, or RFC 9111 §3 on its headers. Vary: * is never stored.
func (t *Transport) storable(rq *request, resp *http.Response) bool {
	if varyStar(resp.Header) {
		return false
	}
	if rq.hasRule && ruleStatuses[resp.StatusCode] {
		return true
	}
	return storableByHeaders(resp, parseCacheControl(resp.Header))
}

func serverError(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// updateExcluded are the fields a 304 does not update (RFC 9111 §3.2).
var updateExcluded = map[string]bool{"Content-Length": true, "Content-Range": true, "Content-Encoding": true}

// refreshed returns e with the header fields of a 304 and new times, and no
// body.
func refreshed(e *entry, resp *http.Response, reqTime, respTime time.Time) *entry {
	h := e.header.Clone()
	for k, v := range storedHeader(resp.Header) {
		if !updateExcluded[k] {
			h[k] = v
		}
	}
	return &entry{status: e.status, header: h, bodyLen: e.bodyLen, reqTime: reqTime, respTime: respTime,
		variant: e.variant, vary: e.vary, uncompressed: e.uncompressed}
}

// refresh stores e with the header fields of a 304 and new times.
func (t *Transport) refresh(rq *request, e *entry, resp *http.Response, reqTime, respTime time.Time) *entry {
	ne := refreshed(e, resp, reqTime, respTime)
	ne.raw = encode(ne, e.body)
	ne.body = ne.raw[len(ne.raw)-trailerSize-len(e.body) : len(ne.raw)-trailerSize]
	if !varyStar(ne.header) {
		t.cache.Set(rq.key, ne.raw)
		t.stats.stored.Add(1)
		t.stats.storedBytes.Add(int64(len(e.body)))
	}
	return ne
}

// refreshStream answers a 304 for a streamed entry e: the caller reads e's
// body while it is written to a new value with the 304's fields, which is
// committed, and given to the waiters, once the body is complete.
func (t *Transport) refreshStream(rq *request, e *entry, resp *http.Response, reqTime, respTime time.Time, fl *flight) *http.Response {
	ne := refreshed(e, resp, reqTime, respTime)
	body := e.takeBody()
	if varyStar(ne.header) {
		fl.decide(result{kind: resRetry})
	} else {
		body = t.newStoringBody(rq, ne, body, ne.bodyLen, fl)
	}
	return t.respond(rq.req, ne, body, Revalidated)
}

// serve answers req from e.
func (t *Transport) serve(req *http.Request, e *entry, status string) *http.Response {
	if req.Method == http.MethodHead {
		e.release()
		return t.respond(req, e, http.NoBody, status)
	}
	return t.respond(req, e, e.takeBody(), status)
}

// respond answers req with e's status and fields and body.
func (t *Transport) respond(req *http.Request, e *entry, body io.ReadCloser, status string) *http.Response {
	httpbody.CloseRequest(req)
	resp := &http.Response{
		Status:        strconv.Itoa(e.status) + " " + http.StatusText(e.status),
		StatusCode:    e.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        e.header.Clone(),
		ContentLength: e.bodyLen,
		Body:          body,
		Request:       req,
		Uncompressed:  e.uncompressed,
	}
	if e.status != http.StatusNoContent {
		resp.Header.Set("Content-Length", strconv.FormatInt(e.bodyLen, 10))
	}
	resp.Header.Set("Age", strconv.FormatInt(int64(e.age(t.now())/time.Second), 10))
	return t.mark(req, resp, status, "")
}

// mark sets the X-Cache header of a response and counts it.
func (t *Transport) mark(req *http.Request, resp *http.Response, status, why string) *http.Response {
	cachestatus.Set(resp, status)
	t.count(status)
	if ctx := req.Context(); t.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{slog.String(Header, status), slog.String("method", req.Method),
			slog.String("url", req.URL.Redacted()), slog.Int("status", resp.StatusCode)}
		if why != "" {
			attrs = append(attrs, slog.String("why", why))
		}
		t.log.LogAttrs(ctx, slog.LevelDebug, "rfccache", attrs...)
	}
	return resp
}

// invalidate removes the entries an unsafe request may have changed: its
// URL's, and those of the same-origin Location and Content-Location of the
// response (RFC 9111 §4.4). It runs whatever the response's status, and
// also when there was none: the request may have reached the origin.
func (t *Transport) invalidate(req *http.Request, resp *http.Response) {
	if req.URL == nil || req.URL.Host == "" {
		return
	}
	t.cache.Delete(keyFor(req.URL))
	t.stats.invalidated.Add(1)
	if resp == nil {
		return
	}
	for _, k := range []string{"Location", "Content-Location"} {
		v := resp.Header.Get(k)
		if v == "" {
			continue
		}
		u, err := req.URL.Parse(v)
		if err != nil || u.Scheme != req.URL.Scheme || u.Host != req.URL.Host {
			continue
		}
		t.cache.Delete(keyFor(u))
		t.stats.invalidated.Add(1)
	}
}

func gatewayTimeout(req *http.Request) *http.Response {
	return &http.Response{
		Status: "504 Gateway Timeout", StatusCode: http.StatusGatewayTimeout,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: req,
	}
}
