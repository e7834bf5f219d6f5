package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/internal/testserver"
)

const missSize = 64 << 20

// benchMiss measures the throughput of a 64 MiB download that misses the
// cache (and is stored), against the same download through a bare
// transport. The subjects take turns, round after round, so drift on a busy
// machine hits them alike; each keeps its best round.
func benchMiss(t *table, quick bool) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.Handle("/big", testserver.Generated(missSize, 64, testserver.WithoutValidators(),
		testserver.WithHeader("Cache-Control", "max-age=3600")))
	url := srv.URL + "/big"

	type subject struct {
		name string
		c    *http.Client
		m    *throttlecache.Manager
		best time.Duration
	}
	bare := http.DefaultTransport.(*http.Transport).Clone()
	defer bare.CloseIdleConnections()
	subjects := []*subject{{name: "bare http.Transport", c: &http.Client{Transport: bare}}}
	for _, mode := range []throttlecache.CacheMode{throttlecache.Disabled, throttlecache.FileCache, throttlecache.RFCFile} {
		m, done := newManager(mode, nil, func(c *throttlecache.Config) {
			c.MaxBodyBytes = 2 * missSize // RFCFile stores it rather than streaming it past the store
		})
		defer done()
		subjects = append(subjects, &subject{name: "throttlecache " + string(mode), c: m.Client(), m: m})
	}
	rounds := 3
	if quick {
		rounds = 1
	}
	buf := make([]byte, 32<<10)
	for range rounds {
		for _, s := range subjects {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Cache-Control", "no-cache") // a full download every time
			t0 := time.Now()
			resp, err := s.c.Do(req)
			if err != nil {
				log.Fatalf("%s: %v", s.name, err)
			}
			n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
			resp.Body.Close()
			d := time.Since(t0)
			if err != nil || n != missSize {
				log.Fatalf("%s: %d bytes, %v", s.name, n, err)
			}
			if s.best == 0 || d < s.best {
				s.best = d
			}
		}
	}
	for _, s := range subjects[1:] {
		if st := s.m.Stats(); st.NetworkRequests != int64(rounds) {
			log.Fatalf("%s: %d network requests in %d rounds", s.name, st.NetworkRequests, rounds)
		}
	}
	mbps := func(d time.Duration) float64 { return missSize / d.Seconds() / (1 << 20) }
	base := mbps(subjects[0].best)
	for _, s := range subjects {
		v := mbps(s.best)
		t.add("miss, 64 MiB (throughput, best of "+fmt.Sprint(rounds)+")", s.name, fmt.Sprintf("%.0f MiB/s", v), ratio(v, base))
	}
}
