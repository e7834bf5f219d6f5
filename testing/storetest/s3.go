package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The environment that names a real S3-compatible server for the tests:
//
//	THROTTLECACHE_TEST_S3=http://127.0.0.1:7070   the endpoint (path-style addressing)
//	THROTTLECACHE_TEST_S3_KEY=…                   its access key
//	THROTTLECACHE_TEST_S3_SECRET=…                its secret key
//
// Each test creates its own bucket there, with a unique name, and removes it
// at the end. Without THROTTLECACHE_TEST_S3 the tests use an in-process
// server, except under CI=true, where that is a failure.
const (
	EnvS3       = "THROTTLECACHE_TEST_S3"
	EnvS3Key    = "THROTTLECACHE_TEST_S3_KEY"
	EnvS3Secret = "THROTTLECACHE_TEST_S3_SECRET"
)

// S3 is a bucket on an S3 server for one test.
type S3 struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Bucket    string
	Real      bool // a real server named by the environment, not the in-process one
}

// NewS3 returns a new, empty bucket for t on the real server named by the
// environment or, without one, on an in-process server. Under CI=true a
// missing real server fails t.
func NewS3(t testing.TB) *S3 {
	t.Helper()
	s := &S3{Endpoint: os.Getenv(EnvS3), AccessKey: os.Getenv(EnvS3Key), SecretKey: os.Getenv(EnvS3Secret)}
	if s.Endpoint != "" {
		s.Real = true
		if s.AccessKey == "" || s.SecretKey == "" {
			t.Fatalf("%s is set but %s or %s is empty", EnvS3, EnvS3Key, EnvS3Secret)
		}
	} else {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is empty: CI must test against a real S3 server (versitygw)", EnvS3)
		}
		t.Logf("no real S3 server (%s is empty): using an in-process S3 server", EnvS3)
		return NewInProcessS3(t)
	}
	return s.create(t)
}

// NewInProcessS3 returns a new, empty bucket for t on an in-process server
// (gofakes3), whatever the environment says. That server ignores
// conditional GETs (If-Match), as some S3-compatible servers do.
func NewInProcessS3(t testing.TB) *S3 {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	s := &S3{Endpoint: srv.URL, AccessKey: "test-key", SecretKey: "test-secret"}
	return s.create(t)
}

// create makes a bucket with a unique name on s's server.
func (s *S3) create(t testing.TB) *S3 {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	s.Bucket = "throttlecache-test-" + hex.EncodeToString(b[:])
	c := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.Bucket}); err != nil {
		t.Fatalf("creating bucket %s at %s: %v", s.Bucket, s.Endpoint, err)
	}
	t.Cleanup(func() { s.remove(c) })
	return s
}

// Client returns a new client for the server: static credentials,
// path-style addressing, checksums only where S3 requires them.
func (s *S3) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.Endpoint),
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer:                    retry.NewStandard(),
	})
}

// remove empties and deletes the bucket, best effort.
func (s *S3) remove(c *s3.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &s.Bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, o := range page.Contents {
			c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.Bucket, Key: o.Key})
		}
	}
	c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &s.Bucket})
}

// Objects returns the number of objects in the bucket.
func (s *S3) Objects(t testing.TB) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: &s.Bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("listing bucket %s: %v", s.Bucket, err)
		}
		n += len(page.Contents)
	}
	return n
}
