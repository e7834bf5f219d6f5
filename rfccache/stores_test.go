package rfccache

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/storetest"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// TestSharedStores runs two Transports, as two processes or machines would,
// on one store folder or bucket: what one fetched, the other serves.
func TestSharedStores(t *testing.T) {
	for _, tc := range []struct {
		name     string
		newStore func(t *testing.T) (a, b httpcache.Cache)
	}{
		{"files", func(t *testing.T) (a, b httpcache.Cache) {
			dir := t.TempDir()
			sa, err := httpcachestore.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := httpcachestore.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			return sa, sb
		}},
		{"S3", func(t *testing.T) (a, b httpcache.Cache) {
			srv := storetest.NewS3(t)
			return s3store.New(srv.Client(), srv.Bucket, "rfc/"), s3store.New(srv.Client(), srv.Bucket, "rfc/")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := testserver.New()
			defer origin.Close()
			body := []byte("shared by two stages")
			origin.Handle("/r", testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=600")))
			sa, sb := tc.newStore(t)
			ta, err := New(origin.Client().Transport, sa, Options{})
			if err != nil {
				t.Fatal(err)
			}
			tb, err := New(origin.Client().Transport, sb, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ca, cb := &http.Client{Transport: ta}, &http.Client{Transport: tb}
			if r := do(t, ca, "GET", origin.URL+"/r"); r.cache != Miss || r.body != string(body) {
				t.Fatalf("first stage: %q %q", r.cache, r.body)
			}
			if r := do(t, cb, "GET", origin.URL+"/r"); r.cache != Hit || r.body != string(body) {
				t.Fatalf("second stage: %q %q, want HIT", r.cache, r.body)
			}
			if got := origin.Hits("/r"); got != 1 {
				t.Fatalf("origin hits = %d, want 1", got)
			}
			// An unsafe request through one stage invalidates for both.
			fresh := testserver.NewResource([]byte("new"), testserver.WithHeader("Cache-Control", "max-age=600"))
			origin.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				fresh.ServeHTTP(w, r)
			})
			do(t, ca, "DELETE", origin.URL+"/r")
			if r := do(t, cb, "GET", origin.URL+"/r"); r.cache != Miss || r.body != "new" {
				t.Fatalf("second stage after a DELETE through the first: %q %q, want MISS new", r.cache, r.body)
			}
			if r := do(t, ca, "GET", origin.URL+"/r"); r.cache != Hit || r.body != "new" {
				t.Fatalf("first stage: %q %q, want HIT new", r.cache, r.body)
			}
		})
	}
}

// TestDeadStore checks that a cache that fails every call still lets every
// request succeed.
func TestDeadStore(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	client := s3.New(s3.Options{BaseEndpoint: aws.String(dead), Region: "us-east-1", UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	store := s3store.New(client, "bucket", "", s3store.WithTimeout(500*time.Millisecond))
	f := newFixture(t, Options{})
	tr, err := New(f.srv.Client().Transport, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Handle("/r", testserver.NewResource([]byte("still here"), testserver.WithHeader("Cache-Control", "max-age=600")))
	c := &http.Client{Transport: tr}
	for i := range 3 {
		if r := do(t, c, "GET", f.srv.URL+"/r"); r.status != 200 || r.body != "still here" || r.cache != Miss {
			t.Fatalf("request %d: %d %q %q", i+1, r.status, r.cache, r.body)
		}
	}
	if st := store.Stats(); st.Errors != 6 {
		t.Fatalf("store Stats = %+v, want 6 errors (3 gets, 3 puts)", st)
	}
}

// TestS3StreamsLargeBodies: on S3 a 100 MiB body, with and without
// Content-Length, is stored as it downloads and served as a HIT, within
// 64 MiB of heap either way.
func TestS3StreamsLargeBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 400 MiB through S3")
	}
	const size = 100 << 20
	wantN, wantSum, _ := digest(testserver.GeneratedReader(size, 7))
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"known length", testserver.Generated(size, 7, testserver.WithHeader("Cache-Control", "max-age=3600"))},
		{"unknown length", streamGenerated(size)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := storetest.NewS3(t)
			f := newFixture(t, Options{})
			f.cache = s3store.New(bucket.Client(), bucket.Bucket, "big/")
			f.tr = f.newTransport(t, Options{Now: f.clock.Now})
			f.client = &http.Client{Transport: f.tr}
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
					if want == Miss {
						f.tr.Close() // waits for the upload
						f.tr = f.newTransport(t, Options{Now: f.clock.Now})
						f.client = &http.Client{Transport: f.tr}
					}
				})
				t.Logf("request %d: %d bytes, X-Cache %s, peak heap %.1f MiB", i+1, n, xc, float64(peak)/(1<<20))
				if n != wantN || sum != wantSum || xc != want {
					t.Fatalf("request %d: %d bytes (CRC %08x), X-Cache %q; want %d bytes (CRC %08x), %s", i+1, n, sum, xc, wantN, wantSum, want)
				}
				// The in-process S3 server keeps its objects on this heap.
				if peak > 64<<20 && bucket.Real {
					t.Fatalf("request %d: peak heap %.1f MiB, want under 64 MiB", i+1, float64(peak)/(1<<20))
				}
			}
			if !bucket.Real {
				t.Log("the heap bound is checked against a real S3 server only")
			}
			if got := f.srv.Hits("/big"); got != 1 {
				t.Fatalf("origin hits = %d, want 1", got)
			}
		})
	}
}
