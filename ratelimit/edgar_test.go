package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/retry"
)

// trackBody records whether it was closed.
type trackBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackBody) Close() error { b.closed.Store(true); return nil }

func canned(req *http.Request, status int, body string, header ...string) (*http.Response, *trackBody) {
	b := &trackBody{Reader: strings.NewReader(body)}
	h := make(http.Header)
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: b, Request: req}, b
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const blockPage = "<html><head><TITLE>Request Rate Threshold Exceeded</TITLE></head><body>Your request rate is too high.</body></html>"

func TestEDGARBlock(t *testing.T) {
	page := strings.Repeat(" ", 1000) + strings.ToLower(blockPage)
	tests := []struct {
		name, url   string
		status      int
		body        string
		header      []string
		wantPause   time.Duration
		wantReason  string
		wantUnmoved bool // the body must read as it came
	}{
		{name: "403 block page", url: "https://www.sec.gov/cgi-bin/browse-edgar", status: 403, body: page,
			wantPause: 10 * time.Minute, wantReason: "rate-threshold-page"},
		{name: "429 without Retry-After", url: "https://data.sec.gov/submissions/CIK0000320193.json", status: 429,
			wantPause: 10 * time.Minute, wantReason: "429-without-retry-after"},
		{name: "bare sec.gov, any case, a port", url: "https://SEC.GOV:443/x", status: 429,
			wantPause: 10 * time.Minute, wantReason: "429-without-retry-after"},
		{name: "429 with Retry-After is the retry stage's", url: "https://www.sec.gov/x", status: 429, header: []string{"Retry-After", "3"}},
		{name: "another 403", url: "https://www.sec.gov/x", status: 403, body: "Your User-Agent is not declared"},
		{name: "the page from another host", url: "https://sec.gov.example.com/x", status: 403, body: blockPage},
		{name: "a 429 from another host", url: "https://example.com/x", status: 429},
		{name: "the title past the first 8 KiB", url: "https://www.sec.gov/x", status: 403, body: strings.Repeat(".", 8<<10) + blockPage},
		{name: "200 with the title", url: "https://www.sec.gov/x", status: 200, body: blockPage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
			resp, _ := canned(req, tt.status, tt.body, tt.header...)
			pause, reason := ratelimit.EDGARBlock(req, resp)
			if pause != tt.wantPause || reason != tt.wantReason {
				t.Errorf("EDGARBlock = %v %q, want %v %q", pause, reason, tt.wantPause, tt.wantReason)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil || string(b) != tt.body {
				t.Errorf("body after EDGARBlock: %d bytes, %v; want the %d bytes that came", len(b), err, len(tt.body))
			}
		})
	}
}

// TestEDGARBlockKeepsReadErrors: a 403 whose body fails after a few bytes
// reads those bytes and then the error, and closing closes the original.
func TestEDGARBlockKeepsReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	orig := &trackBody{Reader: io.MultiReader(strings.NewReader("partial"), errorReader{boom})}
	req, _ := http.NewRequest(http.MethodGet, "https://www.sec.gov/x", nil)
	resp := &http.Response{StatusCode: 403, Header: http.Header{}, Body: orig}
	if pause, _ := ratelimit.EDGARBlock(req, resp); pause != 0 {
		t.Fatalf("pause %v for a page without the title", pause)
	}
	b, err := io.ReadAll(resp.Body)
	if string(b) != "partial" || !errors.Is(err, boom) {
		t.Fatalf("read %q, %v; want the peeked bytes then the error", b, err)
	}
	resp.Body.Close()
	if !orig.closed.Load() {
		t.Fatal("closing the peeked body did not close the original")
	}
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }

// TestEDGARBlockThroughRetry: installed as the retry stage's Block, the
// SEC's block pauses the SEC's hosts for 10 minutes; a request whose deadline
// comes sooner gets the block page back at once.
func TestEDGARBlockThroughRetry(t *testing.T) {
	big := bytes.Repeat([]byte("forbidden, and not because of the rate. "), 2000)
	var first *trackBody
	n := 0
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n++
		switch r.URL.Path {
		case "/big":
			resp, _ := canned(r, 403, string(big))
			return resp, nil
		}
		var resp *http.Response
		resp, first = canned(r, 403, blockPage)
		return resp, nil
	})
	l, err := ratelimit.NewEDGARLimiter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := retry.New(next, retry.Options{Block: ratelimit.EDGARBlock, Pauser: l})
	if err != nil {
		t.Fatal(err)
	}

	// Another 403 reaches the caller byte for byte, sent once.
	req, _ := http.NewRequest(http.MethodGet, "https://www.sec.gov/big", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !bytes.Equal(b, big) || n != 1 {
		t.Fatalf("got %d, %d bytes after %d attempts; want 403, %d bytes, 1 attempt", resp.StatusCode, len(b), n, len(big))
	}

	// The block page: the request cannot wait 10 minutes within its
	// deadline, so it comes back, and the limiter holds the SEC's hosts.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "https://www.sec.gov/cgi-bin/browse-edgar", nil)
	resp, err = rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := l.Stats(); s.Pauses != 1 || s.PauseReasons["rate-threshold-page"] != 1 {
		t.Fatalf("limiter Stats = %+v", s)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer wcancel()
	if _, err := l.Reserve(wctx, "data.sec.gov"); !errors.Is(err, ratelimit.ErrPaused) {
		t.Fatalf("a request to data.sec.gov during the block = %v, want ErrPaused", err)
	}
	if s := rt.Stats(); s.Blocks != 1 || s.Pauses["rate-threshold-page"] != 1 {
		t.Fatalf("Stats = %+v", s)
	}
	if first == nil || n != 2 {
		t.Fatalf("%d attempts; the block page was sent once", n)
	}
}
