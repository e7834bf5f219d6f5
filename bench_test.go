package throttlecache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// BenchmarkLimiterOverhead compares one small GET on loopback through a bare
// transport, through the rate-limit stage with a limiter that never waits,
// and through a whole Manager chain.
func BenchmarkLimiterOverhead(b *testing.B) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.Handle("/x", testserver.Status(http.StatusOK, "ok"))
	url := srv.URL + "/x"

	never, err := ratelimit.NewSlidingWindow(1<<16, time.Millisecond, nil) // far above what loopback reaches
	if err != nil {
		b.Fatal(err)
	}
	bare := defaultBase(false)
	defer bare.CloseIdleConnections()
	limited := defaultBase(false)
	defer limited.CloseIdleConnections()
	m, err := New(Config{Limiter: never})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()

	cases := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", bare},
		{"ratelimit-stage", ratelimit.New(limited, never)},
		{"manager", m.Transport()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{Transport: c.rt}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkGetBatch fetches 2,000 small URLs with no limit, through GetBatch
// and through a hand-written errgroup loop over the same client, and reports
// GetBatch's speed relative to the loop (ratio > 1: GetBatch is faster).
func BenchmarkGetBatch(b *testing.B) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.HandlePrefix("/item/", testserver.Status(http.StatusOK, "small body"))
	urls := make([]string, 2000)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/item/%d", srv.URL, i)
	}
	m, err := New(Config{DisableRateLimit: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	client := m.Client()

	getBatch := func() {
		for _, r := range m.GetBatch(context.Background(), urls) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	errgroupLoop := func() {
		bodies := make([][]byte, len(urls))
		var g errgroup.Group
		g.SetLimit(DefaultConcurrency)
		for i, u := range urls {
			g.Go(func() error {
				resp, err := client.Get(u)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				bodies[i], err = io.ReadAll(resp.Body)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("getbatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			getBatch()
		}
	})
	b.Run("errgroup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			errgroupLoop()
		}
	})
	// Alternating runs in one benchmark cancel out drift on a noisy machine.
	b.Run("ratio", func(b *testing.B) {
		var batch, loop time.Duration
		for b.Loop() {
			t0 := time.Now()
			getBatch()
			t1 := time.Now()
			errgroupLoop()
			batch += t1.Sub(t0)
			loop += time.Since(t1)
		}
		b.ReportMetric(float64(loop)/float64(batch), "errgroup/getbatch")
	})
}

// BenchmarkHit compares a 1 MiB cache hit through a Manager's client in
// each file mode with a raw read of the same bytes from a file.
func BenchmarkHit(b *testing.B) {
	const size = 1 << 20
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/h", testserver.Generated(size, 1, testserver.WithHeader("Cache-Control", "max-age=3600")))
	body, _ := io.ReadAll(testserver.GeneratedReader(size, 1))
	buf := make([]byte, 32<<10)
	read := func(b *testing.B, r io.Reader) {
		n := 0
		for {
			k, err := r.Read(buf)
			if n += k; err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		if n != size {
			b.Fatalf("%d bytes", n)
		}
	}
	b.Run("raw-file-read", func(b *testing.B) {
		p := b.TempDir() + "/body"
		if err := os.WriteFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			read(b, f)
			f.Close()
		}
	})
	for _, mode := range []CacheMode{FileCache, RFCFile} {
		b.Run(string(mode), func(b *testing.B) {
			m, err := New(Config{CacheMode: mode, CacheDir: b.TempDir(), DisableRateLimit: true,
				Rules: rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{{Match: `/`, MaxAge: time.Hour}}}}})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			c := m.Client()
			get := func() {
				resp, err := c.Get(srv.URL + "/h")
				if err != nil {
					b.Fatal(err)
				}
				read(b, resp.Body)
				resp.Body.Close()
			}
			get()
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
		})
	}
}
