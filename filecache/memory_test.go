package filecache

import (
	"hash/crc32"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// peakHeap runs f while sampling the heap in use and returns the peak.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

func TestBoundedMemory256MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB")
	}
	const size = 256 << 20
	const limit = 64 << 20
	e := newEnv(t)
	e.srv.Handle("/huge", testserver.Generated(size, 42))
	h := crc32.New(cache.Castagnoli)
	io.Copy(h, testserver.GeneratedReader(size, 42))
	want := h.Sum32()
	for _, status := range []string{Miss, Hit} {
		var sum uint32
		var n int64
		var gotStatus string
		peak := peakHeap(func() {
			req, _ := http.NewRequest("GET", e.srv.URL+"/huge", nil)
			resp, err := e.tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			h := crc32.New(cache.Castagnoli)
			n, err = io.Copy(h, resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			sum, gotStatus = h.Sum32(), resp.Header.Get(Header)
		})
		t.Logf("%s: peak heap in use %.1f MiB", status, float64(peak)/(1<<20))
		if got := gotStatus; got != status || n != size || sum != want {
			t.Fatalf("%s: got %s, %d bytes, checksum match %v", status, got, n, sum == want)
		}
		if peak > limit {
			t.Fatalf("%s: peak heap %d MiB, limit %d MiB", status, peak>>20, limit>>20)
		}
	}
}
