package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gregjones/httpcache"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

// benchS3Hits measures a cache hit on S3, 4 KiB, 64 KiB (the largest body
// kept with its metadata) and 1 MiB: one GetObject of
// the same bytes (the limit of every row), gregjones/httpcache on this
// module's s3store, and RFCS3, each read through an http.Client and taking
// turns three times like the file hits.
func benchS3Hits(t *table, s3s *s3Server, quick bool) {
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	for _, size := range []int64{4 << 10, 64 << 10, 1 << 20} {
		path := fmt.Sprintf("/s3hit/%d", size)
		srv.Handle(path, testserver.Generated(size, size, testserver.WithHeader("Cache-Control", "max-age=3600")))
		url := srv.URL + path
		section := hitTitle("cache hit on S3", size)

		body, _ := io.ReadAll(testserver.GeneratedReader(size, size))
		key := fmt.Sprintf("raw/%d", size)
		ctx := context.Background()
		if _, err := s3s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s3s.bucket, Key: &key,
			Body: bytes.NewReader(body), ContentLength: aws.Int64(size)}); err != nil {
			log.Fatal(err)
		}
		raw := func(b *testing.B) {
			buf := make([]byte, 32<<10)
			for b.Loop() {
				out, err := s3s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s3s.bucket, Key: &key})
				if err != nil {
					b.Fatal(err)
				}
				readAll(b, out.Body, buf, size)
				out.Body.Close()
			}
		}
		prefixes++
		greg := &http.Client{Transport: &httpcache.Transport{Transport: http.DefaultTransport,
			Cache: s3store.New(s3s.client, s3s.bucket, fmt.Sprintf("greg-%d/", prefixes))}}
		m, done := newManager(throttlecache.RFCS3, s3s)
		defer done()
		interleave(t, section, []subject{
			{name: "raw S3 GetObject (the same bytes)", run: raw},
			{name: "gregjones/httpcache + s3store", run: gets(greg, url, size)},
			{name: "throttlecache rfc-s3", run: gets(m.Client(), url, size)},
		}, quick)
	}
}
