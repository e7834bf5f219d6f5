package ratelimit

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/throttlecache/throttlecache/rules"
)

// The EDGAR preset: SEC EDGAR allows "no more than 10 requests per second,
// regardless of the number of machines used", and blocks a client that
// exceeds it for 10 minutes (continuing extends the block).
const (
	// EDGARHosts matches every SEC host: sec.gov itself, www.sec.gov,
	// data.sec.gov, efts.sec.gov and the rest. Unlike the cache rules'
	// `.*\.sec\.gov` it includes the bare sec.gov and is anchored at the
	// end: the limit belongs to the SEC's servers and to no others.
	EDGARHosts = `(?:.*\.)?sec\.gov$`

	// EDGARRequests is the preset's limit: at most 9 requests in any
	// window of one second (plus the guard, 25 ms), which sustains about
	// 8.8 requests per second. A limiter shared between processes or
	// machines for the SEC's hosts takes it with a period of one second.
	//
	// Why 9 and not 10: the SEC counts arrivals at its edge, not our
	// admissions. The sliding window is strict where requests leave, and
	// its guard absorbs the usual few milliseconds of jitter; but a
	// request held back by a lost packet (a retransmission takes 200 ms or
	// more) or a new TLS connection can land in the next second together
	// with that second's own requests. One request of headroom absorbs
	// such a straggler, and the average rate stays about 10% below the
	// 9.7 per second at which clients with looser limiters have been
	// blocked. The price, 12% of the nominal throughput, is small next to
	// a 10-minute block.
	EDGARRequests = 9
)

const (
	edgarPeriod = time.Second

	// edgarBlockPause is how long the SEC blocks a client that exceeded
	// its limit, and so how long EDGARBlock pauses the SEC's hosts.
	edgarBlockPause = 10 * time.Minute

	// edgarBlockTitle is the title of the page the SEC serves, with status
	// 403, to a blocked client.
	edgarBlockTitle = "Request Rate Threshold Exceeded"
)

// NewEDGARLimiter returns the EDGAR preset: a PerHost that sends the
// requests to EDGARHosts through sec, with one pause for all of them, and
// every other host through no limit, with a pause per host. sec is the
// limiter the SEC's hosts share; nil means a SlidingWindow of
// EDGARRequests per second in this process. Pass a limiter from
// NewFileLimiter or NewRedisLimiter of EDGARRequests per second to share
// the limit between processes or machines.
//
// The result is both the Limiter of the rate-limit stage and the Pauser of
// the retry stage; opts (nil for the defaults) gives the logger of its
// pauses, and the clock and guard of the default window.
func NewEDGARLimiter(sec Limiter, opts *Options) (*PerHost, error) {
	if sec == nil {
		w, err := NewSlidingWindow(EDGARRequests, edgarPeriod, opts)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: EDGAR preset: %w", err)
		}
		sec = w
	}
	return NewPerHost([]HostLimit{{Pattern: EDGARHosts, Limiter: sec}}, nil, opts)
}

// The reasons EDGARBlock gives for a pause.
const (
	reasonBlockPage = "rate-threshold-page"     // a 403 carrying the SEC's block page
	reasonBlock429  = "429-without-retry-after" // a 429 without Retry-After from an SEC host
)

var edgarHosts = func() *regexp.Regexp {
	re, err := rules.CompilePattern(EDGARHosts)
	if err != nil {
		panic(err) // a constant
	}
	return re
}()

// EDGARBlock recognises the SEC's block, for the retry stage's Block hook
// (the Manager installs it): a 403 from an SEC host whose page is titled
// the SEC's block-page title ("Request Rate Threshold Exceeded"), or a 429 without Retry-After from one. Either pauses the
// SEC's hosts for ten minutes, the length of the SEC's block. It looks at most 8 KiB into a 403's body
// and puts back a body that reads exactly what the original would have.
func EDGARBlock(req *http.Request, resp *http.Response) (time.Duration, string) {
	host := req.Host
	if req.URL != nil && req.URL.Host != "" {
		host = req.URL.Host
	}
	if !edgarHosts.MatchString(rules.Hostname(host)) {
		return 0, ""
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "":
		return edgarBlockPause, reasonBlock429
	case resp.StatusCode == http.StatusForbidden && peekFor(resp, edgarBlockTitle):
		return edgarBlockPause, reasonBlockPage
	}
	return 0, ""
}

// peekFor reports whether the first 8 KiB of resp's body hold title, in
// any case, and puts back a body that reads the bytes it peeked at, then
// the rest (or the error the read met).
func peekFor(resp *http.Response, title string) bool {
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	buf := make([]byte, 8<<10)
	n, err := io.ReadFull(resp.Body, buf)
	buf = buf[:n]
	rest := io.Reader(resp.Body)
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		rest = bytes.NewReader(nil)
	default:
		rest = errReader{err}
	}
	resp.Body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), rest), Closer: resp.Body}
	return bytes.Contains(bytes.ToLower(buf), bytes.ToLower([]byte(title)))
}

type peekedBody struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
