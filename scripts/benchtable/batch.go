package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// benchBatch times GetBatch against a hand-written errgroup loop over the
// same client and concurrency: 2,000 small URLs, no limit, the two taking
// turns round after round.
func benchBatch(t *table, quick bool) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.HandlePrefix("/item/", testserver.Status(http.StatusOK, "small body"))
	urls := make([]string, 2000)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/item/%d", srv.URL, i)
	}
	m, done := newManager(throttlecache.Disabled, nil)
	defer done()
	client := m.Client()

	getBatch := func() {
		for _, r := range m.GetBatch(context.Background(), urls) {
			if r.Err != nil {
				log.Fatal(r.Err)
			}
		}
	}
	loop := func() {
		bodies := make([][]byte, len(urls))
		var g errgroup.Group
		g.SetLimit(throttlecache.DefaultConcurrency)
		for i, u := range urls {
			g.Go(func() error {
				resp, err := client.Get(u)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				bodies[i], err = io.ReadAll(resp.Body)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	getBatch() // open the connections
	rounds := 10
	if quick {
		rounds = 2
	}
	var batch, eg time.Duration
	for range rounds {
		t0 := time.Now()
		getBatch()
		t1 := time.Now()
		loop()
		batch += t1.Sub(t0)
		eg += time.Since(t1)
	}
	section := fmt.Sprintf("2,000 small GETs, concurrency %d (mean of %d)", throttlecache.DefaultConcurrency, rounds)
	t.add(section, "errgroup loop over Manager.Client()", fmt.Sprintf("%.1f ms", eg.Seconds()*1e3/float64(rounds)), "×1.00")
	t.add(section, "Manager.GetBatch", fmt.Sprintf("%.1f ms", batch.Seconds()*1e3/float64(rounds)), ratio(float64(batch), float64(eg))+" of the time")
}
