package testserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestSlow(t *testing.T) {
	s := newServer(t)
	s.Handle("/s", Slow(Status(200, "done"), 50*time.Millisecond))
	c := rawClient(t)
	start := time.Now()
	resp, body := do(t, c, "GET", s.URL+"/s")
	if resp.StatusCode != 200 || string(body) != "done" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered after %v, want at least 50ms", d)
	}
}

func TestSlowHonoursCancellation(t *testing.T) {
	s := newServer(t)
	called := make(chan struct{}, 1)
	returned := make(chan struct{}, 1)
	s.HandleFunc("/s", func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		Slow(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} }), time.Hour).ServeHTTP(w, r)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/s", nil)
	if _, err := rawClient(t).Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v, want the deadline", err)
	}
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Slow kept waiting after the client left")
	}
	select {
	case <-called:
		t.Error("Slow called its handler for a client that left")
	default:
	}
}

func TestSlowBody(t *testing.T) {
	s := newServer(t)
	body := []byte("0123456789")
	s.Handle("/b", SlowBody(body, 3, 10*time.Millisecond))
	start := time.Now()
	resp, got := do(t, rawClient(t), "GET", s.URL+"/b")
	if string(got) != string(body) || resp.ContentLength != int64(len(body)) {
		t.Errorf("got %q with Content-Length %d", got, resp.ContentLength)
	}
	if d := time.Since(start); d < 30*time.Millisecond { // four chunks, three pauses
		t.Errorf("took %v, want at least 30ms", d)
	}
}

func TestSlowBodyHonoursCancellation(t *testing.T) {
	s := newServer(t)
	returned := make(chan struct{}, 1)
	slow := SlowBody(make([]byte, 1000), 1, time.Hour)
	s.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		slow.ServeHTTP(w, r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/b", nil)
	resp, err := rawClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != 1000 {
		t.Errorf("Content-Length %d, want 1000", resp.ContentLength)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
		t.Fatalf("first byte: %v", err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("reading after cancel succeeded")
	}
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("SlowBody kept going after the client left")
	}
}
