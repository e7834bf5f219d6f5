package filecache

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregjones/httpcache"
	"github.com/gregjones/httpcache/diskcache"
	"github.com/throttlecache/throttlecache/internal/testserver"
)

// drain reads r to the end through buf, as a caller would.
func drain(b *testing.B, r io.Reader, buf []byte, want int) {
	n := 0
	for {
		k, err := r.Read(buf)
		n += k
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

// BenchmarkHit compares a cache hit with reading the same bytes from a
// file and with gregjones/httpcache on its disk cache.
func BenchmarkHit(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		name := fmt.Sprintf("%dKiB", size>>10)
		srv := testserver.New()
		defer srv.Close()
		srv.Handle("/body", testserver.Generated(int64(size), 1, testserver.WithHeader("Cache-Control", "max-age=3600")))
		u := srv.URL + "/body"
		buf := make([]byte, 32<<10)

		b.Run(name+"/os-read", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "body")
			data, _ := io.ReadAll(testserver.GeneratedReader(int64(size), 1))
			os.WriteFile(path, data, 0o644)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				drain(b, f, buf, size)
				f.Close()
			}
		})

		b.Run(name+"/filecache", func(b *testing.B) {
			tr, err := New(srv.Client().Transport, Options{Dir: b.TempDir(), Rules: localRules(b, 3600e9)})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			req, _ := http.NewRequest("GET", u, nil)
			warm(b, tr, req, buf, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				drain(b, resp.Body, buf, size)
				resp.Body.Close()
			}
			if s := tr.Stats(); s.Misses != 1 {
				b.Fatalf("stats %+v", s)
			}
		})

		b.Run(name+"/gregjones-httpcache", func(b *testing.B) {
			tr := httpcache.NewTransport(diskcache.New(b.TempDir()))
			tr.Transport = srv.Client().Transport
			req, _ := http.NewRequest("GET", u, nil)
			warm(b, tr, req, buf, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				drain(b, resp.Body, buf, size)
				resp.Body.Close()
			}
		})
	}
}

func warm(b *testing.B, tr http.RoundTripper, req *http.Request, buf []byte, size int) {
	for range 2 {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		drain(b, resp.Body, buf, size)
		resp.Body.Close()
	}
}

// BenchmarkMiss64MiB compares storing a 64 MiB download with fetching it
// through the bare transport.
func BenchmarkMiss64MiB(b *testing.B) {
	const size = 64 << 20
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/big", testserver.Generated(size, 9, testserver.WithoutValidators()))
	buf := make([]byte, 32<<10)

	b.Run("bare", func(b *testing.B) {
		tr := srv.Client().Transport
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			req, _ := http.NewRequest("GET", srv.URL+"/big", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			drain(b, resp.Body, buf, size)
			resp.Body.Close()
		}
	})
	b.Run("filecache", func(b *testing.B) {
		tr, err := New(srv.Client().Transport, Options{Dir: b.TempDir(), Rules: localRules(b, 3600e9)})
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			req, _ := http.NewRequest("GET", srv.URL+"/big", nil)
			req.Header.Set("Cache-Control", "no-cache") // a full download every time
			resp, err := tr.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			if c := resp.Header.Get(Header); c != Miss {
				b.Fatal(c)
			}
			drain(b, resp.Body, buf, size)
			resp.Body.Close()
		}
	})
}
