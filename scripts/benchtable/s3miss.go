package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

const (
	s3MissSize  = 64 << 20
	s3MissChunk = 1 << 20               // the origin sends this much...
	s3MissEvery = 10 * time.Millisecond // ...this often: about 100 MiB/s
)

// benchS3Miss measures an RFCS3 miss of a 64 MiB body that the origin
// sends at about 100 MiB/s, as a fast origin over the internet does: the
// time from the request until the entry is committed. Beside it stand its
// two limits, measured in the same rounds: the same download through a
// bare transport (the network), and one upload of the same bytes to the
// bucket with a single PutObject (S3). A store that uploads only after
// the download needs about their sum; one that uploads as it downloads,
// about the slower of the two, which bounds the row.
func benchS3Miss(t *table, s3s *s3Server, quick bool) {
	body, _ := io.ReadAll(testserver.GeneratedReader(s3MissSize, 5))
	srv := testserver.New()
	defer srv.Close()
	srv.SetMaxLog(1)
	srv.HandlePrefix("/s3miss/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		testserver.SlowBody(body, s3MissChunk, s3MissEvery).ServeHTTP(w, r)
	}))
	m, done := newManager(throttlecache.RFCS3, s3s)
	defer done()
	bare := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	download := func(c *http.Client, n int) {
		resp, err := c.Get(fmt.Sprintf("%s/s3miss/%d", srv.URL, n))
		if err != nil {
			log.Fatal(err)
		}
		got, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || got != s3MissSize {
			log.Fatalf("s3miss: %d bytes, %v", got, err)
		}
	}
	rounds := 3
	if quick {
		rounds = 1
	}
	var net, up, miss time.Duration
	keep := func(best *time.Duration, d time.Duration) {
		if *best == 0 || d < *best {
			*best = d
		}
	}
	for i := range rounds {
		t0 := time.Now()
		download(bare, i)
		keep(&net, time.Since(t0))

		t0 = time.Now()
		key := fmt.Sprintf("raw-upload/%d", i)
		if _, err := s3s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &s3s.bucket, Key: &key,
			Body: bytes.NewReader(body), ContentLength: aws.Int64(s3MissSize)}); err != nil {
			log.Fatal(err)
		}
		keep(&up, time.Since(t0))

		stored := m.Stats().Cache.Stored
		t0 = time.Now()
		download(m.Client(), 1000+i)
		for m.Stats().Cache.Stored == stored {
			time.Sleep(100 * time.Microsecond)
		}
		keep(&miss, time.Since(t0))
	}
	section := fmt.Sprintf("miss on S3, 64 MiB sent at about 100 MiB/s, until committed (best of %d)", rounds)
	limit, bound := net, "network"
	if up > net {
		limit, bound = up, "S3 upload"
	}
	t.add(section, "bare http.Transport, the download alone (the network)", formatDuration(net), "")
	t.add(section, "one PutObject of the bytes (S3)", formatDuration(up), "")
	t.add(section, "throttlecache rfc-s3", formatDuration(miss), ratio(miss.Seconds(), limit.Seconds())+" of the "+bound)
}

func formatDuration(d time.Duration) string { return d.Round(time.Millisecond).String() }
