package rfccache_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache/httpcachestore"
	"github.com/throttlecache/throttlecache/rfccache"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func ExampleNew() {
	origin := testserver.New() // stands in for a real server
	defer origin.Close()
	origin.Handle("/page", testserver.NewResource([]byte("hello"),
		testserver.WithHeader("Cache-Control", "max-age=60")))

	dir, err := os.MkdirTemp("", "rfccache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := httpcachestore.New(dir)
	if err != nil {
		log.Fatal(err)
	}
	tr, err := rfccache.New(nil, store, rfccache.Options{})
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	for range 2 {
		resp, err := client.Get(origin.URL + "/page")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get("X-Cache"), string(body))
	}
	fmt.Println("origin requests:", origin.Hits("/page"))
	// Output:
	// MISS hello
	// HIT hello
	// origin requests: 1
}

// Rules override the origin's headers: here a no-store response is cached
// for an hour, as EDGAR's data.sec.gov responses are with rules.EDGAR.
func ExampleOptions_rules() {
	origin := testserver.New()
	defer origin.Close()
	origin.Handle("/submissions/CIK1.json", testserver.NewResource([]byte(`{"cik":1}`),
		testserver.WithHeader("Cache-Control", "no-store")))

	m, err := rules.Compile(rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{
		{Match: `/submissions/`, MaxAge: time.Hour},
	}}})
	if err != nil {
		log.Fatal(err)
	}
	tr, err := rfccache.New(nil, httpcache.NewMemoryCache(), rfccache.Options{Rules: m})
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	for range 3 {
		resp, err := client.Get(origin.URL + "/submissions/CIK1.json")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get("X-Cache"))
	}
	st := tr.Stats()
	fmt.Println("hits:", st.Hits, "misses:", st.Misses, "origin requests:", origin.Hits("/submissions/CIK1.json"))
	// Output:
	// MISS
	// HIT
	// HIT
	// hits: 2 misses: 1 origin requests: 1
}

func ExampleTransport_Stats() {
	origin := testserver.New()
	defer origin.Close()
	origin.Handle("/r", testserver.NewResource([]byte("r"), testserver.WithHeader("Cache-Control", "no-cache")))
	origin.Handle("/form", testserver.Status(http.StatusSeeOther, "", "Location", "/r"))
	tr, err := rfccache.New(nil, httpcache.NewMemoryCache(), rfccache.Options{})
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	for range 2 {
		resp, err := client.Get(origin.URL + "/r")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A successful POST whose answer points at /r invalidates /r.
	req, _ := http.NewRequest(http.MethodPost, origin.URL+"/form", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	st := tr.Stats()
	fmt.Printf("misses %d, revalidated %d, bypass %d, stored %d, invalidated %d\n",
		st.Misses, st.Revalidated, st.Bypass, st.Stored, st.Invalidated)
	// Output:
	// misses 1, revalidated 1, bypass 1, stored 2, invalidated 1
}
