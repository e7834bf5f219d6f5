package testserver

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
)

func TestStatus(t *testing.T) {
	s := newServer(t)
	c := rawClient(t)
	tests := []struct {
		name    string
		h       http.Handler
		method  string
		status  int
		body    string
		headers map[string]string
	}{
		{"429 with Retry-After", Status(429, "slow down", "Retry-After", "2"), "GET", 429, "slow down",
			map[string]string{"Retry-After": "2", "Content-Type": "text/plain; charset=utf-8", "Content-Length": "9"}},
		{"content type given", Status(200, "{}", "Content-Type", "application/json", "X-A", "1"), "GET", 200, "{}",
			map[string]string{"Content-Type": "application/json", "X-A": "1"}},
		{"HEAD", Status(503, "busy", "Retry-After", "1"), "HEAD", 503, "",
			map[string]string{"Retry-After": "1", "Content-Length": "4"}},
		{"204", Status(204, "ignored"), "GET", 204, "", nil},
		{"304", Status(304, "", "ETag", `"x"`), "GET", 304, "", map[string]string{"ETag": `"x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Handle("/s", tt.h)
			resp, body := do(t, c, tt.method, s.URL+"/s")
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			for k, v := range tt.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestStatusOddHeadersPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for an odd header list")
		}
	}()
	//lint:ignore SA5012 an odd list is what this test gives on purpose
	Status(200, "", "Retry-After")
}

func TestSequence(t *testing.T) {
	s := newServer(t)
	c := rawClient(t)
	s.Handle("/q", Sequence(Status(503, "a"), Status(429, "b"), Status(200, "c")))
	var got []string
	for range 5 {
		resp, body := do(t, c, "GET", s.URL+"/q")
		got = append(got, fmt.Sprintf("%d %s", resp.StatusCode, body))
	}
	want := []string{"503 a", "429 b", "200 c", "200 c", "200 c"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSequenceConcurrent(t *testing.T) {
	const n = 40
	var mu sync.Mutex
	seen := make(map[int]int)
	hs := make([]http.Handler, n)
	for i := range hs {
		hs[i] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			seen[i]++
		})
	}
	s := newServer(t)
	s.Handle("/q", Sequence(hs...))
	c := rawClient(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				resp, err := c.Get(s.URL + "/q")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if seen[i] != 1 {
			t.Errorf("handler %d served %d requests, want 1", i, seen[i])
		}
	}
}

func TestSequenceEmptyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for an empty Sequence")
		}
	}()
	Sequence()
}

func TestChunked(t *testing.T) {
	s := newServer(t)
	c := rawClient(t)
	for _, size := range []int{0, 1, 100, 100000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			want := make([]byte, size)
			for i := range want {
				want[i] = byte(i)
			}
			s.Handle("/c", Chunked(want))
			resp, body := do(t, c, "GET", s.URL+"/c")
			if resp.ContentLength != -1 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
				t.Errorf("Content-Length %d, Transfer-Encoding %q, want unknown and chunked", resp.ContentLength, resp.TransferEncoding)
			}
			if !slices.Equal(body, want) {
				t.Errorf("body of %d bytes differs", len(body))
			}
		})
	}
}
