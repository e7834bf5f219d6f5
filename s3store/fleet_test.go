package s3store_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/storetest"
)

// watchedStore is a Store on srv through a proxy that calls see with
// every request before passing it on.
func watchedStore(t *testing.T, srv *storetest.S3, see func(r *http.Request)) *s3store.Store {
	t.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		see(r)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return s3store.New(s3store.NewClient(front.URL, srv.AccessKey, srv.SecretKey), srv.Bucket, "p/")
}

// TestInlineReplacementSeenAtOnce: once another machine has replaced a
// large entry it read with a small one (kept inside its metadata), a
// machine that read the large one's metadata a moment ago serves the small
// one, and the large body's object is gone. A small commit of an entry
// with no known body object sends no DELETE.
func TestInlineReplacementSeenAtOnce(t *testing.T) {
	srv := storetest.NewS3(t)
	a := s3store.New(srv.Client(), srv.Bucket, "p/")
	var deletes atomic.Int32
	b := watchedStore(t, srv, func(r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		}
	})
	large, small := storetest.Value(200<<10, 1), storetest.Value(10, 2)
	b.Set("new", small)
	if n := deletes.Load(); n != 0 {
		t.Fatalf("a small commit of a new entry sent %d DELETEs, want none", n)
	}
	a.Set("k", large)
	storetest.MustGet(t, a, "k", large) // a reuses this metadata for a second
	storetest.MustGet(t, b, "k", large) // as a cache looks before it stores
	b.Set("k", small)
	storetest.MustGet(t, a, "k", small)
	if n := srv.Objects(t); n != 2 {
		t.Fatalf("%d objects in the bucket, want 2 (two small entries): the large body's object outlived its entry", n)
	}
}

// TestNoUploadLeftPending: a body of unknown length given up while S3
// creates its multipart upload, and an empty value, leave no upload
// behind; an empty value starts none.
func TestNoUploadLeftPending(t *testing.T) {
	srv := storetest.NewS3(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var creates atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !r.URL.Query().Has("uploads") {
			proxy.ServeHTTP(w, r)
			return
		}
		// S3 creates the upload, then its answer is slow: the writer
		// gives up while it waits.
		creates.Add(1)
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
		time.Sleep(50 * time.Millisecond)
		for name, v := range rec.Header() {
			w.Header()[name] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(front.Close)
	s := s3store.New(s3store.NewClient(front.URL, srv.AccessKey, srv.SecretKey), srv.Bucket, "p/")
	st := s.CacheStore()
	for i := range 5 {
		k := storetest.StoreKey(fmt.Sprint("chunked-", i))
		w, err := st.Create(context.Background(), k, &cache.Meta{Key: k.String(), Status: 200}) // Size 0: unknown
		if err != nil {
			t.Fatal(err)
		}
		w.Write(storetest.Value(1000, uint64(i)))
		time.Sleep(10 * time.Millisecond) // the creation is under way
		w.Abort()
		w.Close()
	}
	started := creates.Load()
	s.Set("empty", nil)
	storetest.MustGet(t, s, "empty", []byte{})
	if n := creates.Load() - started; n != 0 {
		t.Fatalf("an empty value started %d multipart uploads, want none", n)
	}
	if n := pendingUploads(t, srv); n != 0 {
		t.Fatalf("%d multipart uploads left pending after %d aborted writers, want none", n, started)
	}
}

// TestUpdateAfterInvalidationFails: a 304's Update that another machine's
// invalidation lands in the middle of (after its read, before its write)
// leaves no entry.
func TestUpdateAfterInvalidationFails(t *testing.T) {
	srv := storetest.NewS3(t)
	a := s3store.New(srv.Client(), srv.Bucket, "p/").CacheStore()
	k := storetest.StoreKey("doc")
	var armed atomic.Bool
	b := watchedStore(t, srv, func(r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "@@meta.json") && armed.CompareAndSwap(true, false) {
			if _, err := a.Invalidate(context.Background(), k.URL()); err != nil {
				t.Errorf("Invalidate: %v", err)
			}
		}
	}).CacheStore()
	if err := storetest.Put(t, a, k, []byte("the old representation"), time.Now()); err != nil {
		t.Fatal(err)
	}
	m, body, err := b.Lookup(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	nm := *m
	nm.Fetched, nm.Started = time.Now(), time.Now()
	armed.Store(true)
	if body, err := b.Update(context.Background(), k, &nm); err == nil {
		body.Close()
		t.Fatal("Update succeeded across an invalidation")
	}
	storetest.MustNotFind(t, a, k)
}

// TestInvalidationRecordRefused: Invalidate reports an invalidation record
// S3 refused, without which another machine's earlier download commits.
func TestInvalidationRecordRefused(t *testing.T) {
	srv := storetest.NewS3(t)
	a, _ := refusingProxy(t, srv, func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/.inval/")
	})
	b := s3store.New(srv.Client(), srv.Bucket, "p/").CacheStore()
	k := storetest.StoreKey("doc")
	ctx := context.Background()
	v := []byte("stale after the POST")
	m := &cache.Meta{Key: k.String(), Status: 200, Fetched: time.Now(), Started: time.Now(), Size: int64(len(v))}
	w, err := b.Create(ctx, k, m)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(v)
	_, ierr := a.Invalidate(ctx, k.URL())
	m.SetSum(int64(len(v)), crc32.Checksum(v, cache.Castagnoli))
	if cerr := w.Commit(ctx, m); ierr == nil && cerr == nil {
		t.Fatal("Invalidate succeeded, yet the download that started before it committed after it")
	}
}

// TestReplacedBodyIsNotDamage: on a server that ignores If-Match, a body
// object replaced between a machine's two GETs is a miss there, and the
// new entry stays.
func TestReplacedBodyIsNotDamage(t *testing.T) {
	srv := storetest.NewInProcessS3(t)
	b := s3store.New(srv.Client(), srv.Bucket, "p/")
	v1, v2 := storetest.Value(200<<10, 1), storetest.Value(300<<10, 2)
	var armed atomic.Bool
	a := watchedStore(t, srv, func(r *http.Request) {
		if r.Method == http.MethodGet && r.Header.Get("If-Match") != "" && !strings.HasSuffix(r.URL.Path, "@@meta.json") &&
			armed.CompareAndSwap(true, false) {
			b.Set("k", v2)
		}
	})
	b.Set("k", v1)
	armed.Store(true)
	if got, ok := a.Get("k"); ok && len(got) != len(v1) && len(got) != len(v2) {
		t.Fatalf("a got %d bytes", len(got))
	}
	storetest.MustGet(t, b, "k", v2)
	if st := a.Stats(); st.Corrupt != 0 {
		t.Fatalf("a replaced body counted as damage: %+v", st)
	}
}

// TestInlineCommitSparesAnotherMachinesBody: a small commit of an entry
// this machine never read leaves the body object alone, which another
// machine may have just written for its own, large, entry.
func TestInlineCommitSparesAnotherMachinesBody(t *testing.T) {
	srv := storetest.NewS3(t)
	x := s3store.New(srv.Client(), srv.Bucket, "p/")
	large, small := storetest.Value(200<<10, 1), storetest.Value(10, 2)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r)
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "@@meta.json") {
			once.Do(func() { x.Set("k", large) }) // x commits whole right after y's metadata
		}
	}))
	t.Cleanup(front.Close)
	y := s3store.New(s3store.NewClient(front.URL, srv.AccessKey, srv.SecretKey), srv.Bucket, "p/")
	y.Set("k", small)
	storetest.MustGet(t, x, "k", large)
}
