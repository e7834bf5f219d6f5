package s3store

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/throttlecache/throttlecache/internal/cache"
)

func randRead(b []byte) { rand.Read(b) }

const (
	// minPart is the size of an upload's parts, larger when the expected
	// length needs it to stay within S3's 10,000 parts.
	minPart  = 8 << 20
	maxParts = 10_000
	// uploaders is how many parts of one body are sent at once.
	uploaders = 2
)

// Create starts a body for k. It is spooled to a temporary file of the
// system's, which the readers of the download follow, and uploaded from
// there as it grows: a multipart upload, part by part, once it passes one
// part, so that a body of any size costs no memory beyond what the SDK
// holds for a request. Nothing is visible until Commit, which completes the
// upload and writes the metadata last; an entry given up is aborted.
func (e *entries) Create(_ context.Context, k cache.Key, m *cache.Meta) (cache.Writer, error) {
	f, err := os.CreateTemp("", "throttlecache-s3-*")
	if err != nil {
		return nil, e.st().fail("spool", os.TempDir(), err)
	}
	part := max(int64(minPart), (m.Size+maxParts-1)/(maxParts-1))
	return &upload{e: e, k: k, f: f, part: part, sem: make(chan struct{}, uploaders)}, nil
}

// upload is a body being spooled and uploaded. Write, Commit and Abort come
// from one goroutine, ReadAt from any; Close comes last.
type upload struct {
	e    *entries
	k    cache.Key
	f    *os.File
	part int64
	n    int64 // bytes spooled
	next int64 // where the next part starts
	werr error

	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	id      *string // the multipart upload, once started
	started bool
	parts   []types.CompletedPart
	err     error // the first failed part
	aborted bool
}

func (u *upload) Write(p []byte) (int, error) {
	if u.werr != nil {
		return 0, u.werr
	}
	n, err := u.f.Write(p)
	u.n += int64(n)
	if err != nil {
		u.werr = u.e.st().fail("spool", u.f.Name(), err)
		return n, err
	}
	for u.n-u.next >= u.part {
		u.send(u.next, u.part)
		u.next += u.part
	}
	return n, nil
}

func (u *upload) ReadAt(p []byte, off int64) (int, error) { return u.f.ReadAt(p, off) }

// send uploads the spool's bytes [off, off+n) as the next part, on a
// goroutine, at most uploaders at a time.
func (u *upload) send(off, n int64) {
	num := int32(off/u.part) + 1
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		u.sem <- struct{}{}
		defer func() { <-u.sem }()
		if err := u.sendPart(num, off, n); err != nil {
			u.mu.Lock()
			u.err = cmp.Or(u.err, err)
			u.mu.Unlock()
		}
	}()
}

func (u *upload) sendPart(num int32, off, n int64) error {
	s, bk := u.e.st(), u.e.bodyKey(u.k)
	id, err := u.start()
	if err != nil {
		return err
	}
	if num > maxParts {
		return fmt.Errorf("s3store: a body over %d parts of %d bytes", maxParts, u.part)
	}
	ctx, cancel := s.call(context.Background())
	defer cancel()
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &bk, UploadId: id,
		PartNumber: aws.Int32(num), Body: io.NewSectionReader(u.f, off, n), ContentLength: aws.Int64(n)})
	if err != nil {
		return s.fail("upload part", bk, err)
	}
	u.mu.Lock()
	u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
	u.mu.Unlock()
	return nil
}

// start starts the multipart upload, once.
func (u *upload) start() (*string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.aborted {
		return nil, errors.New("s3store: upload aborted")
	}
	if u.started {
		if u.id == nil {
			return nil, cmp.Or(u.err, errors.New("s3store: no upload"))
		}
		return u.id, nil
	}
	u.started = true
	s, bk := u.e.st(), u.e.bodyKey(u.k)
	ctx, cancel := s.call(context.Background())
	defer cancel()
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &bk,
		ContentType: aws.String("application/octet-stream")})
	if err != nil {
		u.err = s.fail("create upload", bk, err)
		return nil, u.err
	}
	u.id = out.UploadId
	return u.id, nil
}

// Commit uploads what is left and writes the metadata. A body of at most
// inlineMax goes inside the metadata: one PUT.
func (u *upload) Commit(ctx context.Context, m *cache.Meta) error {
	s, bk := u.e.st(), u.e.bodyKey(u.k)
	if u.werr != nil || u.aborted {
		return cmp.Or(u.werr, errors.New("s3store: commit after abort"))
	}
	meta := *m
	switch {
	case u.next == 0 && u.n <= inlineMax:
		meta.Body = make([]byte, u.n)
		if _, err := u.f.ReadAt(meta.Body, 0); err != nil && err != io.EOF {
			return s.fail("spool", u.f.Name(), err)
		}
	case u.next == 0:
		cctx, cancel := s.call(ctx)
		out, err := s.client.PutObject(cctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &bk,
			Body: io.NewSectionReader(u.f, 0, u.n), ContentLength: aws.Int64(u.n), ContentType: aws.String("application/octet-stream")})
		cancel()
		if err != nil {
			return s.fail("put", bk, err)
		}
		meta.ID = aws.ToString(out.ETag)
	default:
		if u.n > u.next {
			u.send(u.next, u.n-u.next)
			u.next = u.n
		}
		u.wg.Wait()
		u.mu.Lock()
		err, id, parts := u.err, u.id, slices.Clone(u.parts)
		u.mu.Unlock()
		if err != nil {
			u.Abort()
			return err
		}
		slices.SortFunc(parts, func(a, b types.CompletedPart) int { return cmp.Compare(*a.PartNumber, *b.PartNumber) })
		cctx, cancel := s.call(ctx)
		out, err := s.client.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &bk,
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		cancel()
		if err != nil {
			u.Abort()
			return s.fail("complete upload", bk, err)
		}
		meta.ID = aws.ToString(out.ETag)
	}
	if meta.ID == "" && meta.Body == nil {
		return s.fail("put", bk, errors.New("the server gave no ETag"))
	}
	return u.e.putMeta(ctx, u.k, &meta)
}

// Abort stops the upload and discards its parts; the spool stays readable
// until Close.
func (u *upload) Abort() {
	u.mu.Lock()
	if u.aborted {
		u.mu.Unlock()
		return
	}
	u.aborted = true
	id := u.id
	u.mu.Unlock()
	os.Remove(u.f.Name())
	if id == nil {
		return
	}
	go func() {
		u.wg.Wait()
		s, bk := u.e.st(), u.e.bodyKey(u.k)
		ctx, cancel := s.call(context.Background())
		defer cancel()
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &bk, UploadId: id}); err != nil {
			s.fail("abort upload", bk, err)
		}
	}()
}

// Close releases the spool.
func (u *upload) Close() error {
	err := u.f.Close()
	os.Remove(u.f.Name())
	return err
}
