package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gregjones/httpcache"
	"github.com/gregjones/httpcache/diskcache"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// benchHits measures a cache hit of 4 KiB and 1 MiB: a plain file read of
// the same bytes (the floor, and the limit of every row), gregjones/httpcache
// on its diskcache, FileCache and RFCFile. Every cache is read through an
// http.Client, as callers do. The subjects take turns five times and each
// keeps its best run; each one's ratio is the median of its rounds' (see
// interleave).
func benchHits(t *table, quick bool) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	for _, size := range []int64{4 << 10, 1 << 20} {
		path := fmt.Sprintf("/hit/%d", size)
		srv.Handle(path, testserver.Generated(size, size, testserver.WithHeader("Cache-Control", "max-age=3600")))
		url := srv.URL + path
		section := hitTitle("cache hit", size)

		dir, err := os.MkdirTemp("", "benchtable-raw-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		file := filepath.Join(dir, "body")
		f, _ := os.Create(file)
		io.Copy(f, testserver.GeneratedReader(size, size))
		f.Close()
		raw := func(b *testing.B) {
			buf := make([]byte, 32<<10)
			for b.Loop() {
				f, err := os.Open(file)
				if err != nil {
					b.Fatal(err)
				}
				readAll(b, f, buf, size)
				f.Close()
			}
		}
		hdir, _ := os.MkdirTemp("", "benchtable-httpcache-")
		defer os.RemoveAll(hdir)
		greg := &http.Client{Transport: &httpcache.Transport{Transport: http.DefaultTransport, Cache: diskcache.New(hdir)}}
		subjects := []subject{
			{name: "raw file read (open, read, close)", run: raw},
			{name: "gregjones/httpcache + diskcache", run: gets(greg, url, size)},
		}
		for _, mode := range []throttlecache.CacheMode{throttlecache.FileCache, throttlecache.RFCFile} {
			m, done := newManager(mode, nil)
			defer done()
			subjects = append(subjects, subject{name: "throttlecache " + string(mode), run: gets(m.Client(), url, size)})
		}
		interleave(t, section, subjects, quick)
	}
}

// subject is one row of an interleaved measurement.
type subject struct {
	name   string
	run    func(b *testing.B)
	best   testing.BenchmarkResult
	ratios []float64 // to the first subject, one per round
}

// hitRounds is how many times the subjects of a hit section take turns.
const hitRounds = 5

// hitTitle names a hit section and how its figures are taken.
func hitTitle(what string, size int64) string {
	return fmt.Sprintf("%s, %s (time: best of %d interleaved rounds; ratio: median of the rounds' ratios)", what, sizeName(size), hitRounds)
}

// interleave runs the subjects in turn hitRounds times and adds their rows:
// each one's best time, and the median of its ratios to the first subject
// measured in the same round, so that a busy second slows a subject and
// its baseline alike instead of favouring whichever had a quiet one.
func interleave(t *table, section string, subjects []subject, quick bool) {
	rounds := hitRounds
	if quick {
		rounds = 1
	}
	for range rounds {
		var base float64
		for i := range subjects {
			r := measure(quick, subjects[i].run)
			if subjects[i].best.N == 0 || nsPerOp(r) < nsPerOp(subjects[i].best) {
				subjects[i].best = r
			}
			if i == 0 {
				base = nsPerOp(r)
			}
			subjects[i].ratios = append(subjects[i].ratios, nsPerOp(r)/base)
		}
	}
	for _, s := range subjects {
		t.add(section, s.name, resultOf(s.best), fmt.Sprintf("×%.2f", median(s.ratios)))
	}
}

// median returns the middle of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
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

// gets returns a benchmark of GETs of url through c, after two GETs that
// fill the cache.
func gets(c *http.Client, url string, size int64) func(b *testing.B) {
	for range 2 {
		resp, err := c.Get(url)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return func(b *testing.B) {
		buf := make([]byte, 32<<10)
		for b.Loop() {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			readAll(b, resp.Body, buf, size)
			resp.Body.Close()
		}
	}
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
