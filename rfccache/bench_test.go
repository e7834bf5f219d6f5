package rfccache

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregjones/httpcache"
	"github.com/gregjones/httpcache/diskcache"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// BenchmarkHit compares a cache hit of this stage on files, copied with
// io.Copy, with a raw file read of the same size in the same 256 KiB reads
// and with httpcache.Transport on its diskcache.
func BenchmarkHit(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		body := testserverBody(size)
		name := fmt.Sprintf("%dKiB", size>>10)
		srv := testserver.New()
		srv.Handle("/r", testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600")))

		b.Run(name+"/rfccache-files", func(b *testing.B) {
			store, err := httpcachestore.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			tr, err := New(srv.Client().Transport, store, Options{})
			if err != nil {
				b.Fatal(err)
			}
			benchGets(b, &http.Client{Transport: tr}, srv.URL+"/r", size)
		})
		b.Run(name+"/httpcache-diskcache", func(b *testing.B) {
			tr := &httpcache.Transport{Transport: srv.Client().Transport, Cache: diskcache.New(b.TempDir())}
			benchGets(b, &http.Client{Transport: tr}, srv.URL+"/r", size)
		})
		b.Run(name+"/raw-file-read", func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "body")
			if err := os.WriteFile(p, body, 0o644); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			buf := make([]byte, 256<<10) // the cache's own read size: io.Discard's ReadFrom would read 8 KiB at a time
			for b.Loop() {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{f}, buf)
				f.Close()
			}
		})
		srv.Close()
	}
}

func testserverBody(n int) []byte {
	b := make([]byte, n)
	io.ReadFull(testserver.GeneratedReader(int64(n), 1), b)
	return b
}

func benchGets(b *testing.B, c *http.Client, url string, size int) {
	b.Helper()
	get := func() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(size) {
			b.Fatalf("%d bytes, want %d", n, size)
		}
	}
	get() // the miss that stores the entry
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		get()
	}
}

// BenchmarkPeakHeap256MiB reports the peak heap of a 256 MiB body, first
// request (a miss, written to the file store as it streams) and second (a
// hit, streamed from the store), with a known and an unknown length.
func BenchmarkPeakHeap256MiB(b *testing.B) {
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"known-length", testserver.Generated(bigBody, 7, testserver.WithHeader("Cache-Control", "max-age=3600"))},
		{"unknown-length", streamGenerated(bigBody)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/big", tc.h)
			store, err := httpcachestore.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			tr, err := New(srv.Client().Transport, store, Options{})
			if err != nil {
				b.Fatal(err)
			}
			c := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.SetBytes(2 * bigBody)
			var first, second uint64
			for b.Loop() {
				for i := range 2 {
					peak := peakHeap(func() {
						resp, err := c.Get(srv.URL + "/big")
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					})
					if i == 0 {
						first = max(first, peak)
					} else {
						second = max(second, peak)
					}
				}
			}
			b.ReportMetric(float64(first)/(1<<20), "first-peak-MiB")
			b.ReportMetric(float64(second)/(1<<20), "second-peak-MiB")
		})
	}
}

// BenchmarkStampede200 reports the origin requests caused by 200
// concurrent misses, with this stage and with bare httpcache.Transport.
func BenchmarkStampede200(b *testing.B) {
	srv := testserver.New()
	defer srv.Close()
	srv.HandlePrefix("/s/", testserver.Slow(testserver.NewResource([]byte("shared"),
		testserver.WithHeader("Cache-Control", "max-age=3600")), 50*time.Millisecond))
	for _, tc := range []struct {
		name string
		rt   func() http.RoundTripper
	}{
		{"rfccache", func() http.RoundTripper {
			tr, err := New(srv.Client().Transport, httpcache.NewMemoryCache(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			return tr
		}},
		{"httpcache", func() http.RoundTripper {
			return &httpcache.Transport{Transport: srv.Client().Transport, Cache: httpcache.NewMemoryCache()}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var total, runs int64
			for b.Loop() {
				path := fmt.Sprintf("/s/%s-%d", tc.name, runs)
				stampede(b, tc.rt(), srv.URL+path, 200)
				total += srv.Hits(path)
				runs++
			}
			b.ReportMetric(float64(total)/float64(runs), "origin-requests/op")
		})
	}
}
