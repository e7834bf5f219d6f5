package cache

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestCloseEndsAStalledDownload: a caller holds a body open (neither
// reads nor closes it) while the origin stops sending; Close gives the
// download up once it stalls, and returns.
func TestCloseEndsAStalledDownload(t *testing.T) {
	hold := make(chan struct{})
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4")
		io.WriteString(w, "ab")
		w.(http.Flusher).Flush()
		<-hold
	}, Options{StallAfter: 100 * time.Millisecond})
	t.Cleanup(func() { close(hold) })
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp // held: never read, never closed
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() { tr.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Transport.Close still blocked after 3s on a download whose origin stalled")
	}
}
