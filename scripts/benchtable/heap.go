package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

const heapBody = 256 << 20

// benchHeap measures the peak heap growth while a 256 MiB body streams
// through each mode, on the first request (a miss) and the second (a hit, or
// a second pass-through where the mode does not store bodies that large),
// against a bare transport.
func benchHeap(t *table, s3 *s3Server, quick bool) {
	size := int64(heapBody)
	if quick {
		size = 32 << 20
	}
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.Handle("/huge", testserver.Generated(size, 256, testserver.WithHeader("Cache-Control", "max-age=3600")))
	url := srv.URL + "/huge"
	section := fmt.Sprintf("peak heap growth, %s body", sizeName(size))

	fetch := func(name string, c *http.Client) (uint64, string) {
		var status string
		peak := heapPeak(func() {
			resp, err := c.Get(url)
			if err != nil {
				log.Fatalf("%s: %v", name, err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n != size {
				log.Fatalf("%s: %d bytes, %v", name, n, err)
			}
			status = resp.Header.Get(throttlecache.CacheStatusHeader)
		})
		return peak, status
	}
	bare := http.DefaultTransport.(*http.Transport).Clone()
	basePeak, _ := fetch("bare", &http.Client{Transport: bare})
	bare.CloseIdleConnections()
	t.add(section, "bare http.Transport", mib(basePeak), "–")
	for _, mode := range cacheModes {
		m, done := newManager(mode, s3)
		first, s1 := fetch(string(mode), m.Client())
		second, s2 := fetch(string(mode), m.Client())
		done()
		name := "throttlecache " + string(mode)
		if mode == throttlecache.RFCS3 && !s3.real {
			name += " (the in-process S3 server's copy on the same heap)"
		}
		t.add(section, name,
			fmt.Sprintf("%s (%s), then %s (%s)", mib(first), s1, mib(second), s2), "–")
	}
}

// heapPeak runs f and returns the largest growth of heap object bytes
// (live or not yet swept) seen while it ran, sampled every millisecond.
func heapPeak(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > base && v-base > peak.Load() {
				peak.Store(v - base)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}
