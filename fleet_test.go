package throttlecache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/testing/storetest"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// The fleet test: machines (processes) on one S3 bucket and one Redis,
// each fetching the same URLs at once under one shared limit.

const (
	fleetURLs     = 30
	fleetMachines = 3
	fleetLimit    = 10                    // requests per second, shared through Redis
	envFleet      = "THROTTLECACHE_FLEET" // the child's settings, see fleetEnv
)

// fleetSize is the body size of URL i: small ones travel inside their
// metadata object, large ones in a body object of their own.
func fleetSize(i int) int64 { return 1000 + int64(i)*40_000 }

// fleetEnv is what a fleet child is told, one value per line.
type fleetEnv struct {
	Endpoint, Key, Secret, Bucket, Prefix string
	Redis, LimitKey, Origin               string
	Coordinate                            bool
}

func (e fleetEnv) String() string {
	return strings.Join([]string{e.Endpoint, e.Key, e.Secret, e.Bucket, e.Prefix, e.Redis, e.LimitKey, e.Origin, strconv.FormatBool(e.Coordinate)}, "\n")
}

func parseFleetEnv(s string) fleetEnv {
	f := strings.Split(s, "\n")
	c, _ := strconv.ParseBool(f[8])
	return fleetEnv{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], c}
}

// TestFleetChild is one machine of the fleet: a Manager on RFCS3 with the
// shared limiter (and, coordinating, Redis) fetches every URL at once and
// checks every byte.
func TestFleetChild(t *testing.T) {
	v := os.Getenv(envFleet)
	if v == "" {
		t.Skip("run by TestFleet")
	}
	e := parseFleetEnv(v)
	rdb := redis.NewClient(&redis.Options{Addr: e.Redis})
	defer rdb.Close()
	l, err := ratelimit.NewRedisLimiter(rdb, e.LimitKey, fleetLimit, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	s3c := (&storetest.S3{Endpoint: e.Endpoint, AccessKey: e.Key, SecretKey: e.Secret}).Client()
	cfg := Config{CacheMode: RFCS3, S3Client: s3c, S3Bucket: e.Bucket, S3Prefix: e.Prefix, Limiter: l}
	if e.Coordinate {
		cfg.Redis = rdb
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	urls := make([]string, fleetURLs)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/fleet/%d", e.Origin, i)
	}
	for i, r := range m.GetBatch(context.Background(), urls, WithConcurrency(fleetURLs)) {
		want, _ := io.ReadAll(testserver.GeneratedReader(fleetSize(i), int64(i)))
		if r.Err != nil || !bytes.Equal(r.Body, want) {
			t.Errorf("%s: %d bytes, %v; want the %d bytes the origin sent", r.URL, len(r.Body), r.Err, len(want))
		}
	}
	s := m.Stats()
	fmt.Printf("fleet-stats network=%d hits=%d misses=%d lockwaits=%d lockerrors=%d\n",
		s.Network.Requests, s.Cache.Hits, s.Cache.Misses, s.Cache.LockWaits, s.Cache.LockErrors)
}

// fleetRun is what one run of the fleet measured.
type fleetRun struct {
	origin   int64         // requests that reached the origin
	maxOnce  int64         // the most requests any one URL got
	busiest  int           // the largest count in any one-second window
	wall     time.Duration // from the start of the processes to the end of the last
	children []string      // each child's stats line
}

// runFleet starts the machines on a fresh prefix and waits for them.
func runFleet(t *testing.T, bucket *storetest.S3, redisAddr string, coordinate bool) fleetRun {
	t.Helper()
	origin := testserver.New()
	defer origin.Close()
	for i := range fleetURLs {
		origin.Handle(fmt.Sprintf("/fleet/%d", i), testserver.Generated(fleetSize(i), int64(i),
			testserver.WithHeader("Cache-Control", "max-age=3600")))
	}
	var b [6]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	env := fleetEnv{
		Endpoint: bucket.Endpoint, Key: bucket.AccessKey, Secret: bucket.SecretKey, Bucket: bucket.Bucket,
		Prefix: "fleet-" + id + "/", Redis: redisAddr, LimitKey: "throttlecache-fleet:" + id,
		Origin: origin.URL, Coordinate: coordinate,
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var run fleetRun
	for i := range fleetMachines {
		cmd := childCommandFor("TestFleetChild", envFleet+"="+env.String())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			err := cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("machine %d: %v\n%s", i, err, out.String())
			}
			for line := range strings.Lines(out.String()) {
				if strings.HasPrefix(line, "fleet-stats ") {
					run.children = append(run.children, strings.TrimSpace(line))
				}
			}
		})
	}
	wg.Wait()
	run.wall = time.Since(start)
	times := origin.ArrivalTimes() // the origin serves the fleet's URLs only
	run.origin = int64(len(times))
	for i := range fleetURLs {
		run.maxOnce = max(run.maxOnce, origin.Hits(fmt.Sprintf("/fleet/%d", i)))
	}
	run.busiest = testserver.MaxInWindow(times, time.Second)
	return run
}

// TestFleet runs three machines (processes) on one bucket and one Redis,
// each fetching the same 30 URLs at once under a shared limit of 10 per
// second: with Redis coordinating the misses every URL reaches the origin
// once; without, once per machine. Either way no second holds more than 10
// arrivals and every byte is checked.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process, real-time test")
	}
	bucket := storetest.NewS3(t)
	redisAddr, _ := storetest.RedisAddr(t)
	for _, coordinate := range []bool{true, false} {
		run := runFleet(t, bucket, redisAddr, coordinate)
		t.Logf("coordinated %v: %d origin requests for %d URLs (at most %d for one URL), largest count in any second %d (limit %d), wall %v; machines: %q",
			coordinate, run.origin, fleetURLs, run.maxOnce, run.busiest, fleetLimit, run.wall.Round(10*time.Millisecond), run.children)
		if run.busiest > fleetLimit {
			t.Errorf("coordinated %v: %d arrivals within one second; limit %d", coordinate, run.busiest, fleetLimit)
		}
		if coordinate && (run.origin != fleetURLs || run.maxOnce != 1) {
			t.Errorf("coordinated: %d origin requests, at most %d for one URL; want each of the %d URLs once", run.origin, run.maxOnce, fleetURLs)
		}
		if !coordinate && run.origin <= fleetURLs {
			t.Errorf("uncoordinated: %d origin requests; the machines should each have fetched", run.origin)
		}
	}
}

// TestFleetRedisDown: with its Redis out of reach an RFCS3 Manager still
// serves every request, coalesced in the process, and counts the lock it
// could not take.
func TestFleetRedisDown(t *testing.T) {
	bucket := storetest.NewS3(t)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	origin := testserver.New()
	defer origin.Close()
	body := []byte("served without Redis")
	origin.Handle("/doc", testserver.Slow(testserver.NewResource(body, testserver.WithHeader("Cache-Control", "max-age=3600")), 100*time.Millisecond))
	m := newManager(t, Config{CacheMode: RFCS3, S3Client: bucket.Client(), S3Bucket: bucket.Bucket, Redis: rdb, DisableRateLimit: true})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			resp, err := m.Client().Get(origin.URL + "/doc")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if got, err := io.ReadAll(resp.Body); err != nil || string(got) != string(body) {
				t.Errorf("body %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if s := m.Stats(); origin.Hits("/doc") != 1 || s.Cache.LockErrors != 1 || s.Cache.LockWaits != 0 {
		t.Fatalf("origin saw %d requests; stats %+v", origin.Hits("/doc"), s.Cache)
	}
}
