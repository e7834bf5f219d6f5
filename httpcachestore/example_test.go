package httpcachestore_test

import (
	"fmt"
	"log"
	"os"

	"github.com/throttlecache/throttlecache/httpcachestore"
)

func ExampleNew() {
	dir, err := os.MkdirTemp("", "httpcachestore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := httpcachestore.New(dir, httpcachestore.WithMaxBytes(64<<20))
	if err != nil {
		log.Fatal(err)
	}
	store.Set("https://example.com/", []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
	v, ok := store.Get("https://example.com/")
	fmt.Println(ok, len(v))
	store.Delete("https://example.com/")
	_, ok = store.Get("https://example.com/")
	fmt.Println(ok)
	fmt.Printf("%+v\n", store.Stats())
	// Output:
	// true 40
	// false
	// {Hits:1 Misses:1 Sets:1 Deletes:1 Errors:0 Corrupt:0 Evictions:0}
}
