package filecache_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/throttlecache/throttlecache/filecache"
	"github.com/throttlecache/throttlecache/rules"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func ExampleNew() {
	origin := testserver.New()
	defer origin.Close()
	origin.Handle("/Archives/report.txt", testserver.NewResource([]byte("annual report")))

	dir, _ := os.MkdirTemp("", "filecache-example")
	defer os.RemoveAll(dir)
	m, err := rules.Compile(rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{
		{Match: `/Archives/`, MaxAge: rules.Forever},
	}}})
	if err != nil {
		panic(err)
	}
	tr, err := filecache.New(origin.Client().Transport, filecache.Options{Dir: dir, Rules: m})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	client := &http.Client{Transport: tr}

	for range 2 {
		resp, err := client.Get(origin.URL + "/Archives/report.txt")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get("X-Cache"), string(body))
	}
	fmt.Println("origin requests:", origin.Hits("/Archives/report.txt"))
	// Output:
	// MISS annual report
	// HIT annual report
	// origin requests: 1
}

func ExampleTransport_Stats() {
	origin := testserver.New()
	defer origin.Close()
	page := testserver.NewResource([]byte("v1"))
	origin.Handle("/page", page)

	dir, _ := os.MkdirTemp("", "filecache-example")
	defer os.RemoveAll(dir)
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tr, _ := filecache.New(origin.Client().Transport, filecache.Options{
		Dir:   dir,
		Rules: rules.MustCompile(rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{{Match: `/`, MaxAge: time.Minute}}}}),
		Now:   func() time.Time { return now },
	})
	defer tr.Close()
	get := func() {
		resp, _ := (&http.Client{Transport: tr}).Get(origin.URL + "/page")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	get()
	get()
	now = now.Add(2 * time.Minute) // stale: revalidated with a 304
	get()
	s := tr.Stats()
	fmt.Println(s.Misses, s.Hits, s.Revalidated)
	// Output:
	// 200 MISS
	// 200 HIT
	// 200 REVALIDATED
	// 1 1 1
}

func ExampleInspect() {
	origin := testserver.New()
	defer origin.Close()
	origin.Handle("/a", testserver.NewResource([]byte("aaaa")))
	origin.Handle("/b", testserver.NewResource([]byte("bbbb")))

	dir, _ := os.MkdirTemp("", "filecache-example")
	defer os.RemoveAll(dir)
	tr, _ := filecache.New(origin.Client().Transport, filecache.Options{
		Dir:   dir,
		Rules: rules.MustCompile(rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{{Match: `/`, MaxAge: time.Hour}}}}),
	})
	for _, p := range []string{"/a", "/b"} {
		resp, _ := (&http.Client{Transport: tr}).Get(origin.URL + p)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	tr.Close()

	s, _ := filecache.Inspect(dir)
	fmt.Println("entries:", s.Entries)
	r, _ := filecache.PruneDir(context.Background(), dir, 0)
	fmt.Println("removed:", r.Removed, "left:", r.Entries)
	// Output:
	// entries: 2
	// removed: 2 left: 0
}
