package s3store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/s3store"
	"github.com/throttlecache/throttlecache/testing/storetest"
)

// TestMismatchedBodyHeals: on a server that ignores If-Match (gofakes3),
// a body object replaced by a commit that never wrote its metadata (the
// machine failed between its two PUTs) no longer matches its metadata; a
// large one streams and fails its checksum at the end, and since the
// metadata still says what it said, the entry is removed, so that the
// next request fetches it afresh.
func TestMismatchedBodyHeals(t *testing.T) {
	srv := storetest.NewInProcessS3(t)
	a := s3store.New(srv.Client(), srv.Bucket, "p/")
	v1, v2 := storetest.Value(2<<20, 1), storetest.Value(2<<20, 2) // same size, above verifyFirstMax
	a.Set("k", v1)
	obj := a.ObjectKey("k")
	if _, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: &obj,
		Body: bytes.NewReader(v2)}); err != nil { // another machine's body; its metadata never came
		t.Fatal(err)
	}
	b := s3store.New(srv.Client(), srv.Bucket, "p/")
	if _, ok := b.Get("k"); ok {
		t.Fatal("a mismatched body served whole")
	}
	st := b.CacheStore()
	_, body, err := st.Lookup(context.Background(), cache.KVKey("k"))
	if err == nil {
		body.Close()
		t.Fatal("after a body failed its checksum, its entry is still found: every request is served it and fails at its end")
	}
}
