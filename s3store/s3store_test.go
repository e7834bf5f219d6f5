package s3store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) httpcache.Cache {
		srv := storetest.NewS3(t)
		return s3store.New(srv.Client(), srv.Bucket, "cache/")
	})
	storetest.RunShared(t, func(t *testing.T) (a, b httpcache.Cache) {
		srv := storetest.NewS3(t)
		// Two stores with their own clients, as two machines would have.
		return s3store.New(srv.Client(), srv.Bucket, "p/"), s3store.New(srv.Client(), srv.Bucket, "p/")
	})
}

// TestConformanceIgnoringIfMatch runs the two-machine cases on a server
// that ignores If-Match (the in-process one, in CI too): an entry read
// within metaTrust and then replaced by the other machine is read anew,
// not taken for damage and removed.
func TestConformanceIgnoringIfMatch(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (a, b httpcache.Cache) {
		srv := storetest.NewInProcessS3(t)
		return s3store.New(srv.Client(), srv.Bucket, "p/"), s3store.New(srv.Client(), srv.Bucket, "p/")
	})
}

func TestNewClientPathStyle(t *testing.T) {
	srv := storetest.NewS3(t)
	s := s3store.New(s3store.NewClient(srv.Endpoint, srv.AccessKey, srv.SecretKey), srv.Bucket, "")
	v := storetest.Value(1000, 1)
	s.Set("https://example.com/", v)
	storetest.MustGet(t, s, "https://example.com/", v)
	if st := s.Stats(); st.Errors != 0 || st.Sets != 1 || st.Hits != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestPrefixesAreSeparate(t *testing.T) {
	srv := storetest.NewS3(t)
	a := s3store.New(srv.Client(), srv.Bucket, "a/")
	b := s3store.New(srv.Client(), srv.Bucket, "b/")
	a.Set("k", []byte("in a"))
	storetest.MustMiss(t, b, "k")
	if got := a.ObjectKey("k"); !strings.HasPrefix(got, "a/%kv/") || len(got) != len("a/%kv/xx/@")+64 {
		t.Fatalf("ObjectKey = %q, want a/%%kv/xx/@ and 64 hex digits", got)
	}
	if n := srv.Objects(t); n != 1 {
		t.Fatalf("bucket holds %d objects, want 1", n)
	}
}

func TestDamagedObjectIsMiss(t *testing.T) {
	srv := storetest.NewS3(t)
	c := srv.Client()
	s := s3store.New(c, srv.Bucket, "")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		value []byte
		obj   func() string
		// A replaced body object fails its If-Match, a miss, where the
		// server honours it, and its checksum where it does not.
		exact bool
	}{
		{"small, inside its metadata", []byte("the real value"), func() string { return s.ObjectKey("k") + "@@meta.json" }, true},
		{"large, in a body object", storetest.Value(2<<20, 4), func() string { return s.ObjectKey("k") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Set("k", tc.value)
			storetest.MustGet(t, s, "k", tc.value)
			// Change one byte of the object behind the store's back.
			obj := tc.obj()
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: &obj})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			b[len(b)-1] ^= 1 // the body's last byte: the end of a frame, or of a body object
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: &obj, Body: bytes.NewReader(b)}); err != nil {
				t.Fatal(err)
			}
			before := s.Stats().Corrupt
			storetest.MustMiss(t, s, "k")
			if st := s.Stats(); st.Corrupt > before+1 || (tc.exact && st.Corrupt != before+1) {
				t.Fatalf("Stats = %+v, want one more Corrupt (at most, for a body object)", st)
			}
		})
	}
}

// TestFailingS3 checks that every failure is a miss or a dropped write,
// counted, and bounded by the timeout.
func TestFailingS3(t *testing.T) {
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
	}))
	defer denied.Close()
	var hung atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		io.Copy(io.Discard, r.Body) // the server notices a gone client only after the body
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer func() { slow.CloseClientConnections(); slow.Close() }()
	// A port that was listening and is not any more: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name     string
		endpoint string
		timeout  bool
	}{
		{"dead endpoint", dead, false},
		{"access denied", denied.URL, false},
		{"hanging server", slow.URL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s3.New(s3.Options{BaseEndpoint: aws.String(tc.endpoint), Region: "us-east-1", UsePathStyle: true,
				Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
			s := s3store.New(c, "bucket", "", s3store.WithTimeout(300*time.Millisecond))
			start := time.Now()
			s.Set("k", []byte("v"))
			storetest.MustMiss(t, s, "k")
			s.Delete("k")
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("three calls took %v; the timeout is 300ms each", d)
			}
			st := s.Stats()
			if st.Errors != 3 || st.Sets != 0 || st.Hits != 0 || st.Misses != 1 {
				t.Fatalf("Stats = %+v, want 3 errors and a miss", st)
			}
			if tc.timeout && st.Timeouts != 3 {
				t.Fatalf("Timeouts = %d, want 3", st.Timeouts)
			}
		})
	}
}

// TestFailedCompleteIsReported: a multipart upload that S3 refuses to
// complete fails the commit with S3's own error, and leaves no object and
// no pending upload behind.
func TestFailedCompleteIsReported(t *testing.T) {
	srv := storetest.NewS3(t)
	st, _ := refusingProxy(t, srv, func(r *http.Request) bool { // CompleteMultipartUpload
		return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
	})
	u, _ := url.Parse("https://example.com/big")
	k, _ := cache.KeyFor(u)
	v := storetest.Value(20<<20, 1)
	ctx := context.Background()
	w, err := st.Create(ctx, k, &cache.Meta{Key: k.String(), Status: 200, Size: int64(len(v))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(v); err != nil {
		t.Fatal(err)
	}
	m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now()}
	m.SetSum(int64(len(v)), crc32.Checksum(v, cache.Castagnoli))
	err = w.Commit(ctx, m)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("Commit = %v, want S3's AccessDenied", err)
	}
	if n := srv.Objects(t); n != 0 {
		t.Errorf("%d objects left in the bucket, want none", n)
	}
	if n := pendingUploads(t, srv); n != 0 {
		t.Errorf("%d multipart uploads left pending, want none (aborted)", n)
	}
}

// TestLegacyInlineBodyIsAMiss: an entry whose small body an earlier
// version kept inside its JSON metadata (base64, no body object) is a miss
// for this one, never an empty or wrong body, and a new Set replaces it.
func TestLegacyInlineBodyIsAMiss(t *testing.T) {
	srv := storetest.NewS3(t)
	c := srv.Client()
	s := s3store.New(c, srv.Bucket, "legacy/")
	v := storetest.Value(1000, 5)
	s.Set("https://example.com/doc", v)
	ctx := context.Background()
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.Bucket, Prefix: aws.String("legacy/")})
	if err != nil {
		t.Fatal(err)
	}
	var metaKey string
	for _, o := range list.Contents {
		if strings.HasSuffix(aws.ToString(o.Key), "@@meta.json") {
			metaKey = aws.ToString(o.Key)
		}
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.Bucket, Key: &metaKey})
	if err != nil {
		t.Fatalf("metadata object %q: %v", metaKey, err)
	}
	framed, _ := io.ReadAll(out.Body)
	out.Body.Close()
	m, body, err := cache.Unframe(framed)
	if err != nil {
		t.Fatalf("the stored metadata is not a frame: %v", err)
	}
	legacy, _ := json.Marshal(struct {
		*cache.Meta
		Version int    `json:"version"`
		Body    []byte `json:"body"`
	}{m, 1, body})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &srv.Bucket, Key: &metaKey, Body: bytes.NewReader(legacy)}); err != nil {
		t.Fatal(err)
	}
	fresh := s3store.New(c, srv.Bucket, "legacy/")
	storetest.MustMiss(t, fresh, "https://example.com/doc")
	fresh.Set("https://example.com/doc", v)
	storetest.MustGet(t, fresh, "https://example.com/doc", v)
}

// refusingProxy fronts srv with a store, counting UploadPart requests;
// S3 refuses (AccessDenied) the requests refuse picks.
func refusingProxy(t *testing.T, srv *storetest.S3, refuse func(r *http.Request) bool) (cache.Store, *atomic.Int32) {
	t.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var parts atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			parts.Add(1)
		}
		if refuse(r) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return s3store.New(s3store.NewClient(front.URL, srv.AccessKey, srv.SecretKey), srv.Bucket, "p/").CacheStore(), &parts
}

// pendingUploads counts the bucket's multipart uploads not completed or
// aborted.
func pendingUploads(t *testing.T, srv *storetest.S3) int {
	t.Helper()
	out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// waitParts waits until at least n parts reached S3.
func waitParts(t *testing.T, parts *atomic.Int32, n int32) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); parts.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d parts uploaded while the body was written, want %d", parts.Load(), n)
		}
	}
}

// TestPartsUploadWhileWriting: a large body, of known length or not, goes
// to S3 in parts while it is still being written, so that its commit sends
// only the last one; the entry then reads back whole.
func TestPartsUploadWhileWriting(t *testing.T) {
	for _, known := range []bool{true, false} {
		srv := storetest.NewS3(t)
		st, parts := refusingProxy(t, srv, func(*http.Request) bool { return false })
		k := storetest.StoreKey("streamed")
		v := storetest.Value(25<<20+5, 3) // parts of 8 MiB: four
		ctx := context.Background()
		m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now()}
		if known {
			m.Size = int64(len(v))
		}
		w, err := st.Create(ctx, k, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(v[:17<<20]); err != nil {
			t.Fatal(err)
		}
		waitParts(t, parts, 2) // before the body is complete
		if _, err := w.Write(v[17<<20:]); err != nil {
			t.Fatal(err)
		}
		m.SetSum(int64(len(v)), crc32.Checksum(v, cache.Castagnoli))
		if err := w.Commit(ctx, m); err != nil {
			t.Fatalf("length known %v: %v", known, err)
		}
		w.Close()
		storetest.MustLookup(t, st, k, v)
		if n := parts.Load(); n != 4 {
			t.Errorf("length known %v: %d parts uploaded, want 4", known, n)
		}
		if n := pendingUploads(t, srv); n != 0 {
			t.Errorf("length known %v: %d multipart uploads left pending, want none", known, n)
		}
	}
}

// TestStreamedUploadGivenUp: a large body abandoned halfway, or one whose
// second part S3 refuses, leaves no object and no pending upload, and the
// refused one fails its commit with S3's error.
func TestStreamedUploadGivenUp(t *testing.T) {
	for _, refused := range []bool{false, true} {
		srv := storetest.NewS3(t)
		st, parts := refusingProxy(t, srv, func(r *http.Request) bool {
			return refused && r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2"
		})
		k := storetest.StoreKey("given-up")
		v := storetest.Value(25<<20, 4)
		ctx := context.Background()
		m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Size: int64(len(v))}
		w, err := st.Create(ctx, k, m)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(v[:17<<20])
		waitParts(t, parts, 2)
		if refused {
			w.Write(v[17<<20:])
			m.SetSum(int64(len(v)), crc32.Checksum(v, cache.Castagnoli))
			if err := w.Commit(ctx, m); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
				t.Errorf("Commit with a refused part = %v, want S3's AccessDenied", err)
			}
		}
		w.Abort()
		w.Close()
		storetest.MustNotFind(t, st, k)
		if n := srv.Objects(t); n != 0 {
			t.Errorf("refused %v: %d objects in the bucket, want none", refused, n)
		}
		if n := pendingUploads(t, srv); n != 0 {
			t.Errorf("refused %v: %d multipart uploads left pending, want none (aborted)", refused, n)
		}
	}
}

// TestStreamedUploadFailureRetriedAtCommit: when S3 fails a streamed
// upload during the download (its creation, or a part), the commit
// uploads the body once more from the spool, so that a passing failure
// loses no entry, and the failed upload leaves nothing pending.
func TestStreamedUploadFailureRetriedAtCommit(t *testing.T) {
	for _, what := range []string{"create", "part"} {
		srv := storetest.NewS3(t)
		var refused atomic.Bool
		st, _ := refusingProxy(t, srv, func(r *http.Request) bool {
			q := r.URL.Query()
			hit := (what == "create" && r.Method == http.MethodPost && q.Has("uploads")) ||
				(what == "part" && r.Method == http.MethodPut && q.Get("partNumber") == "1")
			return hit && refused.CompareAndSwap(false, true) // the first such request only
		})
		k := storetest.StoreKey("retried-" + what)
		v := storetest.Value(25<<20, 6)
		if err := storetest.Put(t, st, k, v, time.Now()); err != nil {
			t.Fatalf("S3 refusing the first %s once: Commit = %v, want the entry stored", what, err)
		}
		if !refused.Load() {
			t.Fatalf("%s: nothing was refused", what)
		}
		storetest.MustLookup(t, st, k, v)
		if n := pendingUploads(t, srv); n != 0 {
			t.Errorf("%s: %d multipart uploads left pending, want none", what, n)
		}
	}
}
