package s3store

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/throttlecache/throttlecache/internal/cache"
)

const (
	minPart  = 8 << 20 // bodies above it go in parts, each at least this long
	maxParts = 10_000
	maxPart  = 5 << 30 // S3's largest part
	// MaxObjectBytes is S3's largest object, the largest body the store
	// takes.
	MaxObjectBytes = 5 << 40
)

// partSize returns the part size of a body of size bytes: equal parts,
// the fewest that fit S3's 10,000.
func partSize(size int64) int64 { return max(minPart, (size+maxParts-1)/maxParts) }

// Create starts a body for k, spooled to a temporary file of the system's
// that the readers of the download follow, so that a body of any size
// costs no memory and the download never waits for S3. Commit uploads it,
// then writes the metadata; nothing is visible before.
func (e *entries) Create(_ context.Context, k cache.Key, _ *cache.Meta) (cache.Writer, error) {
	s := e.st()
	w, err := cache.NewSpool(func(ctx context.Context, m *cache.Meta, body *io.SectionReader) error {
		return e.commit(ctx, k, m, body)
	}, func(err error) { s.fail("spool", e.bodyKey(k), err) })
	if err != nil {
		return nil, s.fail("spool", os.TempDir(), err)
	}
	return w, nil
}

// commit uploads body: with the metadata up to inlineMax (one PUT), in
// one PUT up to minPart, in parts beyond. The metadata is written last; an
// invalidation since the download started, before or during the upload,
// makes it fail.
func (e *entries) commit(ctx context.Context, k cache.Key, m *cache.Meta, body *io.SectionReader) error {
	s, bk, n := e.st(), e.bodyKey(k), body.Size()
	if e.invalidatedSince(ctx, k, m.Started) {
		return cache.ErrInvalidated
	}
	meta := *m
	var inside []byte
	switch {
	case n <= inlineMax:
		inside = make([]byte, n)
		if _, err := io.ReadFull(body, inside); err != nil {
			return s.fail("spool", bk, err)
		}
	case n <= minPart:
		cctx, cancel := s.call(ctx)
		out, err := s.client.PutObject(cctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &bk, Body: body, ContentLength: &n})
		cancel()
		if err != nil {
			return s.fail("put", bk, err)
		}
		meta.ID = aws.ToString(out.ETag)
	default:
		id, err := e.multipart(ctx, bk, body)
		if err != nil {
			return s.fail("upload", bk, err)
		}
		meta.ID = id
	}
	if meta.ID == "" && inside == nil {
		return s.fail("put", bk, errors.New("the server gave no ETag"))
	}
	if err := e.putMeta(ctx, k, &meta, inside); err != nil {
		return err
	}
	if e.invalidatedSince(ctx, k, m.Started) { // during the upload
		e.Remove(context.WithoutCancel(ctx), k)
		return cache.ErrInvalidated
	}
	return nil
}

// multipart uploads body to bk in parts, each call under the store's
// timeout, and returns the object's ETag; a failed upload is aborted.
func (e *entries) multipart(ctx context.Context, bk string, body *io.SectionReader) (string, error) {
	s := e.st()
	cctx, cancel := s.call(ctx)
	up, err := s.client.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &bk})
	cancel()
	if err != nil {
		return "", err
	}
	var parts []types.CompletedPart
	size := partSize(body.Size())
	for off, num := int64(0), int32(1); off < body.Size() && err == nil; off, num = off+size, num+1 {
		n := min(size, body.Size()-off)
		cctx, cancel := s.call(ctx)
		var out *s3.UploadPartOutput
		out, err = s.client.UploadPart(cctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &bk, UploadId: up.UploadId,
			PartNumber: aws.Int32(num), Body: io.NewSectionReader(body, off, n), ContentLength: aws.Int64(n)})
		cancel()
		if err == nil {
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		}
	}
	if err == nil {
		cctx, cancel := s.call(ctx)
		var out *s3.CompleteMultipartUploadOutput
		out, err = s.client.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &bk,
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		cancel()
		if err == nil {
			return aws.ToString(out.ETag), nil
		}
	}
	cctx, cancel = s.call(context.WithoutCancel(ctx))
	defer cancel()
	s.client.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &bk, UploadId: up.UploadId})
	return "", err
}

func randRead(b []byte) { rand.Read(b) }
