package cache

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cachestatus"
)

// TestNoCacheNewerAnswerDoesNotKeepOlderVariantDownload: while A's
// download runs, B1 leads a download of B of its own. A no-cache request
// for B then joins A's flight (it knows no Vary), moves to B's flight, asks
// the origin beside B1's download and gets a newer B, which keeps B1's
// older download from being stored (README): a later request for B is not
// a HIT of the older body.
func TestNoCacheNewerAnswerDoesNotKeepOlderVariantDownload(t *testing.T) {
	holdA, holdB := make(chan struct{}), make(chan struct{})
	var bVersion atomic.Int32
	tr, srv := newEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		if r.Header.Get("Accept-Language") == "a" {
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "aa")
			w.(http.Flusher).Flush()
			<-holdA
			io.WriteString(w, "aa")
			return
		}
		v := bVersion.Add(1)
		w.Header().Set("Content-Length", "4")
		io.WriteString(w, "v"+strconv.Itoa(int(v)))
		if r.Header.Get("Cache-Control") == "" { // B1's download is slow
			w.(http.Flusher).Flush()
			<-holdB
		}
		io.WriteString(w, "xx")
	}, Options{Policy: varyAll{}})
	var onceA, onceB sync.Once
	relA := func() { onceA.Do(func() { close(holdA) }) }
	relB := func() { onceB.Do(func() { close(holdB) }) }
	t.Cleanup(relB)
	t.Cleanup(relA)
	get := func(lang string, hdr ...string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Error(err)
			return "", ""
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b), resp.Header.Get(cachestatus.Header)
	}
	a, err := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/doc", nil)
		req.Header.Set("Accept-Language", "a")
		return tr.RoundTrip(req)
	}()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var b1 string
	wg.Go(func() { b1, _ = get("b") })
	for deadline := time.Now().Add(500 * time.Millisecond); bVersion.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond) // the answer arrived before the no-cache request, by the real clock
	nc, ncStatus := get("b", "Cache-Control", "no-cache")
	relB()
	relA()
	io.ReadAll(a.Body)
	a.Body.Close()
	wg.Wait()
	later, status := get("b")
	t.Logf("B1 %q; no-cache B %q %s; later B %q %s", b1, nc, ncStatus, later, status)
	if status == cachestatus.Hit && later < nc {
		t.Fatalf("after a no-cache request got %q, a later request for B is a HIT of the older download %q", nc, later)
	}
}
