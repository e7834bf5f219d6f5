package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/rules"
)

// edgarLimiter returns the limiter of -edgar: the SEC's hosts
// (ratelimit.EDGARHosts) share a window of ratelimit.EDGARRequests (9) per
// second, or rps when lower: 9 rather than the SEC's 10 leaves a margin for
// requests that a new connection or a lost packet delays into the next
// second (clients have been blocked at 9.7 per second). Other hosts share
// rps.
func edgarLimiter(rps float64) (ratelimit.Limiter, error) {
	sec, err := newWindow(min(rps, ratelimit.EDGARRequests))
	if err != nil {
		return nil, err
	}
	other, err := newWindow(rps)
	if err != nil {
		return nil, err
	}
	l, err := ratelimit.NewPerHost([]ratelimit.HostLimit{{Pattern: ratelimit.EDGARHosts, Limiter: sec}}, other, nil)
	if err != nil {
		return nil, fmt.Errorf("-edgar: %w", err)
	}
	return l, nil
}

// newWindow returns a strict limiter of r requests per second, as the
// Manager builds from Config.RequestsPerSecond: whole requests per second,
// rounded down, or one request every 1/r seconds below one per second.
func newWindow(r float64) (*ratelimit.SlidingWindow, error) {
	if r >= 1 {
		return ratelimit.NewSlidingWindow(int(min(math.Floor(r), math.MaxInt32)), time.Second, nil)
	}
	return ratelimit.NewSlidingWindow(1, time.Duration(float64(time.Second)/r), nil)
}

// getOptions holds the flags of get.
type getOptions struct {
	input       string
	outDir      string
	rps         float64
	concurrency int
	cacheMode   string
	cacheDir    string
	rulesFile   string
	edgar       bool
	userAgent   string
	s3Bucket    string
	s3Prefix    string
	timeout     time.Duration
	forceHTTP1  bool
	progress    string
	logEvery    time.Duration
	quiet       bool
}

const getSynopsis = `
Usage: throttlecache get [flags] [URL...]

Downloads URLs given as arguments and/or listed in a file (-i), at most -rps
requests per second, through a cache. With -o DIR each URL's body is written
to DIR/<host>/<path>; a file appears only when it is complete. Without -o a
single URL is written to standard output; more URLs need -o.

A list has one URL a line; blank lines and lines starting with # are skipped.
"URL<TAB>path" puts that URL at path, relative to -o (which it may not
leave). Paths from URLs: the query is kept in the name after %3F, unsafe
characters become %XX, names over 200 bytes are shortened with a hash, and
when two URLs would get the same file (or a file would be a folder another
URL needs) the later one gets ~2, ~3… before its extension. The same URL
twice is downloaded once.

Progress goes to standard error: a live bar on a terminal, plain lines
otherwise. The summary at the end counts items downloaded, served from the
cache, revalidated and failed, and lists the failures.

Exit status: 0 when every item succeeded, 1 when any failed, 2 for bad usage
or configuration, 130 after Ctrl-C (128 + the signal number; SIGTERM: 143).
After Ctrl-C no partial file is left at any target path. A second Ctrl-C
stops at once.
`

const getExamples = `
  throttlecache get -o out https://example.com/a.pdf https://example.com/b.pdf
  throttlecache get -o out -i urls.txt -rps 5 -concurrency 4
  grep -v '^#' urls.txt | throttlecache get -o out -i -
  throttlecache get https://example.com/data.json > data.json
  export THROTTLECACHE_USER_AGENT="Example Corp admin@example.com"
  throttlecache get -edgar -o filings -i edgar-urls.txt
  throttlecache get -rules rules.json -o out -i urls.txt   # rules.json: {"example\\.com": {"/static/": true, "/api/": 600}}
`

func getFlags(o *getOptions) *flag.FlagSet {
	fs := newFlagSet("get")
	fs.StringVar(&o.input, "i", "", "read URLs from `FILE`, one a line (\"-\": standard input), e.g. -i urls.txt")
	fs.StringVar(&o.outDir, "o", "", "write files under `DIR` (created if missing), e.g. -o out: https://h/a/b.htm goes to out/h/a/b.htm")
	fs.Float64Var(&o.rps, "rps", throttlecache.DefaultRequestsPerSecond,
		fmt.Sprintf("at most `N` requests start in any one-second window, e.g. -rps 5 (with -edgar, SEC hosts get at most %d)", ratelimit.EDGARRequests))
	fs.IntVar(&o.concurrency, "concurrency", throttlecache.DefaultConcurrency, "download at most `N` files at once, e.g. -concurrency 4 (the rate, not this, sets the pace)")
	fs.StringVar(&o.cacheMode, "cache-mode", "", "`MODE`: disabled, filecache, rfc-file or rfc-s3, e.g. -cache-mode rfc-file\n(default: filecache with -rules or -edgar, rfc-s3 with -s3-bucket, disabled otherwise;\nfilecache keeps only what the rules cover)")
	fs.StringVar(&o.cacheDir, "cache-dir", "", "cache `DIR` for filecache and rfc-file, e.g. -cache-dir ~/.cache/edgar\n(default: throttlecache/<mode> in the user cache folder, "+defaultCacheHint()+")")
	fs.StringVar(&o.rulesFile, "rules", "", "cache rules in JSON `FILE`, e.g. -rules rules.json with {\"example\\\\.com\": {\"/static/\": true, \"/api/\": 600}}\n(site regex → path regex → seconds, true: for ever, false: never); they come before -edgar's")
	fs.BoolVar(&o.edgar, "edgar", false, fmt.Sprintf("SEC EDGAR preset: the EDGAR cache rules (so -cache-mode filecache), at most %d requests per second\n"+
		"to SEC hosts (below the SEC's 10: clients have been blocked at 9.7/s, and a request delayed by a new\n"+
		"connection can land in the next second), and a required User-Agent,\ne.g. -edgar -user-agent \"Example Corp admin@example.com\"", ratelimit.EDGARRequests))
	fs.StringVar(&o.userAgent, "user-agent", "", "User-Agent `TEXT` sent with every request, e.g. -user-agent \"Example Corp admin@example.com\"\n(default: $"+envUA+", else throttlecache/VERSION; the SEC refuses requests without one naming you)")
	fs.StringVar(&o.s3Bucket, "s3-bucket", "", "S3 `BUCKET` for -cache-mode rfc-s3 (credentials from the usual AWS configuration), e.g. -s3-bucket my-cache")
	fs.StringVar(&o.s3Prefix, "s3-prefix", "", "key `PREFIX` inside -s3-bucket, e.g. -s3-prefix throttlecache/")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up on one request after `DURATION` (from sending it to its last byte; 0: never), e.g. -timeout 30s")
	fs.BoolVar(&o.forceHTTP1, "force-http1", false, "speak HTTP/1.1 only (long jobs have seen HTTP/2 connection resets), e.g. -force-http1")
	fs.StringVar(&o.progress, "progress", "auto", "`MODE`: auto (a bar on a terminal, lines otherwise), bar, lines or none, e.g. -progress lines")
	fs.DurationVar(&o.logEvery, "log-every", 5*time.Second, "with plain lines, print a progress summary every `DURATION` (0: never), e.g. -log-every 1m")
	fs.BoolVar(&o.quiet, "q", false, "quiet: no progress and no summary, only failures, e.g. -q")
	return fs
}

// defaultCacheHint shows where the default cache folder is.
func defaultCacheHint() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, programName)
	}
	return "unknown here: give -cache-dir"
}

// defaultCacheDir returns the cache folder for mode when -cache-dir is not
// given: one per mode, since their formats differ.
func defaultCacheDir(mode throttlecache.CacheMode) (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", usagef("no user cache folder (%v): give -cache-dir", err)
	}
	return filepath.Join(d, programName, string(mode)), nil
}

func runGet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o getOptions
	fs := getFlags(&o)
	urls, err := parseFlags(fs, "get", args)
	if errors.Is(err, errHelp) {
		return printHelp(stdout, fs, getSynopsis, getExamples)
	}
	if err != nil {
		return report(stderr, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return report(stderr, o.run(ctx, set, urls, stdin, stdout, stderr))
}

// statusError carries an exit status that has been explained already.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (o *getOptions) run(ctx context.Context, set map[string]bool, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := o.config(set, stderr)
	if err != nil {
		return err
	}
	var items []item
	for _, a := range args {
		items = append(items, item{URL: a})
	}
	if o.input != "" {
		more, err := readInput(o.input, stdin)
		if err != nil {
			return err
		}
		items = append(items, more...)
	}
	if len(items) == 0 {
		return usagef("get: no URLs: give them as arguments or in a list with -i FILE (see %s get -h)", programName)
	}
	toStdout := false
	if o.outDir == "" {
		for _, it := range items {
			if it.Path != "" {
				return usagef("%s gives a path: paths are relative to -o DIR, so give -o (-o . for here)", it.Source)
			}
		}
		if len(items) > 1 {
			return usagef("get: %d URLs need -o DIR (without -o a single URL goes to standard output)", len(items))
		}
		toStdout = true
	}
	mode, err := parseProgress(o.progress, stderr)
	if err != nil {
		return err
	}
	if o.quiet {
		mode = progressNone
	}

	base, tr := newBase(o.forceHTTP1, o.timeout)
	defer tr.CloseIdleConnections()
	cfg.Base = base
	m, err := throttlecache.New(cfg)
	if err != nil {
		return usagef("%v", err)
	}
	defer m.Close()

	var sum summary
	if toStdout {
		sum = o.getToStdout(ctx, m, items[0], stdout)
	} else {
		sum, err = o.getToFiles(ctx, m, items, mode, stderr)
		if err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		sum.Interrupted = true
	}
	switch {
	case !o.quiet:
		sum.print(stderr)
	case len(sum.Failures) > 0:
		for _, f := range sum.Failures {
			fmt.Fprintf(stderr, "FAIL  %s: %s\n", f.URL, f.Reason)
		}
	}
	if sum.Interrupted {
		if !o.quiet {
			fmt.Fprintln(stderr, "Stopped: no partial file was left at any target; unfinished items were not written.")
		}
		return &statusError{code: interruptStatus(ctx)}
	}
	if !sum.ok() {
		return &statusError{code: exitFailed}
	}
	return nil
}

// config turns the flags into a Manager configuration.
func (o *getOptions) config(set map[string]bool, stderr io.Writer) (throttlecache.Config, error) {
	var cfg throttlecache.Config
	if o.concurrency < 1 {
		return cfg, usagef("-concurrency %d: must be at least 1", o.concurrency)
	}
	if o.timeout < 0 {
		return cfg, usagef("-timeout %v: must not be negative", o.timeout)
	}
	if o.logEvery < 0 {
		return cfg, usagef("-log-every %v: must not be negative", o.logEvery)
	}
	cfg.RequestsPerSecond = o.rps
	if !(o.rps > 0) || o.rps > 100_000 {
		return cfg, usagef("-rps %v: must be a number of requests per second above 0, at most 100000", o.rps)
	}

	cfg.UserAgent = strings.TrimSpace(o.userAgent)
	if !set["user-agent"] {
		cfg.UserAgent = strings.TrimSpace(os.Getenv(envUA))
	}
	if strings.ContainsAny(cfg.UserAgent, "\r\n") {
		return cfg, usagef("-user-agent: %q contains a line break", cfg.UserAgent)
	}
	if o.edgar {
		l, err := edgarLimiter(o.rps)
		if err != nil {
			return cfg, usagef("-rps %v: %v", o.rps, err)
		}
		cfg.Limiter = l
		if cfg.UserAgent == "" {
			return cfg, usagef("-edgar needs a User-Agent that names you: -user-agent \"Example Corp admin@example.com\" or $%s (the SEC refuses requests without one)", envUA)
		}
		if !strings.Contains(cfg.UserAgent, "@") {
			fmt.Fprintf(stderr, "%s: warning: the SEC asks for a User-Agent with a contact e-mail address, such as \"Example Corp admin@example.com\"\n", programName)
		}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = programName + "/" + version()
	}

	if o.rulesFile != "" {
		data, err := os.ReadFile(o.rulesFile)
		if err != nil {
			return cfg, usagef("-rules: %v", err)
		}
		r, err := rules.ParseJSON(data)
		if err != nil {
			return cfg, usagef("-rules %s: %v", o.rulesFile, err)
		}
		cfg.Rules = r
	}
	if o.edgar {
		cfg.Rules = append(cfg.Rules, rules.EDGAR.Clone()...)
	}

	switch {
	case set["cache-mode"]:
		cfg.CacheMode = throttlecache.CacheMode(o.cacheMode)
		switch cfg.CacheMode {
		case throttlecache.Disabled, throttlecache.FileCache, throttlecache.RFCFile, throttlecache.RFCS3:
		default:
			return cfg, usagef("-cache-mode %q: use disabled, filecache, rfc-file or rfc-s3", o.cacheMode)
		}
	case o.s3Bucket != "":
		cfg.CacheMode = throttlecache.RFCS3
	case len(cfg.Rules) > 0:
		cfg.CacheMode = throttlecache.FileCache
	default:
		cfg.CacheMode = throttlecache.Disabled
	}
	if (o.s3Bucket != "" || o.s3Prefix != "") && cfg.CacheMode != throttlecache.RFCS3 {
		return cfg, usagef("-s3-bucket and -s3-prefix go with -cache-mode rfc-s3, not %s", cfg.CacheMode)
	}
	if cfg.CacheMode == throttlecache.RFCS3 && o.s3Bucket == "" {
		return cfg, usagef("-cache-mode rfc-s3 needs -s3-bucket")
	}
	cfg.S3Bucket, cfg.S3Prefix = o.s3Bucket, o.s3Prefix
	switch cfg.CacheMode {
	case throttlecache.FileCache, throttlecache.RFCFile:
		cfg.CacheDir = o.cacheDir
		if cfg.CacheDir == "" {
			d, err := defaultCacheDir(cfg.CacheMode)
			if err != nil {
				return cfg, err
			}
			cfg.CacheDir = d
		}
	default:
		if set["cache-dir"] {
			return cfg, usagef("-cache-dir goes with -cache-mode filecache or rfc-file, not %s", cfg.CacheMode)
		}
	}
	if cfg.CacheMode == throttlecache.FileCache && len(cfg.Rules) == 0 {
		fmt.Fprintf(stderr, "%s: warning: -cache-mode filecache without -rules or -edgar caches nothing\n", programName)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg, nil
}

// getToFiles downloads items into files under -o.
func (o *getOptions) getToFiles(ctx context.Context, m *throttlecache.Manager, items []item, mode progressMode, stderr io.Writer) (summary, error) {
	plans, err := plan(items, o.outDir)
	if err != nil {
		return summary{}, err
	}
	var targets []throttlecache.Target
	index := make([]int, len(plans)) // plan → target, or -1
	for i, p := range plans {
		index[i] = -1
		if p.Err == nil && p.DupOf < 0 {
			index[i] = len(targets)
			targets = append(targets, throttlecache.Target{URL: p.URL, Path: p.Target})
		}
	}
	start := time.Now()
	rep := newReporter(mode, stderr, len(targets), o.logEvery, func() int64 { return m.Stats().Network.Requests })
	for _, p := range plans {
		if p.Err != nil {
			rep.failedEarly(p.Source, p.URL, p.Err)
		}
	}
	results := m.GetBatchToFiles(ctx, targets,
		throttlecache.WithConcurrency(o.concurrency),
		throttlecache.WithProgress(rep.update))
	rep.close()

	sum := summary{Elapsed: time.Since(start), Network: m.Stats().Network.Requests}
	for i, p := range plans {
		switch {
		case p.Err != nil:
			sum.Items++
			sum.Failed++
			sum.Failures = append(sum.Failures, failure{URL: p.URL, Source: p.Source, Reason: p.Err.Error()})
		case p.DupOf >= 0:
			sum.Items++
			sum.Duplicates++
		default:
			sum.add(results[index[i]], p.Source)
		}
	}
	return sum, nil
}

// getToStdout streams one URL's body to stdout.
func (o *getOptions) getToStdout(ctx context.Context, m *throttlecache.Manager, it item, stdout io.Writer) summary {
	start := time.Now()
	r := throttlecache.BatchResult{URL: it.URL}
	r.Err = func() error {
		u, err := parseURL(it.URL)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		resp, err := m.Client().Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		r.StatusCode = resp.StatusCode
		r.Cache = resp.Header.Get(throttlecache.CacheStatusHeader)
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return &throttlecache.StatusError{URL: u.Redacted(), StatusCode: resp.StatusCode, Status: resp.Status}
		}
		r.Bytes, err = io.Copy(stdout, resp.Body)
		if err != nil {
			return fmt.Errorf("GET %s: %w", u.Redacted(), err)
		}
		return nil
	}()
	sum := summary{Elapsed: time.Since(start), Network: m.Stats().Network.Requests}
	sum.add(r, it.Source)
	return sum
}
