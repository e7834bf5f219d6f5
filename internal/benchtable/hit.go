package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregjones/httpcache"
	"github.com/gregjones/httpcache/diskcache"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/internal/testserver"
)

// benchHits measures a cache hit of 4 KiB and 1 MiB: a plain file read of the
// same bytes (the floor), gregjones/httpcache on its diskcache, FileCache and
// RFCFile. Every cache is read through an http.Client, as callers do.
func benchHits(t *table, quick bool) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	for _, size := range []int64{4 << 10, 1 << 20} {
		path := fmt.Sprintf("/hit/%d", size)
		srv.Handle(path, testserver.Generated(size, size, testserver.WithHeader("Cache-Control", "max-age=3600")))
		url := srv.URL + path
		section := fmt.Sprintf("cache hit, %s", sizeName(size))

		dir, err := os.MkdirTemp("", "benchtable-raw-")
		if err != nil {
			log.Fatal(err)
		}
		file := filepath.Join(dir, "body")
		f, _ := os.Create(file)
		io.Copy(f, testserver.GeneratedReader(size, size))
		f.Close()
		raw := measure(quick, func(b *testing.B) {
			buf := make([]byte, 32<<10)
			for b.Loop() {
				f, err := os.Open(file)
				if err != nil {
					b.Fatal(err)
				}
				readAll(b, f, buf, size)
				f.Close()
			}
		})
		os.RemoveAll(dir)
		t.add(section, "raw file read (open, read, close)", resultOf(raw), "×1.00")

		dir, _ = os.MkdirTemp("", "benchtable-httpcache-")
		greg := &httpcache.Transport{Transport: http.DefaultTransport, Cache: diskcache.New(dir)}
		r := measureGets(quick, &http.Client{Transport: greg}, url, size)
		os.RemoveAll(dir)
		t.add(section, "gregjones/httpcache + diskcache", resultOf(r), ratio(nsPerOp(r), nsPerOp(raw)))

		for _, mode := range []throttlecache.CacheMode{throttlecache.FileCache, throttlecache.RFCFile} {
			m, done := newManager(mode, nil)
			r := measureGets(quick, m.Client(), url, size)
			if s := m.Stats(); s.NetworkRequests != 1 {
				log.Fatalf("%s: %d network requests for one entry", mode, s.NetworkRequests)
			}
			done()
			t.add(section, "throttlecache "+string(mode), resultOf(r), ratio(nsPerOp(r), nsPerOp(raw)))
		}
	}
}

func sizeName(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// measure runs f as a benchmark for the -benchtime of the command line.
func measure(_ bool, f func(b *testing.B)) testing.BenchmarkResult {
	return testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		f(b)
	})
}

// measureGets benchmarks GETs of url through c after one GET that fills
// the cache.
func measureGets(quick bool, c *http.Client, url string, size int64) testing.BenchmarkResult {
	get := func(b *testing.B, buf []byte) {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		readAll(b, resp.Body, buf, size)
		resp.Body.Close()
	}
	for range 2 {
		resp, err := c.Get(url)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return measure(quick, func(b *testing.B) {
		buf := make([]byte, 32<<10)
		for b.Loop() {
			get(b, buf)
		}
	})
}

// readAll reads r to the end and checks its length.
func readAll(b *testing.B, r io.Reader, buf []byte, want int64) {
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != want {
		b.Fatalf("read %d bytes, want %d", n, want)
	}
}

func nsPerOp(r testing.BenchmarkResult) float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

func resultOf(r testing.BenchmarkResult) string {
	return fmt.Sprintf("%s, %d allocs/op", formatNs(nsPerOp(r)), r.AllocsPerOp())
}
