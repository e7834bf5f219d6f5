package testserver

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ResourceOption configures a [Resource] or a [Generated] handler.
type ResourceOption func(*resourceOptions)

type resourceOptions struct {
	contentType  string
	header       http.Header
	etag         string
	lastModified time.Time
	noValidators bool
	gzip         bool
}

func collectOptions(opts []ResourceOption) resourceOptions {
	o := resourceOptions{header: make(http.Header)}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// WithContentType sets the Content-Type. Default: sniffed from the body by
// [http.DetectContentType] for a Resource, application/octet-stream for
// Generated.
func WithContentType(ct string) ResourceOption {
	return func(o *resourceOptions) { o.contentType = ct }
}

// WithHeader adds a header to every response, 304s included, such as
// WithHeader("Cache-Control", "max-age=60"). It may be repeated, also for
// the same key. It overrides a header the handler would set itself, except
// the validators and the content framing.
func WithHeader(key, value string) ResourceOption {
	return func(o *resourceOptions) { o.header.Add(key, value) }
}

// WithETag sets the initial entity-tag. A value that is not already an
// entity-tag ("x" or W/"x") is quoted. Default: a strong tag derived from a
// hash of the body and a version counter ([Resource]), or from the size and
// seed ([Generated]).
func WithETag(etag string) ResourceOption {
	return func(o *resourceOptions) { o.etag = quoteETag(etag) }
}

// WithLastModified sets the initial Last-Modified time, truncated to whole
// seconds. Default: the time of creation ([Resource]), or 2020-01-01 UTC
// ([Generated]).
func WithLastModified(t time.Time) ResourceOption {
	return func(o *resourceOptions) { o.lastModified = t.UTC().Truncate(time.Second) }
}

// WithoutValidators sends neither ETag nor Last-Modified and ignores
// conditional requests, like an origin that does not support them: every
// GET is a full 200.
func WithoutValidators() ResourceOption {
	return func(o *resourceOptions) { o.noValidators = true }
}

// WithGzip serves the body gzip-compressed, with Content-Encoding: gzip,
// to requests whose Accept-Encoding allows gzip, and the plain body to the
// others. Both variants carry Vary: Accept-Encoding, and the gzip variant's
// entity-tag has the suffix -gzip ("x" becomes "x-gzip").
func WithGzip() ResourceOption {
	return func(o *resourceOptions) { o.gzip = true }
}

// Resource is an http.Handler that serves one representation with
// validators, the way a well-behaved static origin does: it answers GET and
// HEAD with 200 or, when If-None-Match or If-Modified-Since allow it, with
// 304; other methods get 405 with an Allow header. If-None-Match (a list,
// compared weakly, or *) takes precedence over If-Modified-Since, as RFC 9110
// requires. Every response carries Date; 200s carry Content-Length. The
// body can be replaced while serving with [Resource.Set]. A Resource is safe
// for concurrent use. Create one with [NewResource]; the zero value is not
// usable.
type Resource struct {
	opts resourceOptions

	mu      sync.Mutex // serialises Set
	version uint64
	rep     atomic.Pointer[representation]

	full, notModified atomic.Int64
}

// representation is immutable once published.
type representation struct {
	body, gz     []byte
	contentType  string
	etag         string
	lastModified time.Time
}

var _ http.Handler = (*Resource)(nil)

// NewResource returns a Resource serving a copy of body.
func NewResource(body []byte, opts ...ResourceOption) *Resource {
	r := &Resource{opts: collectOptions(opts)}
	r.mu.Lock()
	defer r.mu.Unlock()
	etag, lm := r.opts.etag, r.opts.lastModified
	if lm.IsZero() {
		lm = time.Now().UTC().Truncate(time.Second)
	}
	r.publishLocked(body, etag, lm)
	return r
}

// Set replaces the body with a copy of body. Unless the Resource has no
// validators, it also gets a new strong entity-tag and a Last-Modified of now
// (whole seconds), at least one second after the previous one so that
// If-Modified-Since sees the change.
func (r *Resource) Set(body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lm := time.Now().UTC().Truncate(time.Second)
	if prev := r.rep.Load().lastModified; !lm.After(prev) {
		lm = prev.Add(time.Second)
	}
	r.publishLocked(body, "", lm)
}

func (r *Resource) publishLocked(body []byte, etag string, lm time.Time) {
	r.version++
	rep := &representation{
		body:        bytes.Clone(body),
		contentType: r.opts.contentType,
	}
	if rep.body == nil {
		rep.body = []byte{}
	}
	if rep.contentType == "" {
		rep.contentType = http.DetectContentType(rep.body)
	}
	if !r.opts.noValidators {
		if etag == "" {
			sum := sha256.Sum256(rep.body)
			etag = `"` + hex.EncodeToString(sum[:8]) + "-" + strconv.FormatUint(r.version, 10) + `"`
		}
		rep.etag, rep.lastModified = etag, lm
	}
	if r.opts.gzip {
		rep.gz = gzipBytes(rep.body)
	}
	r.rep.Store(rep)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b) // writes to a bytes.Buffer do not fail
	zw.Close()
	return buf.Bytes()
}

// Body returns a copy of the current body.
func (r *Resource) Body() []byte { return bytes.Clone(r.rep.Load().body) }

// ETag returns the current entity-tag of the plain variant, quoted, or ""
// without validators.
func (r *Resource) ETag() string { return r.rep.Load().etag }

// LastModified returns the current Last-Modified time, or the zero time
// without validators.
func (r *Resource) LastModified() time.Time { return r.rep.Load().lastModified }

// Served reports how many 200 (full) and 304 (notModified) responses the
// Resource has sent, HEAD requests included.
func (r *Resource) Served() (full, notModified int64) {
	return r.full.Load(), r.notModified.Load()
}

// ServeHTTP implements [http.Handler].
func (r *Resource) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !allowGetHead(w, req) {
		return
	}
	rep := r.rep.Load()
	body, etag, coding := rep.body, rep.etag, ""
	if rep.gz != nil && acceptsGzip(req) {
		body, etag, coding = rep.gz, variantETag(rep.etag, "gzip"), "gzip"
	}
	if writeHead(w, req, &r.opts, etag, rep.lastModified) {
		r.notModified.Add(1)
		return
	}
	h := w.Header()
	setContentHeaders(h, &r.opts, rep.contentType, coding)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	r.full.Add(1)
	if req.Method != http.MethodHead {
		w.Write(body)
	}
}

// allowGetHead answers 405 to anything but GET and HEAD.
func allowGetHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "testserver: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
	return false
}

// writeHead sets the headers every response of a validated handler carries
// and, when the request's preconditions allow, answers 304 and reports true.
func writeHead(w http.ResponseWriter, r *http.Request, o *resourceOptions, etag string, lm time.Time) bool {
	h := w.Header()
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if o.gzip {
		h.Set("Vary", "Accept-Encoding")
	}
	for k, v := range o.header {
		switch k {
		case "Content-Type", "Content-Length", "Content-Encoding", "Etag", "Last-Modified":
			continue
		}
		h[k] = v[:len(v):len(v)] // shared: an Add downstream must reallocate
	}
	if o.noValidators {
		return false
	}
	if etag != "" {
		h.Set("ETag", etag)
	}
	if !lm.IsZero() {
		h.Set("Last-Modified", lm.UTC().Format(http.TimeFormat))
	}
	if !notModified(r, etag, lm) {
		return false
	}
	w.WriteHeader(http.StatusNotModified)
	return true
}

// setContentHeaders sets the representation headers of a 200.
func setContentHeaders(h http.Header, o *resourceOptions, contentType, coding string) {
	h.Set("Content-Type", contentType)
	if v, ok := o.header["Content-Type"]; ok {
		h["Content-Type"] = v[:len(v):len(v)]
	}
	if coding != "" {
		h.Set("Content-Encoding", coding)
	}
}
