package s3store_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/throttlecache/throttlecache/s3store"
)

func ExampleNew() {
	// An in-process S3 server stands in for AWS, MinIO or versitygw.
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	client := s3store.NewClient(srv.URL, "KEY", "SECRET")
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: new("cache")}); err != nil {
		log.Fatal(err)
	}

	store := s3store.New(client, "cache", "edgar/")
	store.Set("https://www.sec.gov/", []byte("HTTP/1.1 200 OK\r\n\r\n"))
	v, ok := store.Get("https://www.sec.gov/")
	fmt.Println(ok, len(v))
	fmt.Println(store.ObjectKey("https://www.sec.gov/")[:19] + "…")
	// Output:
	// true 19
	// edgar/%kv/3b/@3b766…
}
