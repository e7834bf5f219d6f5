package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/throttlecache/throttlecache/ratelimit"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// The limit every precision run enforces: EDGAR's.
const (
	limitN   = 10
	limitPer = time.Second
)

// childEnv names the role of a child process this program starts.
const childEnv = "BENCHTABLE_CHILD"

// redisPrecision, when set (redis.go), measures a Redis limiter shared by
// several clients and returns its arrivals and a note.
var redisPrecision func(origin string, stop time.Time) (workers int, note string, err error)

// benchLimiters measures how strictly each limiter holds 10 requests per
// second at the origin: the largest count in any 1 s window, and the
// sustained rate after the first window's burst.
func benchLimiters(t *table, quick bool) (notes []string) {
	span := 6 * time.Second
	if quick {
		span = 2 * time.Second
	}
	const section = "limiter precision, 10 per 1 s at the origin"
	record := func(subject, path string, srv *testserver.Server) {
		var ts []time.Time
		for _, r := range srv.Requests() {
			if r.Path == path {
				ts = append(ts, r.At)
			}
		}
		if len(ts) <= limitN {
			log.Fatalf("%s: only %d requests reached the origin", subject, len(ts))
		}
		largest := testserver.MaxInWindow(ts, limitPer)
		sustained := float64(len(ts)-limitN) / ts[len(ts)-1].Sub(ts[0]).Seconds()
		verdict := "held"
		if largest > limitN {
			verdict = "EXCEEDED"
		}
		t.add(section, subject,
			fmt.Sprintf("largest in any 1 s: %d (%s); sustained %.2f/s over %d requests", largest, verdict, sustained, len(ts)),
			fmt.Sprintf("%.0f%% of the limit", 100*sustained/limitN))
	}

	srv := testserver.New()
	defer srv.Close()
	srv.HandlePrefix("/", testserver.Status(http.StatusOK, "ok"))

	sw, err := ratelimit.NewSlidingWindow(limitN, limitPer, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := hammer(sw, srv.URL+"/in-process", 16, time.Now().Add(span)); err != nil {
		log.Fatal(err)
	}
	record("SlidingWindow, 16 goroutines", "/in-process", srv)

	dir, err := os.MkdirTemp("", "benchtable-limiter-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "limiter")
	const procs, perProc = 3, 6
	stop := time.Now().Add(span + time.Second) // a second to start the processes
	var wg sync.WaitGroup
	for i := range procs {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"=filelimiter",
			"BENCHTABLE_ORIGIN="+srv.URL+"/file-limiter",
			"BENCHTABLE_STATE="+state,
			"BENCHTABLE_WORKERS="+strconv.Itoa(perProc),
			"BENCHTABLE_STOP="+strconv.FormatInt(stop.UnixNano(), 10))
		cmd.Stderr = os.Stderr
		wg.Go(func() {
			if err := cmd.Run(); err != nil {
				log.Fatalf("limiter process %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	record(fmt.Sprintf("FileLimiter, %d processes × %d goroutines", procs, perProc), "/file-limiter", srv)

	if redisPrecision == nil {
		return []string{"The Redis limiter was not part of this build: no Redis row."}
	}
	workers, note, err := redisPrecision(srv.URL+"/redis", time.Now().Add(span))
	if err != nil {
		log.Fatal(err)
	}
	record(fmt.Sprintf("RedisLimiter, 3 clients × %d goroutines, %s", workers/3, note), "/redis", srv)
	return nil
}

// runChild is the body of a child process.
func runChild(role string) {
	switch role {
	case "filelimiter":
		workers, _ := strconv.Atoi(os.Getenv("BENCHTABLE_WORKERS"))
		stopNs, _ := strconv.ParseInt(os.Getenv("BENCHTABLE_STOP"), 10, 64)
		l, err := ratelimit.NewFileLimiter(os.Getenv("BENCHTABLE_STATE"), limitN, limitPer, nil)
		if err != nil {
			log.Fatal(err)
		}
		if err := hammer(l, os.Getenv("BENCHTABLE_ORIGIN"), workers, time.Unix(0, stopNs)); err != nil {
			log.Fatal(err)
		}
	case "fleet":
		runFleetMachine()
	default:
		log.Fatalf("unknown child role %q", role)
	}
}

// hammer sends GETs of url through l from workers goroutines until stop.
func hammer(l ratelimit.Limiter, url string, workers int, stop time.Time) error {
	return testserver.Hammer(context.Background(), func(base http.RoundTripper) http.RoundTripper { return ratelimit.New(base, l) }, url, workers, stop)
}
