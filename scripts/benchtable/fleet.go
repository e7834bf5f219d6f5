package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// The fleet: processes on one S3 bucket and one Redis, each fetching the
// same URLs at once under one shared limit, as machines of a bulk job do.
const (
	fleetURLs     = 30
	fleetMachines = 3
	fleetLimit    = 10
)

func fleetSize(i int) int64 { return 1000 + int64(i)*40_000 }

// benchFleet runs the fleet with Redis coordinating the misses and again
// without, and reports what reached the origin.
func benchFleet(t *table, s3 *s3Server) string {
	addr, note := os.Getenv("THROTTLECACHE_TEST_REDIS"), "a real Redis server"
	if addr == "" {
		m, err := miniredis.Run()
		if err != nil {
			log.Fatal(err)
		}
		defer m.Close()
		addr, note = m.Addr(), "an in-process miniredis"
	}
	section := fmt.Sprintf("fleet: %d processes, one bucket, %d URLs each, %d/s shared through Redis", fleetMachines, fleetURLs, fleetLimit)
	for _, coordinate := range []bool{true, false} {
		origin, busiest, maxOne, wall := runFleet(s3, addr, coordinate)
		name := "misses coordinated through Redis (Config.Redis)"
		if !coordinate {
			name = "misses coalesced per process only"
		}
		t.add(section, name,
			fmt.Sprintf("%d origin requests (most for one URL: %d); largest in any 1 s: %d; wall %.2f s", origin, maxOne, busiest, wall.Seconds()),
			fmt.Sprintf("ideal: %d requests, ≤ %d in any second, %.0f s", fleetURLs, fleetLimit, float64(fleetURLs)/fleetLimit-1))
	}
	return "The fleet runs on " + note + " and " + s3.describe() + "; every body is checked byte for byte."
}

func runFleet(s3 *s3Server, redisAddr string, coordinate bool) (origin int, busiest int, maxOne int64, wall time.Duration) {
	srv := testserver.New()
	defer srv.Close()
	for i := range fleetURLs {
		srv.Handle(fmt.Sprintf("/fleet/%d", i), testserver.Generated(fleetSize(i), int64(i),
			testserver.WithHeader("Cache-Control", "max-age=3600")))
	}
	var b [6]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	env := []string{childEnv + "=fleet",
		"BENCHTABLE_S3=" + strings.Join([]string{s3.endpoint, s3.key, s3.secret, s3.bucket}, "\n"),
		"BENCHTABLE_PREFIX=fleet-" + id + "/",
		"BENCHTABLE_REDIS=" + redisAddr,
		"BENCHTABLE_LIMITKEY=throttlecache-bench-fleet:" + id,
		"BENCHTABLE_ORIGIN=" + srv.URL,
		fmt.Sprintf("BENCHTABLE_COORDINATE=%v", coordinate),
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range fleetMachines {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), env...)
		cmd.Stderr = os.Stderr
		wg.Go(func() {
			if err := cmd.Run(); err != nil {
				log.Fatalf("fleet process %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	wall = time.Since(start)
	times := srv.ArrivalTimes() // the origin serves the fleet's URLs only
	for i := range fleetURLs {
		maxOne = max(maxOne, srv.Hits(fmt.Sprintf("/fleet/%d", i)))
	}
	return len(times), testserver.MaxInWindow(times, time.Second), maxOne, wall
}

// runFleetMachine is one process of the fleet: an RFCS3 Manager with the
// shared limiter fetches every URL at once and checks every byte.
func runFleetMachine() {
	s3env := strings.Split(os.Getenv("BENCHTABLE_S3"), "\n")
	client := s3.New(s3.Options{
		BaseEndpoint:               aws.String(s3env[0]),
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(s3env[1], s3env[2], ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("BENCHTABLE_REDIS")})
	defer rdb.Close()
	l, err := ratelimit.NewRedisLimiter(rdb, os.Getenv("BENCHTABLE_LIMITKEY"), fleetLimit, time.Second, nil)
	if err != nil {
		log.Fatal(err)
	}
	cfg := throttlecache.Config{CacheMode: throttlecache.RFCS3, S3Client: client, S3Bucket: s3env[3],
		S3Prefix: os.Getenv("BENCHTABLE_PREFIX"), Limiter: l}
	if os.Getenv("BENCHTABLE_COORDINATE") == "true" {
		cfg.Redis = rdb
	}
	m, err := throttlecache.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	urls := make([]string, fleetURLs)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/fleet/%d", os.Getenv("BENCHTABLE_ORIGIN"), i)
	}
	for i, r := range m.GetBatch(context.Background(), urls, throttlecache.WithConcurrency(fleetURLs)) {
		want, _ := io.ReadAll(testserver.GeneratedReader(fleetSize(i), int64(i)))
		if r.Err != nil || !bytes.Equal(r.Body, want) {
			log.Fatalf("%s: %d bytes, %v; want the %d bytes the origin sent", r.URL, len(r.Body), r.Err, len(want))
		}
	}
}
