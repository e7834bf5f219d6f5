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
	"github.com/throttlecache/throttlecache/internal/storetest"
	"github.com/throttlecache/throttlecache/internal/testserver"
	"github.com/throttlecache/throttlecache/s3store"
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
			origin.Handle("/r", testserver.NewResource([]byte("new"), testserver.WithHeader("Cache-Control", "max-age=600")))
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
