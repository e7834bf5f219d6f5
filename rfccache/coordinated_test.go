package rfccache_test

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/rfccache"
	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/storetest"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// machine is one worker of a fleet: its own S3 client, Redis client and
// cache stage on the shared bucket and prefix.
type machine struct {
	store  *s3store.Store
	client *http.Client
}

func newMachine(t *testing.T, bucket *storetest.S3, prefix string, rdb redis.UniversalClient) *machine {
	t.Helper()
	var opts []s3store.Option
	if rdb != nil {
		opts = append(opts, s3store.WithRedis(rdb))
	}
	st := s3store.New(bucket.Client(), bucket.Bucket, prefix, opts...)
	tr, err := rfccache.New(nil, st, rfccache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &machine{store: st, client: &http.Client{Transport: tr}}
}

func newRedisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

func uniquePrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "fleet-" + hex.EncodeToString(b[:]) + "/"
}

// fetchAll sends each machine's n concurrent GETs of url and checks every
// body against want.
func fetchAll(t *testing.T, machines []*machine, n int, url string, want []byte) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range machines {
		for range n {
			wg.Go(func() {
				resp, err := m.client.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				got, err := io.ReadAll(resp.Body)
				if err != nil || string(got) != string(want) {
					t.Errorf("body: %d bytes, %v; want the %d bytes sent", len(got), err, len(want))
				}
			})
		}
	}
	wg.Wait()
}

// TestRedisCoordinatesMachines: three machines on one bucket, each firing
// 10 concurrent GETs of one missing URL, make one origin request in all
// with Redis, and one per machine without.
func TestRedisCoordinatesMachines(t *testing.T) {
	bucket := storetest.NewS3(t)
	addr, _ := storetest.RedisAddr(t)
	body := []byte("a filing, fetched once by the fleet")
	for _, tt := range []struct {
		name  string
		redis bool
		want  int64
	}{
		{"with Redis", true, 1},
		{"without Redis", false, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			origin := testserver.New()
			defer origin.Close()
			origin.Handle("/doc", testserver.Slow(testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600")), 300*time.Millisecond))
			prefix := uniquePrefix()
			var machines []*machine
			for range 3 {
				var rdb redis.UniversalClient
				if tt.redis {
					rdb = newRedisClient(t, addr)
				}
				machines = append(machines, newMachine(t, bucket, prefix, rdb))
			}
			fetchAll(t, machines, 10, origin.URL+"/doc", body)
			if got := origin.Hits("/doc"); got != tt.want {
				t.Fatalf("the origin saw %d requests, want %d", got, tt.want)
			}
			var waits int64
			for _, m := range machines {
				waits += m.store.Stats().LockWaits
			}
			if tt.redis && waits != 2 {
				t.Errorf("%d machines waited for another's lock, want 2", waits)
			}
		})
	}
}
