package cache

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// TestGetAfterPostStartsAfresh: a GET sent after a POST to the URL
// completed is not answered from a download that started before the POST
// (v1), which the flight it would have joined is still running.
func TestGetAfterPostStartsAfresh(t *testing.T) {
	release := make(chan struct{})
	var gets atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			io.WriteString(w, "updated")
			return
		}
		if gets.Add(1) == 1 {
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "v1")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "v1")
			return
		}
		io.WriteString(w, "v2v2")
	}, Options{})
	c := &http.Client{Transport: tr}
	first, err := c.Get(srv.URL + "/doc")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	if _, err := io.ReadFull(first.Body, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	post, err := c.Post(srv.URL+"/doc", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, post.Body)
	post.Body.Close()
	// The POST is complete. A GET now:
	done := make(chan struct{})
	var body, status string
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/doc", nil)
		resp, err := c.Do(req)
		if err != nil {
			body = "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body, status = string(b), resp.Header.Get(cachestatus.Header)
	}()
	time.Sleep(200 * time.Millisecond)
	close(release)
	<-done
	if body != "v2v2" {
		t.Fatalf("GET after the POST: %q (X-Cache %s), want v2v2 from the origin: the pre-POST download was served", body, status)
	}
}
