package testserver

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

func TestTruncatedBodies(t *testing.T) {
	body := []byte(strings.Repeat("abcdefghij", 1000))
	tests := []struct {
		name  string
		h     http.Handler
		n     int
		reset bool
	}{
		{"short", Short(body, 100), 100, false},
		{"short nothing", Short(body, 0), 0, false},
		{"short clamped", Short(body, -5), 0, false},
		{"reset", ResetAfter(body, 100), 100, true},
		{"reset nothing", ResetAfter(body, 0), 0, true},
		{"reset most", ResetAfter(body, len(body)-1), len(body) - 1, true},
	}
	s := newServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Handle("/t", tt.h)
			resp, err := rawClient(t).Get(s.URL + "/t")
			if err != nil {
				t.Fatalf("Get: %v (the headers should arrive intact)", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) {
				t.Fatalf("status %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
			}
			got, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("read %d bytes without an error", len(got))
			}
			if len(got) > tt.n || string(got) != string(body[:len(got)]) {
				t.Errorf("read %d bytes, want a prefix of at most %d", len(got), tt.n)
			}
			if !tt.reset && (len(got) != tt.n || !errors.Is(err, io.ErrUnexpectedEOF)) {
				t.Errorf("read %d bytes then %v, want %d then unexpected EOF", len(got), err, tt.n)
			}
			if tt.reset && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("error %v, want a reset or an unexpected EOF", err)
			}
			t.Logf("read %d bytes, then %v", len(got), err)
		})
	}
}

func TestReset(t *testing.T) {
	s := newServer(t)
	s.Handle("/r", Reset())
	resp, err := rawClient(t).Get(s.URL + "/r")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want no response", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("error %v, want a reset or an EOF", err)
	}
	t.Logf("Get: %v", err)
}
