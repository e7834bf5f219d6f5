// Package storetest is the conformance suite that every [httpcache.Cache]
// of this module passes: httpcachestore, s3store and, as the reference,
// httpcache's own MemoryCache. It also provides the real servers the
// tests use (an S3 bucket, a Redis address), with in-process stand-ins
// outside CI. It is a test harness: it lives under testing/, not
// internal/.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) httpcache.Cache {
//			s, err := httpcachestore.New(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// It is not part of the API contract.
package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/gregjones/httpcache"
)

// Run runs the conformance cases, each on a new store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) httpcache.Cache) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// RunShared runs the cases for stores that share their contents, such as two
// Stores on one folder or one bucket: what one writes, the other reads.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b httpcache.Cache)) {
	t.Helper()
	for _, tc := range sharedCases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			tc.run(t, a, b)
		})
	}
}

// Value returns n deterministic bytes for seed, every byte value included.
func Value(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// MustGet fails t unless c holds want for key.
func MustGet(t testing.TB, c httpcache.Cache, key string, want []byte) {
	t.Helper()
	got, ok := c.Get(key)
	if !ok {
		t.Fatalf("Get(%.60q): miss, want %d bytes", key, len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%.60q): %d bytes, not the %d bytes stored (%s)", key, len(got), len(want), firstDiff(got, want))
	}
}

// MustMiss fails t if c holds a value for key.
func MustMiss(t testing.TB, c httpcache.Cache, key string) {
	t.Helper()
	if got, ok := c.Get(key); ok {
		t.Fatalf("Get(%.60q): %d bytes, want a miss", key, len(got))
	}
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d", i)
		}
	}
	return "one is a prefix of the other"
}

type testCase struct {
	name string
	run  func(t *testing.T, c httpcache.Cache)
}

var cases = []testCase{
	{"MissingKeyIsMiss", func(t *testing.T, c httpcache.Cache) {
		MustMiss(t, c, "https://example.com/never-stored")
	}},
	{"SetThenGet", func(t *testing.T, c httpcache.Cache) {
		v := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
		c.Set("https://example.com/a", v)
		MustGet(t, c, "https://example.com/a", v)
	}},
	{"BinaryValue", func(t *testing.T, c httpcache.Cache) {
		v := make([]byte, 512)
		for i := range v {
			v[i] = byte(i)
		}
		c.Set("k", v)
		MustGet(t, c, "k", v)
	}},
	{"EmptyValue", func(t *testing.T, c httpcache.Cache) {
		c.Set("empty", []byte{})
		got, ok := c.Get("empty")
		if ok && len(got) != 0 {
			t.Fatalf("Get: %d bytes, want none", len(got))
		}
	}},
	{"LargeValue", func(t *testing.T, c httpcache.Cache) {
		v := Value(5<<20+3, 1)
		c.Set("large", v)
		MustGet(t, c, "large", v)
	}},
	{"Overwrite", func(t *testing.T, c httpcache.Cache) {
		c.Set("k", Value(1000, 1))
		v := Value(10, 2)
		c.Set("k", v)
		MustGet(t, c, "k", v)
	}},
	{"Delete", func(t *testing.T, c httpcache.Cache) {
		c.Set("k", []byte("v"))
		c.Set("other", []byte("w"))
		c.Delete("k")
		MustMiss(t, c, "k")
		MustGet(t, c, "other", []byte("w"))
	}},
	{"DeleteMissingKey", func(t *testing.T, c httpcache.Cache) {
		c.Delete("never-stored")
		MustMiss(t, c, "never-stored")
	}},
	{"SetAfterDelete", func(t *testing.T, c httpcache.Cache) {
		c.Set("k", []byte("one"))
		c.Delete("k")
		c.Set("k", []byte("two"))
		MustGet(t, c, "k", []byte("two"))
	}},
	{"KeysAreDistinct", func(t *testing.T, c httpcache.Cache) {
		keys := []string{
			"https://example.com/a", "https://example.com/A", "https://example.com/a/",
			"https://example.com/a?x=1", "POST https://example.com/a", "", " ", "a", "a\x00",
		}
		for i, k := range keys {
			c.Set(k, []byte(fmt.Sprint("value ", i)))
		}
		for i, k := range keys {
			MustGet(t, c, k, []byte(fmt.Sprint("value ", i)))
		}
	}},
	{"HostileKeys", func(t *testing.T, c httpcache.Cache) {
		keys := []string{
			"../../../../etc/passwd", "/absolute/path", `C:\windows\system32`, "a/../../b",
			"ключ-日本語-🔑", "\r\n\t\x00\xff", strings.Repeat("long/", 4000), "%2e%2e%2f",
		}
		for i, k := range keys {
			c.Set(k, []byte(fmt.Sprint("v", i)))
		}
		for i, k := range keys {
			MustGet(t, c, k, []byte(fmt.Sprint("v", i)))
		}
	}},
	{"ManyKeys", func(t *testing.T, c httpcache.Cache) {
		const n = 300
		for i := range n {
			c.Set(fmt.Sprint("https://example.com/item/", i), Value(64, uint64(i)))
		}
		for i := range n {
			MustGet(t, c, fmt.Sprint("https://example.com/item/", i), Value(64, uint64(i)))
		}
	}},
	{"ConcurrentWritersNeverMix", func(t *testing.T, c httpcache.Cache) {
		// Readers see one whole value or a miss, never a blend of writes.
		vals := [][]byte{Value(64<<10, 1), Value(64<<10, 2), Value(1000, 3), Value(200<<10, 4)}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 10 {
					c.Set("race", vals[(w+i)%len(vals)])
					got, ok := c.Get("race")
					if !ok {
						continue
					}
					if !matchesOne(got, vals) {
						t.Errorf("Get returned %d bytes that are none of the values written", len(got))
						return
					}
				}
			})
		}
		wg.Wait()
		got, ok := c.Get("race")
		if !ok || !matchesOne(got, vals) {
			t.Fatalf("after the writers: ok=%v, %d bytes that are none of the values written", ok, len(got))
		}
	}},
	{"ConcurrentKeys", func(t *testing.T, c httpcache.Cache) {
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				k := fmt.Sprint("key-", w)
				v := Value(4096, uint64(w))
				c.Set(k, v)
				if got, ok := c.Get(k); !ok || !bytes.Equal(got, v) {
					t.Errorf("Get(%s) after Set: ok=%v, %d bytes", k, ok, len(got))
				}
				c.Delete(k)
				if _, ok := c.Get(k); ok {
					t.Errorf("Get(%s) after Delete: hit", k)
				}
			})
		}
		wg.Wait()
	}},
}

var sharedCases = []struct {
	name string
	run  func(t *testing.T, a, b httpcache.Cache)
}{
	{"WrittenByOneReadByOther", func(t *testing.T, a, b httpcache.Cache) {
		v := Value(100<<10, 7)
		a.Set("shared", v)
		MustGet(t, b, "shared", v)
	}},
	// a reads first in the next two, so that what it remembers of the
	// entry is stale the moment b writes: small values, and large ones
	// that a store keeps apart from their metadata.
	{"OverwrittenByOther", func(t *testing.T, a, b httpcache.Cache) {
		for _, n := range []int{6, 200 << 10} {
			a.Set("shared", Value(n, 1))
			MustGet(t, a, "shared", Value(n, 1))
			b.Set("shared", Value(n, 2))
			MustGet(t, a, "shared", Value(n, 2))
		}
	}},
	{"DeletedByOther", func(t *testing.T, a, b httpcache.Cache) {
		for _, n := range []int{1, 200 << 10} {
			a.Set("shared", Value(n, 3))
			MustGet(t, a, "shared", Value(n, 3))
			b.Delete("shared")
			MustMiss(t, a, "shared")
		}
	}},
	{"ConcurrentBothSides", func(t *testing.T, a, b httpcache.Cache) {
		vals := [][]byte{Value(32<<10, 1), Value(48<<10, 2)}
		var wg sync.WaitGroup
		for w, c := range []httpcache.Cache{a, b, a, b} {
			wg.Go(func() {
				for i := range 10 {
					c.Set("both", vals[(w+i)%2])
					if got, ok := c.Get("both"); ok && !matchesOne(got, vals) {
						t.Errorf("Get returned %d bytes that are none of the values written", len(got))
						return
					}
				}
			})
		}
		wg.Wait()
	}},
}

func matchesOne(got []byte, vals [][]byte) bool {
	for _, v := range vals {
		if bytes.Equal(got, v) {
			return true
		}
	}
	return false
}
