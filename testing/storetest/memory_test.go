package storetest_test

import (
	"testing"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/testing/storetest"
)

// The reference: httpcache's own MemoryCache passes the suite.
func TestMemoryCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T) httpcache.Cache { return httpcache.NewMemoryCache() })
	storetest.RunShared(t, func(t *testing.T) (a, b httpcache.Cache) {
		c := httpcache.NewMemoryCache()
		return c, c
	})
}
