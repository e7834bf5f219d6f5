package main

import (
	"context"
	"io"
	"net/http"
	"time"
)

// timeoutTransport limits each request, from sending it to the last byte of
// its body, to d. It is the base of the Manager's chain, below the limiter,
// so time spent waiting for the limiter does not count.
type timeoutTransport struct {
	next http.RoundTripper
	d    time.Duration
}

var _ http.RoundTripper = (*timeoutTransport)(nil)

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.d)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases the request's timer when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// newBase returns the base transport: http.DefaultTransport's settings (so
// proxies come from the environment), enough idle connections for batch
// fan-out, HTTP/1.1 only when forceHTTP1, and a per-request timeout when
// timeout > 0.
func newBase(forceHTTP1 bool, timeout time.Duration) (http.RoundTripper, *http.Transport) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	if forceHTTP1 {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP1(true)
	}
	if timeout <= 0 {
		return t, t
	}
	return &timeoutTransport{next: t, d: timeout}, t
}
