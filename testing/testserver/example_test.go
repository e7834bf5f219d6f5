package testserver_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/throttlecache/throttlecache/testing/testserver"
)

func ExampleServer() {
	srv := testserver.New()
	defer srv.Close()
	srv.Handle("/busy", testserver.Sequence(
		testserver.Status(http.StatusTooManyRequests, "slow down", "Retry-After", "1"),
		testserver.Status(http.StatusOK, "hello"),
	))

	for range 2 {
		resp, err := http.Get(srv.URL + "/busy?attempt")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"), string(body))
	}
	fmt.Println("hits:", srv.Hits("/busy"), "logged:", len(srv.Requests()))
	// Output:
	// 429 1 slow down
	// 200  hello
	// hits: 2 logged: 2
}

func ExampleResource() {
	srv := testserver.New()
	defer srv.Close()
	page := testserver.NewResource([]byte("<html>v1</html>"),
		testserver.WithContentType("text/html"),
		testserver.WithHeader("Cache-Control", "max-age=60"))
	srv.Handle("/page", page)

	get := func(etag string) {
		req, _ := http.NewRequest("GET", srv.URL+"/page", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %q\n", resp.StatusCode, body)
	}
	get("")
	get(page.ETag())
	page.Set([]byte("<html>v2</html>"))
	get(page.ETag())
	full, notModified := page.Served()
	fmt.Println("served:", full, "full,", notModified, "not modified")
	// Output:
	// 200 "<html>v1</html>"
	// 304 ""
	// 304 ""
	// served: 1 full, 2 not modified
}

func ExampleGenerated() {
	srv := testserver.New()
	defer srv.Close()
	const size = 10 << 20
	srv.Handle("/big.bin", testserver.Generated(size, 42))

	resp, err := http.Get(srv.URL + "/big.bin")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	got, want := sha256.New(), sha256.New()
	n, _ := io.Copy(got, resp.Body)
	io.Copy(want, testserver.GeneratedReader(size, 42))
	fmt.Println(n, string(got.Sum(nil)) == string(want.Sum(nil)))
	// Output: 10485760 true
}

func ExampleMaxInWindow() {
	t0 := time.Now()
	arrivals := []time.Time{
		t0,
		t0.Add(300 * time.Millisecond),
		t0.Add(900 * time.Millisecond),
		t0.Add(1000 * time.Millisecond), // exactly one second after t0: a new window
		t0.Add(1100 * time.Millisecond),
	}
	fmt.Println(testserver.MaxInWindow(arrivals, time.Second))
	// Output: 4
}
