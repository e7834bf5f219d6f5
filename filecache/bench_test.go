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
	"github.com/throttlecache/throttlecache/testing/testserver"
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
			benchGets(b, tr, u, buf, size)
			if s := tr.Stats(); s.Misses != 1 {
				b.Fatalf("stats %+v", s)
			}
		})

		b.Run(name+"/gregjones-httpcache", func(b *testing.B) {
			tr := httpcache.NewTransport(diskcache.New(b.TempDir()))
			tr.Transport = srv.Client().Transport
			benchGets(b, tr, u, buf, size)
		})
	}
}

// benchGets times GETs of u through tr, body read to the end, after two
// untimed ones that fill the cache.
func benchGets(b *testing.B, tr http.RoundTripper, u string, buf []byte, size int) {
	req, _ := http.NewRequest("GET", u, nil)
	get := func() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		drain(b, resp.Body, buf, size)
		resp.Body.Close()
	}
	get()
	get()
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		get()
	}
}

// BenchmarkMiss64MiB compares storing 64 MiB downloads with fetching them
// through the bare transport, for two kinds of caller: one that reads with
// a 32 KiB buffer ("read") and one that uses io.Copy ("copy", which reaches
// the download's WriteTo). "filecache" is a bulk job: each request is for a
// new URL, and a commit may overlap the next download, as in a batch; the
// timing includes Close, which waits for the last commit.
// "filecache-same-url" fetches one URL again and again, so each request
// waits for the previous commit and replaces its entry.
func BenchmarkMiss64MiB(b *testing.B) {
	const size = 64 << 20
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.Handle("/big", testserver.Generated(size, 9, testserver.WithoutValidators()))
	buf := make([]byte, 32<<10)
	readers := []struct {
		name string
		read func(b *testing.B, r io.Reader)
	}{
		{"read", func(b *testing.B, r io.Reader) { drain(b, r, buf, size) }},
		{"copy", func(b *testing.B, r io.Reader) {
			if n, err := io.Copy(io.Discard, r); err != nil || n != size {
				b.Fatalf("copied %d bytes, %v", n, err)
			}
		}},
	}
	for _, rd := range readers {
		b.Run(rd.name+"/bare", func(b *testing.B) {
			tr := srv.Client().Transport
			b.ReportAllocs()
			b.SetBytes(size)
			for i := range b.N {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/big?n=%d", srv.URL, i), nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				rd.read(b, resp.Body)
				resp.Body.Close()
			}
		})
		for _, sameURL := range []bool{false, true} {
			name := rd.name + "/filecache"
			if sameURL {
				name += "-same-url"
			}
			b.Run(name, func(b *testing.B) {
				tr, err := New(srv.Client().Transport, Options{Dir: b.TempDir(), Rules: localRules(b, 3600e9)})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(size)
				for i := range b.N {
					if sameURL {
						i = 0
					}
					req, _ := http.NewRequest("GET", fmt.Sprintf("%s/big?n=%d", srv.URL, i), nil)
					req.Header.Set("Cache-Control", "no-cache") // a full download every time
					resp, err := tr.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					if c := resp.Header.Get(Header); c != Miss {
						b.Fatal(c)
					}
					rd.read(b, resp.Body)
					resp.Body.Close()
				}
				tr.Close()
				if s := tr.Stats(); s.Stored != int64(b.N) {
					b.Fatalf("stored %d of %d", s.Stored, b.N)
				}
			})
		}
	}
}
