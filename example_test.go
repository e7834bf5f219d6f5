package throttlecache_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// origin starts the offline test origin with a few documents.
func origin() *testserver.Server {
	srv := testserver.New()
	for _, name := range []string{"a", "b", "c"} {
		srv.Handle("/doc/"+name+".txt", testserver.NewResource([]byte("document "+name)))
	}
	return srv
}

func Example() {
	srv := origin()
	defer srv.Close()

	m, err := throttlecache.New(throttlecache.Config{
		UserAgent:         "Example Corp admin@example.com",
		RequestsPerSecond: 10,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	resp, err := m.Client().Get(srv.URL + "/doc/a.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Header.Get(throttlecache.CacheStatusHeader), string(body))
	fmt.Println("origin saw User-Agent:", srv.Requests()[0].Header.Get("User-Agent"))
	// Output:
	// 200 OK BYPASS document a
	// origin saw User-Agent: Example Corp admin@example.com
}

func ExampleNew_error() {
	_, err := throttlecache.New(throttlecache.Config{CacheMode: "memory"})
	fmt.Println(err)
	_, err = throttlecache.New(throttlecache.Config{CacheMode: throttlecache.FileCache})
	fmt.Println(err)
	// Output:
	// throttlecache: Config.CacheMode "memory" is not a cache mode; use one of "disabled", "rfc-file", "rfc-s3", "filecache"
	// throttlecache: Config.CacheDir is required for cache mode "filecache"
}

func ExampleManager_GetBatch() {
	srv := origin()
	defer srv.Close()
	m, err := throttlecache.New(throttlecache.Config{UserAgent: "Example Corp admin@example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	urls := []string{srv.URL + "/doc/a.txt", srv.URL + "/doc/missing.txt", srv.URL + "/doc/b.txt"}
	for _, r := range m.GetBatch(context.Background(), urls, throttlecache.WithConcurrency(2)) {
		if r.Err != nil {
			fmt.Println(strings.TrimPrefix(r.URL, srv.URL), r.StatusCode, "error")
			continue
		}
		fmt.Println(strings.TrimPrefix(r.URL, srv.URL), r.StatusCode, string(r.Body))
	}
	// Output:
	// /doc/a.txt 200 document a
	// /doc/missing.txt 404 error
	// /doc/b.txt 200 document b
}

func ExampleManager_GetBatchToFiles() {
	srv := origin()
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "throttlecache-example")
	defer os.RemoveAll(dir)
	m, err := throttlecache.New(throttlecache.Config{UserAgent: "Example Corp admin@example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	targets := []throttlecache.Target{
		{URL: srv.URL + "/doc/a.txt", Path: filepath.Join(dir, "out", "a.txt")},
		{URL: srv.URL + "/doc/c.txt", Path: filepath.Join(dir, "out", "c.txt")},
	}
	done := 0
	results := m.GetBatchToFiles(context.Background(), targets,
		throttlecache.WithProgress(func(p throttlecache.Progress) {
			if p.Index >= 0 {
				done = p.Done
			}
		}))
	for _, r := range results {
		b, _ := os.ReadFile(r.Path)
		fmt.Println(filepath.Base(r.Path), r.Bytes, string(b), r.Err)
	}
	fmt.Println("done:", done)
	// Output:
	// a.txt 10 document a <nil>
	// c.txt 10 document c <nil>
	// done: 2
}

func ExampleManager_Wrap() {
	srv := origin()
	defer srv.Close()
	m, err := throttlecache.New(throttlecache.Config{UserAgent: "Example Corp admin@example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	// An existing client keeps its settings; its transport becomes the base.
	existing := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	client := m.Wrap(existing)
	resp, err := client.Get(srv.URL + "/doc/b.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, existing.Transport == nil, m.Stats().Network.Requests)
	// Output:
	// 200 true 1
}

func ExampleManager_Stats() {
	srv := origin()
	defer srv.Close()
	m, err := throttlecache.New(throttlecache.Config{RequestsPerSecond: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	m.GetBatch(context.Background(), []string{srv.URL + "/doc/a.txt", srv.URL + "/doc/b.txt", srv.URL + "/doc/c.txt"})
	s := m.Stats()
	fmt.Println("requests:", s.Requests, "network:", s.Network.Requests, "held back:", s.Limiter.Waits, "bytes:", s.Network.Bytes)
	// Output:
	// requests: 3 network: 3 held back: 1 bytes: 30
}
