package storetest_test

import (
	"testing"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/storetest"
)

// Every backend of the engine passes the same cases: the file store (the
// FileCache and RFCFile modes), S3 (RFCS3; the real server in CI) and the
// []byte adapter of any other httpcache.Cache.
func TestStores(t *testing.T) {
	t.Run("files", func(t *testing.T) {
		storetest.RunStore(t, storetest.Caps{Variants: true, Tombstones: true}, func(t *testing.T) cache.Store {
			s, err := httpcachestore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s.CacheStore()
		})
	})
	t.Run("S3", func(t *testing.T) {
		bucket := storetest.NewS3(t)
		n := 0
		storetest.RunStore(t, storetest.Caps{Variants: true, Tombstones: true}, func(t *testing.T) cache.Store {
			n++
			return s3store.New(bucket.Client(), bucket.Bucket, string(rune('a'+n))+"/").CacheStore()
		})
	})
	t.Run("httpcache.MemoryCache", func(t *testing.T) {
		storetest.RunStore(t, storetest.Caps{}, func(t *testing.T) cache.Store {
			return cache.NewByteStore(httpcache.NewMemoryCache(), nil)
		})
	})
}
