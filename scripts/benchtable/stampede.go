package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gregjones/httpcache"
	"github.com/gregjones/httpcache/diskcache"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

const stampedeSize = 200

// benchStampede counts the origin requests that 200 concurrent GETs of one
// missing URL cause, in every mode and in gregjones/httpcache alone. The
// origin takes 100 ms to answer, so every request arrives while the first
// is in flight.
func benchStampede(t *table, s3 *s3Server) {
	srv := testserver.New()
	defer srv.Close()
	body := bytes.Repeat([]byte("stampede "), 1000)
	srv.HandlePrefix("/s/", testserver.Slow(testserver.NewResource(body,
		testserver.WithHeader("Cache-Control", "max-age=3600")), 100*time.Millisecond))
	section := fmt.Sprintf("origin requests, %d concurrent misses of one URL", stampedeSize)

	run := func(name string, c *http.Client, ideal string) {
		path := fmt.Sprintf("/s/%d", srv.TotalHits())
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range stampedeSize {
			wg.Go(func() {
				<-start
				resp, err := c.Get(srv.URL + path)
				if err != nil {
					log.Fatalf("%s: %v", name, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !bytes.Equal(b, body) {
					log.Fatalf("%s: wrong body (%d bytes, %v)", name, len(b), err)
				}
			})
		}
		close(start)
		wg.Wait()
		t.add(section, name, fmt.Sprint(srv.Hits(path)), "ideal: "+ideal)
	}
	dir, _ := os.MkdirTemp("", "benchtable-httpcache-")
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = stampedeSize
	run("gregjones/httpcache + diskcache", &http.Client{Transport: &httpcache.Transport{Transport: base, Cache: diskcache.New(dir)}}, "1")
	base.CloseIdleConnections()
	os.RemoveAll(dir)
	for _, mode := range cacheModes {
		m, done := newManager(mode, s3)
		ideal := "1"
		if mode == throttlecache.Disabled {
			ideal = fmt.Sprintf("%d (no cache, nothing to share)", stampedeSize)
		}
		run("throttlecache "+string(mode), m.Client(), ideal)
		done()
	}
}
