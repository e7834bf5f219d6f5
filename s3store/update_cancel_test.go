package s3store_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/storetest"
)

// TestCanceledUpdateKeepsTheEntry: a 304's Update whose caller goes away
// while it reads the invalidation record (or whose read fails) keeps the
// good entry: an unread record is not taken for an invalidation there.
func TestCanceledUpdateKeepsTheEntry(t *testing.T) {
	srv := storetest.NewS3(t)
	a := s3store.New(srv.Client(), srv.Bucket, "p/").CacheStore()
	k := storetest.StoreKey("doc")
	v := storetest.Value(200<<10, 1)
	if err := storetest.Put(t, a, k, v, time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := watchedStore(t, srv, func(r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/.inval/") {
			cancel() // the client of the revalidating request goes away
		}
	}).CacheStore()
	m, body, err := b.Lookup(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	nm := *m
	nm.Fetched, nm.Started = time.Now(), time.Now()
	if body, err := b.Update(ctx, k, &nm); err == nil {
		body.Close()
	} else {
		t.Logf("Update: %v", err)
	}
	storetest.MustLookup(t, a, k, v)
}
