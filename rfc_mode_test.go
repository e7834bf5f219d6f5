package throttlecache

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/storetest"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

var localRules = rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{
	{Match: `/ruled/forever`, MaxAge: rules.Forever},
	{Match: `/ruled/never`, MaxAge: 0},
}}}

func rfcConfigs(t *testing.T) map[CacheMode]Config {
	t.Helper()
	bucket := storetest.NewS3(t)
	return map[CacheMode]Config{
		RFCFile: {CacheMode: RFCFile, CacheDir: t.TempDir(), Rules: localRules, DisableRateLimit: true},
		RFCS3: {CacheMode: RFCS3, S3Client: bucket.Client(), S3Bucket: bucket.Bucket, S3Prefix: "cache/",
			Rules: localRules, DisableRateLimit: true},
	}
}

// TestRFCModes runs the same cases through RFCFile and RFCS3: headers decide
// where there is no rule, rules override headers where there is one.
func TestRFCModes(t *testing.T) {
	for mode, cfg := range rfcConfigs(t) {
		t.Run(string(mode), func(t *testing.T) {
			srv := testserver.New()
			defer srv.Close()
			srv.Handle("/headers/max-age", testserver.NewResource([]byte("cacheable"), testserver.WithHeader("Cache-Control", "max-age=600")))
			srv.Handle("/headers/no-store", testserver.NewResource([]byte("private"), testserver.WithHeader("Cache-Control", "no-store")))
			srv.Handle("/ruled/forever/x", testserver.NewResource([]byte("edgar-like"), testserver.WithHeader("Cache-Control", "no-store")))
			srv.Handle("/ruled/never/y", testserver.NewResource([]byte("never"), testserver.WithHeader("Cache-Control", "max-age=600")))
			m := newManager(t, cfg)

			tests := []struct {
				path         string
				first, again string
				originHits   int64
			}{
				{"/headers/max-age", CacheMiss, CacheHit, 1},
				{"/headers/no-store", CacheMiss, CacheMiss, 2},
				{"/ruled/forever/x", CacheMiss, CacheHit, 1},
				{"/ruled/never/y", CacheBypass, CacheBypass, 2},
			}
			for _, tt := range tests {
				for i, want := range []string{tt.first, tt.again} {
					resp, body := get(t, m.Client(), srv.URL+tt.path)
					if got := resp.Header.Get(CacheStatusHeader); got != want {
						t.Errorf("%s request %d: X-Cache %s, want %s", tt.path, i+1, got, want)
					}
					if body == "" {
						t.Errorf("%s: empty body", tt.path)
					}
				}
				if got := srv.Hits(tt.path); got != tt.originHits {
					t.Errorf("%s: %d origin hits, want %d", tt.path, got, tt.originHits)
				}
			}
			s := m.Stats()
			if s.Cache.Hits != 2 || s.Cache.Stored < 2 || s.Network.Requests != 6 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestRFCS3DeadEndpoint checks that a dead S3 degrades to pass-through:
// every request still succeeds, and the failures are counted.
func TestRFCS3DeadEndpoint(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/headers/max-age", testserver.NewResource([]byte("still served"), testserver.WithHeader("Cache-Control", "max-age=600")))
	dead := s3.New(s3.Options{
		BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
		UsePathStyle: true,
	})
	m := newManager(t, Config{CacheMode: RFCS3, S3Client: dead, S3Bucket: "nowhere", S3Timeout: time.Second, DisableRateLimit: true})
	for range 3 {
		resp, body := get(t, m.Client(), srv.URL+"/headers/max-age")
		if body != "still served" || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	}
	if s := m.Stats(); s.Cache.StoreErrors == 0 || s.Network.Requests != 3 {
		t.Fatalf("stats %+v: store errors not counted", s)
	}
}

func TestRFCFileBatch(t *testing.T) {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/ruled/forever/doc", testserver.NewResource([]byte(strings.Repeat("d", 5000))))
	m := newManager(t, Config{CacheMode: RFCFile, CacheDir: t.TempDir(), Rules: localRules})
	urls := make([]string, 50)
	for i := range urls {
		urls[i] = srv.URL + "/ruled/forever/doc"
	}
	// 50 concurrent requests for one missing entry: one origin request.
	for _, r := range m.GetBatch(context.Background(), urls, WithConcurrency(50)) {
		if r.Err != nil || len(r.Body) != 5000 {
			t.Fatalf("%+v", r.Err)
		}
	}
	if hits := srv.Hits("/ruled/forever/doc"); hits != 1 {
		t.Fatalf("%d origin requests for one stampede", hits)
	}
}
