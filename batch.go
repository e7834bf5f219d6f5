package throttlecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/throttlecache/throttlecache/internal/httpbody"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// DefaultConcurrency is the number of requests a batch runs at once unless
// WithConcurrency says otherwise. The limiter, not this number, sets the
// request rate; 8 in flight keep a 10-per-second limit busy even when each
// response takes most of a second, without holding many connections open.
const DefaultConcurrency = 8

// A Target is one download of GetBatchToFiles: the body of URL goes to the
// file Path.
type Target struct{ URL, Path string }

// BatchResult is the outcome of one item of a batch. Batches return one per
// input, in input order.
type BatchResult struct {
	URL        string
	Path       string // GetBatchToFiles: the file written
	Body       []byte // GetBatch: the body (also of a non-2xx answer)
	StatusCode int
	Cache      string // the X-Cache value
	Bytes      int64
	Err        error // nil only for a complete 2xx body
}

// StatusError is the Err of a batch item whose response was not a 2xx.
type StatusError struct {
	URL        string // redacted
	StatusCode int
	Status     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("throttlecache: GET %s: %s", e.URL, e.Status)
}

// Progress describes a batch as it runs. WithProgress callbacks receive it
// after every finished item and, during downloads, after each MiB of body.
type Progress struct {
	Done   int   // items finished, successfully or not
	Failed int   // items finished with an error
	Total  int   // items in the batch
	Bytes  int64 // body bytes received so far, all items
	// Index is the input position of the item that just finished, or -1
	// for an update on bytes alone.
	Index int
	// Result is the finished item (Body included; do not keep it); zero when
	// Index is -1.
	Result BatchResult
}

// A BatchOption configures GetBatch and GetBatchToFiles.
type BatchOption func(*batchConfig)

type batchConfig struct {
	concurrency int
	progress    func(Progress)
}

// WithConcurrency sets how many requests a batch runs at once.
// Default: DefaultConcurrency; values below 1 keep the default.
func WithConcurrency(n int) BatchOption {
	return func(c *batchConfig) {
		if n >= 1 {
			c.concurrency = n
		}
	}
}

// WithProgress has fn called with the batch's progress. Calls never overlap:
// fn runs on one goroutine at a time, so it needs no locking, and it should
// return quickly because the batch waits for it.
func WithProgress(fn func(Progress)) BatchOption {
	return func(c *batchConfig) { c.progress = fn }
}

// GetBatch fetches every URL with GET through the Manager's client, at most
// WithConcurrency at once, and returns one result per URL in input order. An
// item fails alone: a URL that does not parse, a transport error or a non-2xx
// status (StatusCode set, Err a *StatusError) never fails the others. When
// ctx ends, GetBatch returns promptly; unfinished items carry ctx's error.
func (m *Manager) GetBatch(ctx context.Context, urls []string, opts ...BatchOption) []BatchResult {
	results := make([]BatchResult, len(urls))
	for i, u := range urls {
		results[i].URL = u
	}
	m.runBatch(ctx, results, opts, func(ctx context.Context, r *BatchResult, p *batchProgress) {
		resp, err := m.get(ctx, r)
		if err != nil {
			r.Err = err
			return
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		if n := resp.ContentLength; n > 0 && n <= maxPrealloc {
			buf.Grow(int(n))
		}
		r.Bytes, err = buf.ReadFrom(p.reader(resp.Body))
		r.Body = buf.Bytes()
		if err != nil {
			r.Err = fmt.Errorf("throttlecache: GET %s: reading the body: %w", redactURL(r.URL), err)
			return
		}
		r.Err = statusErr(r, resp)
	})
	return results
}

// maxPrealloc caps the buffer GetBatch reserves from a Content-Length, so a
// lying header cannot make it allocate much before any byte arrives.
const maxPrealloc = 64 << 20

// GetBatchToFiles downloads every target's URL into its Path, at most
// WithConcurrency at once, and returns one result per target in input order.
// Parent folders are created. Each body streams into a temporary file beside
// the target, which is synced and renamed over Path only when the body is
// complete and the status is 2xx: an error never leaves a partial file or an
// error page at Path (a file already there is left as it was). Two targets
// with the same Path are an error for the later one. Memory does not grow
// with file size.
func (m *Manager) GetBatchToFiles(ctx context.Context, targets []Target, opts ...BatchOption) []BatchResult {
	results := make([]BatchResult, len(targets))
	seen := make(map[string]int, len(targets))
	for i, t := range targets {
		results[i].URL, results[i].Path = t.URL, t.Path
		switch {
		case t.Path == "":
			results[i].Err = fmt.Errorf("throttlecache: target %d (%s): empty Path", i, redactURL(t.URL))
		default:
			key := filepath.Clean(t.Path)
			if abs, err := filepath.Abs(key); err == nil {
				key = abs
			}
			if j, dup := seen[key]; dup {
				results[i].Err = fmt.Errorf("throttlecache: target %d: Path %q is also the target of item %d", i, t.Path, j)
			} else {
				seen[key] = i
			}
		}
	}
	m.runBatch(ctx, results, opts, func(ctx context.Context, r *BatchResult, p *batchProgress) {
		r.Err = m.download(ctx, r, p)
	})
	return results
}

func (m *Manager) download(ctx context.Context, r *BatchResult, p *batchProgress) error {
	resp, err := m.get(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := statusErr(r, resp); err != nil {
		httpbody.Discard(resp.Body)
		return err
	}
	dir := filepath.Dir(r.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("throttlecache: %s: %w", r.Path, err)
	}
	f, err := os.CreateTemp(dir, tempPattern(filepath.Base(r.Path)))
	if err != nil {
		return fmt.Errorf("throttlecache: %s: %w", r.Path, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	r.Bytes, err = io.Copy(f, p.reader(resp.Body))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("throttlecache: GET %s: %w", redactURL(r.URL), ctx.Err())
		}
		return fmt.Errorf("throttlecache: GET %s to %s: %w", redactURL(r.URL), r.Path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("throttlecache: %s: %w", r.Path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("throttlecache: %s: %w", r.Path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("throttlecache: %s: %w", r.Path, err)
	}
	if err := os.Rename(f.Name(), r.Path); err != nil {
		return fmt.Errorf("throttlecache: %s: %w", r.Path, err)
	}
	committed = true
	return nil
}

// tempPattern is the os.CreateTemp pattern of a download's temporary file
// beside its target: ".NAME.part-*", with NAME cut (at a character
// boundary) so that the whole name, random digits included, stays within
// the 255 bytes a file name may have on common file systems, whatever the
// target's own length.
func tempPattern(base string) string {
	const maxBase = 255 - len(".") - len(".part-") - 20 // CreateTemp adds up to 20 digits
	if len(base) > maxBase {
		base = base[:maxBase]
		for !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
	}
	return "." + base + ".part-*"
}

// get sends one GET for a batch item and records status and cache outcome.
func (m *Manager) get(ctx context.Context, r *BatchResult) (*http.Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		// url.Error repeats the URL whole; name it with any password masked.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("throttlecache: bad URL %q: %w", redactURL(r.URL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("throttlecache: bad URL %q: need an absolute http or https URL", u.Redacted())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("throttlecache: bad URL %q: %w", u.Redacted(), err)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err // *url.Error: names the URL, password redacted
	}
	r.StatusCode = resp.StatusCode
	r.Cache = resp.Header.Get(CacheStatusHeader)
	return resp, nil
}

func statusErr(r *BatchResult, resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &StatusError{URL: redactURL(r.URL), StatusCode: resp.StatusCode, Status: resp.Status}
}

// runBatch runs do for every item without an error yet, on a fixed pool of
// workers that take items in input order.
func (m *Manager) runBatch(ctx context.Context, results []BatchResult, opts []BatchOption,
	do func(context.Context, *BatchResult, *batchProgress)) {
	cfg := batchConfig{concurrency: DefaultConcurrency}
	for _, o := range opts {
		o(&cfg)
	}
	p := &batchProgress{fn: cfg.progress, total: len(results)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cfg.concurrency, len(results)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(results) {
					return
				}
				r := &results[i]
				switch {
				case r.Err != nil:
				case ctx.Err() != nil:
					r.Err = fmt.Errorf("throttlecache: GET %s: not started: %w", redactURL(r.URL), context.Cause(ctx))
				default:
					do(ctx, r, p)
				}
				p.finished(i, r)
			}
		})
	}
	wg.Wait()
}

// batchProgress serialises progress reports.
type batchProgress struct {
	fn    func(Progress)
	total int

	mu     sync.Mutex
	done   int
	failed int
	bytes  int64
}

func (p *batchProgress) finished(i int, r *BatchResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if r.Err != nil {
		p.failed++
	}
	if p.fn != nil {
		p.fn(Progress{Done: p.done, Failed: p.failed, Total: p.total, Bytes: p.bytes, Index: i, Result: *r})
	}
}

// reader counts body bytes into the progress, reporting every MiB.
func (p *batchProgress) reader(r io.Reader) io.Reader {
	return &progressReader{r: r, p: p}
}

const progressStep = 1 << 20

type progressReader struct {
	r       io.Reader
	p       *batchProgress
	pending int64
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.pending += int64(n)
	if pr.pending >= progressStep || (err != nil && pr.pending > 0) {
		pr.flush()
	}
	return n, err
}

func (pr *progressReader) flush() {
	p := pr.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes += pr.pending
	report := pr.pending >= progressStep
	pr.pending = 0
	if report && p.fn != nil {
		p.fn(Progress{Done: p.done, Failed: p.failed, Total: p.total, Bytes: p.bytes, Index: -1})
	}
}

// redactURL returns s with the password of its user information replaced
// by "xxxxx", whether or not the rest of it parses.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	start := 0
	if i := strings.Index(s, "//"); i >= 0 {
		start = i + 2
	}
	auth := s[start:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	at := strings.LastIndex(auth, "@")
	colon := strings.Index(auth, ":")
	if at < 0 || colon < 0 || colon > at {
		return s
	}
	return s[:start+colon+1] + "xxxxx" + s[start+at:]
}
