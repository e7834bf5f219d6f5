package rfccache

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestOnFileStore runs the Transport's tests again on the file store, which
// the Transport streams through.
func TestOnFileStore(t *testing.T) {
	old := fixtureCache
	t.Cleanup(func() { fixtureCache = old })
	fixtureCache = func(t *testing.T) httpcache.Cache {
		s, err := httpcachestore.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"ResponseHeaders", TestResponseHeaders},
		{"AgeHeaderOnHits", TestAgeHeaderOnHits},
		{"Statuses", TestStatuses},
		{"RulesOverHeaders", TestRulesOverHeaders},
		{"RulesApplyAtReadTime", TestRulesApplyAtReadTime},
		{"RequestDirectives", TestRequestDirectives},
		{"Vary", TestVary},
		{"CredentialsNeverCross", TestCredentialsNeverCross},
		{"UnsafeMethodsInvalidate", TestUnsafeMethodsInvalidate},
		{"Head", TestHead},
		{"StaleIfError", TestStaleIfError},
		{"NeverAWrongByte", TestNeverAWrongByte},
		{"ContextCancelledWhileWaiting", TestContextCancelledWhileWaiting},
		{"Stampede", TestStampede},
		{"UnframedBodyNotStored", TestUnframedBodyNotStored},
	} {
		t.Run(tc.name, tc.test)
	}
}

// fileFixture is a fixture on the file store in dir.
func fileFixture(t *testing.T, opts Options, storeOpts ...httpcachestore.Option) (*fixture, *httpcachestore.Store) {
	t.Helper()
	store, err := httpcachestore.New(t.TempDir(), storeOpts...)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: testserver.New(), cache: store, clock: newClock()}
	t.Cleanup(f.srv.Close)
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	f.tr = f.newTransport(t, opts)
	f.client = &http.Client{Transport: f.tr}
	return f, store
}

// storeFile returns the body file in which store keeps the entry of url.
func storeFile(t *testing.T, store *httpcachestore.Store, url string) string {
	t.Helper()
	k, _ := cache.KeyFor(mustURL(t, url))
	return filepath.Join(store.Dir(), filepath.FromSlash(k.String()))
}

// tempFiles returns the temporary files left in the store's folder, once
// the downloads in progress have ended (within a few seconds).
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		left = nil
		des, _ := os.ReadDir(filepath.Join(dir, ".tmp"))
		for _, de := range des {
			left = append(left, de.Name())
		}
		if len(left) == 0 {
			break
		}
	}
	return left
}

// digest reads r to the end, holding 32 KiB, and returns its length and
// CRC-32C.
func digest(r io.Reader) (int64, uint32, error) {
	h := crc32.New(cache.Castagnoli)
	n, err := io.CopyBuffer(h, r, make([]byte, 32<<10))
	return n, h.Sum32(), err
}

func TestStreamedBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB through loopback and the disk")
	}
	wantN, wantSum, _ := digest(testserver.GeneratedReader(bigBody, 7))
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"known length", testserver.Generated(bigBody, 7, testserver.WithHeader("Cache-Control", "max-age=3600"))},
		{"unknown length", streamGenerated(bigBody)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, store := fileFixture(t, Options{MaxBodyBytes: 2 * bigBody})
			f.srv.Handle("/big", tc.h)
			for i, want := range []string{Miss, Hit} {
				var n int64
				var sum uint32
				var xc string
				peak := peakHeap(func() {
					resp, err := f.client.Get(f.srv.URL + "/big")
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					xc = resp.Header.Get(Header)
					if n, sum, err = digest(resp.Body); err != nil {
						t.Fatal(err)
					}
				})
				t.Logf("request %d: %d bytes, X-Cache %s, peak heap %.1f MiB", i+1, n, xc, float64(peak)/(1<<20))
				if n != wantN || sum != wantSum || xc != want {
					t.Fatalf("request %d: %d bytes (CRC %08x), X-Cache %q; want %d bytes (CRC %08x), %s", i+1, n, sum, xc, wantN, wantSum, want)
				}
				if peak > 64<<20 {
					t.Fatalf("request %d: peak heap %.1f MiB, want under 64 MiB", i+1, float64(peak)/(1<<20))
				}
			}
			f.tr.Close() // waits for the commit
			if st := f.tr.Stats(); st.Stored != 1 || st.StoredBytes != bigBody || st.TooLarge != 0 {
				t.Fatalf("Stats = %+v, want Stored 1 of %d bytes", st, bigBody)
			}
			if got := f.srv.Hits("/big"); got != 1 {
				t.Fatalf("origin hits = %d, want 1", got)
			}
			if left := tempFiles(t, store.Dir()); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
	t.Run("default bound for a stream store", func(t *testing.T) {
		f, _ := fileFixture(t, Options{})
		if f.tr.maxBody != DefaultMaxStreamedBodyBytes {
			t.Fatalf("maxBody = %d, want %d", f.tr.maxBody, int64(DefaultMaxStreamedBodyBytes))
		}
	})
	t.Run("body at the limit is stored", func(t *testing.T) {
		f, _ := fileFixture(t, Options{MaxBodyBytes: 1 << 20})
		f.srv.Handle("/edge", streamGenerated(1<<20))
		f.srv.Handle("/over", streamGenerated(1<<20+1))
		f.srv.Handle("/over-known", testserver.Generated(1<<20+1, 7, testserver.WithHeader("Cache-Control", "max-age=3600")))
		f.expect(t, "/edge", []string{Miss, Hit}, 1)
		f.expect(t, "/over", []string{Miss, Miss}, 2)
		f.expect(t, "/over-known", []string{Miss, Miss}, 2)
	})
}

func TestStreamedConcurrentHits(t *testing.T) {
	const size, readers = 16 << 20, 200
	f, _ := fileFixture(t, Options{})
	f.srv.Handle("/e", testserver.Generated(size, 5, testserver.WithHeader("Cache-Control", "max-age=3600")))
	wantN, wantSum, _ := digest(testserver.GeneratedReader(size, 5))
	if r := f.get(t, "/e"); r.cache != Miss || len(r.body) != size {
		t.Fatalf("first request: X-Cache %q, %d bytes", r.cache, len(r.body))
	}
	var mu sync.Mutex
	statuses := map[string]int{}
	peak := peakHeap(func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range readers {
			wg.Go(func() {
				<-start
				resp, err := f.client.Get(f.srv.URL + "/e")
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				defer resp.Body.Close()
				n, sum, err := digest(resp.Body)
				if err != nil || n != wantN || sum != wantSum {
					t.Errorf("request %d: %d bytes (CRC %08x), %v; want %d bytes (CRC %08x)", i, n, sum, err, wantN, wantSum)
				}
				mu.Lock()
				statuses[resp.Header.Get(Header)]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
	})
	t.Logf("%d concurrent hits of %d MiB: peak heap %.1f MiB", readers, size>>20, float64(peak)/(1<<20))
	if statuses[Hit] != readers {
		t.Fatalf("X-Cache counts %v, want %d HIT", statuses, readers)
	}
	if peak > 64<<20 {
		t.Fatalf("peak heap %.1f MiB, want under 64 MiB (the whole entries would be %d MiB)", float64(peak)/(1<<20), readers*size>>20)
	}
	if got := f.srv.Hits("/e"); got != 1 {
		t.Fatalf("origin hits = %d, want 1", got)
	}
}

// TestStreamedDamagedFile damages the stored files in every way and checks
// that the next request is a miss with the origin's bytes, never a body
// that fails half-way or a wrong byte.
func TestStreamedDamagedFile(t *testing.T) {
	for _, size := range []int{1000, 1 << 20} { // read whole by the store, and streamed
		body := testserverBody(size)
		for _, tc := range []struct {
			name   string
			meta   bool
			damage func(b []byte) []byte
		}{
			{"flipped byte in the middle", false, func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }},
			{"flipped last byte", false, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
			{"truncated by one byte", false, func(b []byte) []byte { return b[:len(b)-1] }},
			{"truncated to half", false, func(b []byte) []byte { return b[:len(b)/2] }},
			{"empty", false, func(b []byte) []byte { return nil }},
			{"appended byte", false, func(b []byte) []byte { return append(b, 'x') }},
			{"appended copy", false, func(b []byte) []byte { return append(b, b...) }},
			{"garbage sidecar", true, func(b []byte) []byte { return b[:len(b)/2] }},
			{"sidecar with another checksum", true, func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"crc32c": "`), []byte(`"crc32c": "0`), 1)[:len(b)]
			}},
		} {
			t.Run(fmt.Sprintf("%s/%d bytes", tc.name, size), func(t *testing.T) {
				f, store := fileFixture(t, Options{})
				f.srv.Handle("/r", testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600")))
				f.expect(t, "/r", []string{Miss, Hit}, 1)
				p := storeFile(t, store, f.srv.URL+"/r")
				if tc.meta {
					p += "@@meta.json"
				}
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				os.Remove(p)
				if err := os.WriteFile(p, tc.damage(b), 0o644); err != nil {
					t.Fatal(err)
				}
				// A new process on the folder: nothing of the entry in memory
				// (a store trusts a sidecar it saw within a second while its
				// body is the same file).
				if store, err = httpcachestore.New(store.Dir()); err != nil {
					t.Fatal(err)
				}
				f.cache = store
				f.tr = f.newTransport(t, Options{Now: f.clock.Now})
				f.client = &http.Client{Transport: f.tr}
				r := f.get(t, "/r")
				if r.cache != Miss || r.body != string(body) {
					t.Fatalf("after damage: X-Cache %q, %d bytes (right: %v); want MISS and the origin's %d bytes",
						r.cache, len(r.body), r.body == string(body), len(body))
				}
				if st := store.Stats(); st.Corrupt != 1 {
					t.Fatalf("store Stats = %+v, want Corrupt 1", st)
				}
				f.expect(t, "/r", []string{Hit}, 2)
			})
		}
	}
}

// TestStreamedAbandonedBodyLeavesNothing: a caller that stops reading a
// large body, and an origin that cuts one, leave no entry and no temporary
// file behind.
func TestStreamedAbandonedBodyLeavesNothing(t *testing.T) {
	f, store := fileFixture(t, Options{})
	// The origin holds the rest of /big back until the caller has closed
	// it, so that more than 1 MiB is left to download then.
	release, served := make(chan struct{}), 0
	big := testserver.Generated(8<<20, 3, testserver.WithHeader("Cache-Control", "max-age=3600"))
	f.srv.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		if served++; served > 1 {
			big.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Length", fmt.Sprint(8<<20))
		data, _ := io.ReadAll(testserver.GeneratedReader(8<<20, 3))
		w.Write(data[:2<<20])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(data[2<<20:])
	})
	body := testserverBody(100 << 10)
	f.srv.Handle("/cut", testserver.Sequence(testserver.Short(body, 50<<10),
		testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600"))))

	resp, err := f.client.Get(f.srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	io.CopyN(io.Discard, resp.Body, 1<<20)
	resp.Body.Close()
	close(release)

	resp, err = f.client.Get(f.srv.URL + "/cut")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("cut body read without error")
	}
	resp.Body.Close()

	if left := tempFiles(t, store.Dir()); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if st := f.tr.Stats(); st.Stored != 0 {
		t.Fatalf("Stats = %+v, want nothing stored", st)
	}
	f.expect(t, "/big", []string{Miss, Hit}, 2)
	f.expect(t, "/cut", []string{Miss, Hit}, 2)
}

// TestStreamedRevalidationKeepsBody: a 304 rewrites the entry's sidecar
// with the new fields and keeps its body file.
func TestStreamedRevalidationKeepsBody(t *testing.T) {
	// A rule counts freshness from the fetch, whatever the origin's Date.
	f, store := fileFixture(t, Options{Rules: mustCompile(t, rules.Rules{{Host: ``, Paths: []rules.Path{{Match: `/`, MaxAge: time.Minute}}}})})
	body := testserverBody(3 << 20)
	f.srv.Handle("/r", testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=60")))
	f.get(t, "/r")
	p := storeFile(t, store, f.srv.URL+"/r")
	bodyBefore, _ := os.Stat(p)
	metaBefore, err := os.ReadFile(p + "@@meta.json")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if r := f.get(t, "/r"); r.cache != Revalidated || r.body != string(body) {
		t.Fatalf("after an hour: X-Cache %q, %d bytes", r.cache, len(r.body))
	}
	bodyAfter, _ := os.Stat(p)
	metaAfter, _ := os.ReadFile(p + "@@meta.json")
	if bytes.Equal(metaBefore, metaAfter) || !os.SameFile(bodyBefore, bodyAfter) {
		t.Fatal("the sidecar was not rewritten, or the body was")
	}
	if r := f.get(t, "/r"); r.cache != Hit || r.body != string(body) {
		t.Fatalf("after the revalidation: X-Cache %q, %d bytes", r.cache, len(r.body))
	}
	if got := f.srv.Hits("/r"); got != 2 {
		t.Fatalf("origin hits = %d, want 2", got)
	}
}

// TestVaryVariantsSideBySide: on a streaming store and on a plain
// httpcache.Cache, variants of one URL live side by side (callers
// alternating Accept-Language all get HITs), at most 8 per URL, and an
// unsafe request removes every one of them.
func TestVaryVariantsSideBySide(t *testing.T) {
	t.Run("files", func(t *testing.T) {
		f, _ := fileFixture(t, Options{})
		varyVariants(t, f)
	})
	t.Run("httpcache.Cache", func(t *testing.T) { varyVariants(t, newFixture(t, Options{})) })
}

func varyVariants(t *testing.T, f *fixture) {
	f.srv.Handle("/v", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		w.Write([]byte("lang=" + r.Header.Get("Accept-Language")))
	}))
	langs := []string{"en", "fr", "de"}
	for round, want := range []string{Miss, Hit, Hit} {
		for _, l := range langs {
			if r := f.get(t, "/v", "Accept-Language", l); r.cache != want || r.body != "lang="+l {
				t.Fatalf("round %d, %s: X-Cache %q body %q, want %s", round, l, r.cache, r.body, want)
			}
		}
	}
	if got := f.srv.Hits("/v"); got != 3 {
		t.Fatalf("origin hits %d, want 3", got)
	}
	// "en, fr" and "en,fr" are one variant.
	f.expect(t, "/v", nil, 3)
	if r := f.get(t, "/v", "Accept-Language", "en, fr"); r.cache != Miss {
		t.Fatalf("en, fr: %s", r.cache)
	}
	if r := f.get(t, "/v", "Accept-Language", "en,fr"); r.cache != Hit {
		t.Fatalf("en,fr after en, fr: %s", r.cache)
	}
	// Bounded: after 8 more variants, the oldest are gone.
	for i := range 8 {
		f.get(t, "/v", "Accept-Language", fmt.Sprint("x", i))
	}
	if r := f.get(t, "/v", "Accept-Language", "en"); r.cache != Miss {
		t.Fatalf("en after 9 newer variants: %s, want MISS", r.cache)
	}
	// An unsafe request removes every variant.
	do(t, f.client, http.MethodPost, f.srv.URL+"/v")
	for _, l := range []string{"en", "x7", "x6"} {
		if r := f.get(t, "/v", "Accept-Language", l); r.cache != Miss {
			t.Fatalf("%s after a POST: %s, want MISS", l, r.cache)
		}
	}
}
