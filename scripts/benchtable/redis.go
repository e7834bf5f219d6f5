package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/ratelimit"
)

func init() { redisPrecision = redisRun }

// redisRun hammers the origin through three Redis clients, each with its own
// limiter on one shared key, as three machines would.
func redisRun(origin string, stop time.Time) (workers int, note string, err error) {
	addr, note := os.Getenv("THROTTLECACHE_TEST_REDIS"), "real Redis server"
	if addr == "" {
		m, err := miniredis.Run()
		if err != nil {
			return 0, "", err
		}
		defer m.Close()
		addr, note = m.Addr(), "in-process miniredis"
	}
	var b [6]byte
	rand.Read(b[:])
	key := "throttlecache-bench:" + hex.EncodeToString(b[:])
	const clients, perClient = 3, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		l, err := ratelimit.NewRedisLimiter(rdb, key, limitN, limitPer, nil)
		if err != nil {
			return 0, "", err
		}
		wg.Go(func() {
			if err := hammer(l, origin, perClient, stop); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, "", fmt.Errorf("redis limiter: %w", err)
	}
	return clients * perClient, note, nil
}
