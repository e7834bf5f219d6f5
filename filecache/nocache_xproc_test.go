package filecache

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A stampede of no-cache requests on two Transports sharing a folder (two
// processes), all arriving before the origin answers: process B's leader,
// which waited on the file lock, finds the entry A stored from an answer
// given after B's requests arrived, and serves it. (It asked the origin
// again: once per process, not once per stampede.)
func TestNoCacheStampedeAcrossTransports(t *testing.T) {
	e := newEnv(t)
	other := e.reopen(t)
	var served atomic.Int32
	e.srv.HandleFunc("/p", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(300 * time.Millisecond) // every request arrives meanwhile
		e.clock.Advance(time.Second)       // and the answer comes after them
		w.Write([]byte("body"))
	})
	u := e.srv.URL + "/p"
	var wg sync.WaitGroup
	for _, tr := range []*Transport{e.tr, other, e.tr, other} {
		for range 5 {
			wg.Go(func() {
				r := get(t, tr, "GET", u, "Cache-Control", "no-cache")
				if r.status != 200 || string(r.body) != "body" {
					t.Errorf("%d %s %q", r.status, r.cache, r.body)
				}
			})
		}
	}
	wg.Wait()
	if n := served.Load(); n != 1 {
		t.Fatalf("origin asked %d times for 20 concurrent no-cache requests on two Transports, want 1", n)
	}
}
