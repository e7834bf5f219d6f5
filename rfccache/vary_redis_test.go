package rfccache_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throttlecache/throttlecache/testing/storetest"
)

// TestVariantRedisLockAcrossMachines: two machines on one bucket and
// Redis. On M1, A's download runs; B1 joins its flight, learns it is
// another variant and leads a flight of B's Vary key, taking the Redis
// lock of "…@@v-<sig>". M2's B2 knows no Vary yet: it takes the URL's base
// lock (held by M1's A until A's download ends), then finds A's marker,
// takes B's lock instead and waits for B1's entry rather than asking the
// origin for B a second time.
func TestVariantRedisLockAcrossMachines(t *testing.T) {
	bucket := storetest.NewS3(t)
	addr, _ := storetest.RedisAddr(t)
	holdA, holdB := make(chan struct{}), make(chan struct{})
	var bRequests atomic.Int32
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("Cache-Control", "max-age=600")
		if r.Header.Get("Accept-Language") == "a" {
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "aa")
			w.(http.Flusher).Flush()
			<-holdA
			io.WriteString(w, "aa")
			return
		}
		bRequests.Add(1)
		w.Header().Set("Content-Length", "6")
		io.WriteString(w, "la")
		w.(http.Flusher).Flush()
		<-holdB
		io.WriteString(w, "ng=b")
	}))
	t.Cleanup(origin.Close)
	var onceA, onceB sync.Once
	relA := func() { onceA.Do(func() { close(holdA) }) }
	relB := func() { onceB.Do(func() { close(holdB) }) }
	t.Cleanup(relB)
	t.Cleanup(relA)
	prefix := uniquePrefix()
	m1 := newMachine(t, bucket, prefix, newRedisClient(t, addr))
	m2 := newMachine(t, bucket, prefix, newRedisClient(t, addr))
	get := func(c *http.Client, lang string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, origin.URL+"/doc", nil)
		req.Header.Set("Accept-Language", lang)
		return c.Do(req)
	}
	a, err := get(m1.client, "a")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	bodies, status := make([]string, 2), make([]string, 2)
	for i, m := range []*machine{m1, m2} {
		if i == 1 {
			// M1's B1 is downloading B
			for deadline := time.Now().Add(500 * time.Millisecond); bRequests.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
		wg.Go(func() {
			resp, err := get(m.client, "b")
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies[i], status[i] = string(b), resp.Header.Get("X-Cache")
		})
	}
	relA()
	if rest, err := io.ReadAll(a.Body); err != nil || string(rest) != "aaaa" {
		t.Fatalf("A: %q %v", rest, err)
	}
	a.Body.Close()
	for deadline := time.Now().Add(2 * time.Second); bRequests.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	relB()
	wg.Wait()
	for i, b := range bodies {
		if b != "lang=b" {
			t.Errorf("B on M%d: %q %s", i+1, b, status[i])
		}
	}
	if n := bRequests.Load(); n != 1 {
		t.Fatalf("%d origin requests for variant B from two machines sharing Redis, want 1 (X-Cache %v)", n, status)
	}
}
