package ratelimit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/time/rate"
)

// closingOrigin answers the first request of each connection and closes the
// connection, unanswered, on the second: net/http then sends that request
// again on a new connection, inside its own RoundTrip, and the origin sees
// it twice.
func closingOrigin(t *testing.T) (*httptest.Server, func() []time.Time) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		again := seen[r.RemoteAddr]
		seen[r.RemoteAddr] = true
		mu.Unlock()
		if again {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), arrivals...)
	}
}

// TestHiddenResendWaits: a request that net/http sends again on a new
// connection (the reused one closed under it) waits for the limiter like
// any other, for a Reserver and for a plain Limiter.
func TestHiddenResendWaits(t *testing.T) {
	const per = 300 * time.Millisecond
	for _, tt := range []struct {
		name string
		l    func(t *testing.T) Limiter
	}{
		{"SlidingWindow", func(t *testing.T) Limiter {
			l, err := NewSlidingWindow(1, per, &Options{Guard: -1})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}},
		{"rate.Limiter", func(*testing.T) Limiter { return rate.NewLimiter(rate.Every(per), 1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, arrivals := closingOrigin(t)
			base := &http.Transport{}
			t.Cleanup(base.CloseIdleConnections)
			c := &http.Client{Transport: New(base, tt.l(t))}
			for _, p := range []string{"/a", "/b"} {
				resp, err := c.Get(srv.URL + p)
				if err != nil {
					t.Fatalf("GET %s: %v", p, err)
				}
				io.Copy(io.Discard, resp.Body) // so that the connection is reused
				resp.Body.Close()
			}
			got := arrivals()
			if len(got) != 3 {
				t.Fatalf("the origin saw %d requests, want 3 (one sent again by net/http)", len(got))
			}
			for i := 1; i < len(got); i++ {
				if gap := got[i].Sub(got[i-1]); gap < per-30*time.Millisecond {
					t.Errorf("requests %d and %d reached the origin %v apart; the limit is one per %v", i, i+1, gap.Round(time.Millisecond), per)
				}
			}
		})
	}
}

// TestHiddenResendRefused: a resend that its limiter refuses (it would wait
// past WithMaxWait's bound) ends the round trip with the limiter's error.
// It is cancelled, not held back: net/http may pick a connection for it in
// the same instant and write it before it sees the cancellation (about one
// run in a few dozen under the race detector), so the origin's count is
// not asserted. The bound is a tenth of the period, so that only a resend
// delayed by nine tenths of it (a loaded machine) would be let through.
func TestHiddenResendRefused(t *testing.T) {
	const per = time.Second
	w, err := NewSlidingWindow(1, per, &Options{Guard: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := closingOrigin(t)
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	c := &http.Client{Transport: New(base, WithMaxWait(w, per/10))}
	resp, err := c.Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	time.Sleep(per) // /b is admitted at once; its resend would wait a period, past the bound
	if _, err := c.Get(srv.URL + "/b"); !errors.Is(err, ErrMaxWait) {
		t.Fatalf("GET /b with its resend refused: %v, want ErrMaxWait", err)
	}
}

// TestHTTP2Burst: concurrent requests on a fresh HTTP/2 transport, where
// net/http asks for a connection twice per request while it dials (not a
// resend), all go through, each once, with a plain window and with
// WithMaxWait.
func TestHTTP2Burst(t *testing.T) {
	var mu sync.Mutex
	arrivals := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals++
		mu.Unlock()
		w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name string
		wrap func(Limiter) Limiter
	}{{"window", func(l Limiter) Limiter { return l }}, {"WithMaxWait", func(l Limiter) Limiter { return WithMaxWait(l, 500*time.Millisecond) }}} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewSlidingWindow(10, time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			base := srv.Client().Transport.(*http.Transport).Clone()
			t.Cleanup(base.CloseIdleConnections)
			c := &http.Client{Transport: New(base, tt.wrap(w)), Timeout: 10 * time.Second}
			mu.Lock()
			arrivals = 0
			mu.Unlock()
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					resp, err := c.Get(srv.URL)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "HTTP/2.0" {
						t.Errorf("answered over %q, want HTTP/2.0", b)
					}
				})
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if arrivals != 10 {
				t.Fatalf("the origin saw %d requests, want 10", arrivals)
			}
		})
	}
}

// TestSwitchingProtocols: a 101 response's body stays an
// io.ReadWriteCloser through the stage, so that upgrades work.
func TestSwitchingProtocols(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(conn, rw) // echo
	}))
	t.Cleanup(srv.Close)
	w, err := NewSlidingWindow(10, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := New(&http.Transport{}, w).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		t.Fatalf("status %d, body %T: want 101 and an io.ReadWriteCloser", resp.StatusCode, resp.Body)
	}
	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(rw, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
}

// TestResendHoldsNoConnection: a resend waits for the limiter before it
// takes a connection. With one connection per host, a resend that held the
// connection while requests admitted before it waited for that connection
// would leave the window full of slots that never settle.
func TestResendHoldsNoConnection(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		again := seen[r.RemoteAddr]
		seen[r.RemoteAddr] = true
		mu.Unlock()
		if again && r.URL.Path == "/b" { // close the reused connection under /b: net/http sends it again
			time.Sleep(100 * time.Millisecond)
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	l, err := NewSlidingWindow(2, 300*time.Millisecond, &Options{Guard: -1})
	if err != nil {
		t.Fatal(err)
	}
	base := &http.Transport{MaxConnsPerHost: 1}
	t.Cleanup(base.CloseIdleConnections)
	c := &http.Client{Transport: New(base, l), Timeout: 3 * time.Second}
	get := func(p string) error {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	if err := get("/a"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = get("/b") })
	time.Sleep(30 * time.Millisecond)
	wg.Go(func() { errs[1] = get("/c") })
	wg.Go(func() { errs[2] = get("/d") })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
	}
}

// refusingH2C is an unencrypted HTTP/2 origin that refuses the first
// stream of each connection (REFUSED_STREAM) and answers the others.
func refusingH2C(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				fr := http2.NewFramer(c, c)
				fr.WriteSettings()
				refused := false
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						return
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if !f.IsAck() {
							fr.WriteSettingsAck()
						}
					case *http2.HeadersFrame:
						if !refused {
							refused = true
							fr.WriteRSTStream(f.StreamID, http2.ErrCodeRefusedStream)
							continue
						}
						var hb bytes.Buffer
						enc := hpack.NewEncoder(&hb)
						enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
						enc.WriteField(hpack.HeaderField{Name: "content-length", Value: "0"})
						fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
					}
				}
			}(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestH2CRetryWaitsForNothing: an unencrypted HTTP/2 retry after
// REFUSED_STREAM is not a resend, and never waits for the limiter in
// GetConn, which HTTP/2 calls under its pool's lock: a request to another
// host through the same transport is not held up by it.
func TestH2CRetryWaitsForNothing(t *testing.T) {
	l, err := NewSlidingWindow(1, 5*time.Second, &Options{Guard: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := refusingH2C(t), refusingH2C(t)
	base := &http.Transport{Protocols: new(http.Protocols)}
	base.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(base.CloseIdleConnections)
	c := &http.Client{Transport: New(base, l), Timeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		resp, err := c.Get(a + "/x")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	resp, err := (&http.Client{Transport: base, Timeout: 10 * time.Second}).Get(b + "/y")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a request to another host waited %v behind a limited h2c retry", d.Round(time.Millisecond))
	}
	if err := <-done; err != nil {
		t.Fatalf("the limited h2c request: %v", err)
	}
}
