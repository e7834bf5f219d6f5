package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/rules"
)

// loopbackRules cache everything on the loopback origin for ever, so the
// rules, not the headers, decide in every mode.
var loopbackRules = rules.Rules{{Host: `127\.0\.0\.1`, Paths: []rules.Path{{Match: `/`, MaxAge: rules.Forever}}}}

// cacheModes are the Manager's modes, in table order.
var cacheModes = []throttlecache.CacheMode{throttlecache.Disabled, throttlecache.FileCache, throttlecache.RFCFile, throttlecache.RFCS3}

// s3Server is the bucket RFCS3 uses: on a real server named by the
// environment, or on an in-process one.
type s3Server struct {
	client                *s3.Client
	bucket                string
	real                  bool
	srv                   *httptest.Server
	endpoint, key, secret string // for the fleet's processes
}

func newS3() (*s3Server, error) {
	endpoint, key, secret := os.Getenv("THROTTLECACHE_TEST_S3"), os.Getenv("THROTTLECACHE_TEST_S3_KEY"), os.Getenv("THROTTLECACHE_TEST_S3_SECRET")
	s := &s3Server{real: endpoint != ""}
	if !s.real {
		s.srv = httptest.NewServer(gofakes3.New(s3mem.New()).Server())
		endpoint, key, secret = s.srv.URL, "bench-key", "bench-secret"
	}
	s.endpoint, s.key, s.secret = endpoint, key, secret
	s.client = s3.New(s3.Options{
		BaseEndpoint:               aws.String(endpoint),
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(key, secret, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	var b [6]byte
	rand.Read(b[:])
	s.bucket = "throttlecache-bench-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket}); err != nil {
		s.close()
		return nil, fmt.Errorf("creating bucket %s at %s: %w", s.bucket, endpoint, err)
	}
	return s, nil
}

func (s *s3Server) describe() string {
	if s.real {
		return "the S3 server named by THROTTLECACHE_TEST_S3"
	}
	return "an in-process S3 server (gofakes3, memory backend)"
}

// close empties and removes the bucket, best effort.
func (s *s3Server) close() {
	if s.bucket != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				break
			}
			for _, o := range page.Contents {
				s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key})
			}
		}
		s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &s.bucket})
		cancel()
	}
	if s.srv != nil {
		s.srv.Close()
	}
}

var prefixes int

// newManager returns a Manager in mode with no rate limit, the loopback
// rules and a fresh folder or S3 prefix, and a function that closes it and
// removes the folder. edit adjusts the configuration.
func newManager(mode throttlecache.CacheMode, s3 *s3Server, edit ...func(*throttlecache.Config)) (*throttlecache.Manager, func()) {
	cfg := throttlecache.Config{CacheMode: mode, Rules: loopbackRules, DisableRateLimit: true}
	var dir string
	switch mode {
	case throttlecache.FileCache, throttlecache.RFCFile:
		var err error
		if dir, err = os.MkdirTemp("", "benchtable-"); err != nil {
			log.Fatal(err)
		}
		cfg.CacheDir = dir
	case throttlecache.RFCS3:
		if s3 == nil {
			log.Fatal("RFCS3 needs an S3 server")
		}
		prefixes++
		cfg.S3Client, cfg.S3Bucket, cfg.S3Prefix = s3.client, s3.bucket, fmt.Sprintf("run-%d/", prefixes)
	}
	for _, e := range edit {
		e(&cfg)
	}
	m, err := throttlecache.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	return m, func() {
		m.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
}
