package s3store

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// Parts are at least minPart, more when the expected length needs it to
// stay within S3's maxParts (see partSize).
const (
	minPart  = 8 << 20
	maxParts = 10_000
	maxPart  = 5 << 30 // S3's largest part
	// MaxObjectBytes is S3's largest object, the largest body the store
	// takes.
	MaxObjectBytes = 5 << 40
)

// partSize returns the size of part n (from 1) of a body of the given
// size, or of unknown size when size < 0. A known size is cut into equal
// parts that fit maxParts. An unknown one starts at minPart and doubles
// every thousand parts, so that small bodies stay in small parts and the
// 10,000 parts still reach S3's 5 TiB (8 MiB × 1,000 × 1,023 is about
// 8 TiB), none above S3's 5 GiB.
func partSize(n int, size int64) int64 {
	if size >= 0 {
		return max(minPart, (size+maxParts-2)/(maxParts-1))
	}
	return min(int64(minPart)<<((n-1)/1000), maxPart)
}

// Create starts a body for k. It is spooled to a temporary file of the
// system's, which the readers of the download follow, and uploaded from
// there as it grows, part by part once it passes a part, on a goroutine
// of its own, so that a body of any size costs no memory and the download
// never waits for S3. Nothing is visible until Commit completes the upload
// and writes the metadata; an entry given up is aborted.
func (e *entries) Create(_ context.Context, k cache.Key, m *cache.Meta) (cache.Writer, error) {
	f, err := os.CreateTemp("", "throttlecache-s3-*")
	if err != nil {
		return nil, e.st().fail("spool", os.TempDir(), err)
	}
	return &upload{e: e, k: k, f: f, size: m.Size, part: partSize(1, m.Size)}, nil
}

// upload is a body being spooled and uploaded. Write, Commit and Abort come
// from one goroutine, ReadAt from any; Close comes last.
type upload struct {
	e       *entries
	k       cache.Key
	f       *os.File
	size    int64 // expected, or -1
	part    int64 // the size of the next part
	queued  int   // parts sent to the uploader
	n, next int64 // bytes spooled; where the next part starts
	werr    error
	aborted bool

	todo  chan [2]int64 // parts for the uploader: offset and length
	done  chan struct{} // the uploader has finished
	id    *string       // the multipart upload; the uploader's until done
	parts []types.CompletedPart
	err   error
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
	for u.n-u.next >= u.part && !u.aborted {
		u.send(u.next, u.part)
	}
	return n, nil
}

func (u *upload) ReadAt(p []byte, off int64) (int, error) { return u.f.ReadAt(p, off) }

// send queues the spool's bytes [off, off+n) as the next part.
func (u *upload) send(off, n int64) {
	if u.todo == nil {
		u.todo, u.done = make(chan [2]int64, maxParts), make(chan struct{})
		go u.uploader()
	}
	u.todo <- [2]int64{off, n}
	u.next = off + n
	u.queued++
	u.part = partSize(u.queued+1, u.size)
}

// uploader starts the multipart upload and sends the parts, one at a time.
func (u *upload) uploader() {
	defer close(u.done)
	s, bk := u.e.st(), u.e.bodyKey(u.k)
	for p := range u.todo {
		if u.err != nil {
			continue
		}
		ctx, cancel := s.call(context.Background())
		if u.id == nil {
			out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &bk})
			if u.err = err; err == nil {
				u.id = out.UploadId
			}
		}
		if num := int32(len(u.parts) + 1); u.err == nil && num > maxParts {
			u.err = fmt.Errorf("a body over %d parts (the part now %d bytes)", maxParts, u.part)
		} else if u.err == nil {
			out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &bk, UploadId: u.id,
				PartNumber: aws.Int32(num), Body: io.NewSectionReader(u.f, p[0], p[1]), ContentLength: aws.Int64(p[1])})
			if u.err = err; err == nil {
				u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
			}
		}
		cancel()
		if u.err != nil {
			s.fail("upload", bk, u.err)
		}
	}
}

// finish ends the uploader and returns its outcome.
func (u *upload) finish() (*string, []types.CompletedPart, error) {
	if u.todo == nil {
		return nil, nil, nil
	}
	close(u.todo)
	<-u.done
	return u.id, u.parts, u.err
}

// Commit uploads what is left and writes the metadata last. A body of at
// most inlineMax goes inside the metadata: one PUT.
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
			Body: io.NewSectionReader(u.f, 0, u.n), ContentLength: aws.Int64(u.n)})
		cancel()
		if err != nil {
			return s.fail("put", bk, err)
		}
		meta.ID = aws.ToString(out.ETag)
	default:
		if u.n > u.next {
			u.send(u.next, u.n-u.next)
		}
		id, parts, err := u.finish()
		if err == nil {
			cctx, cancel := s.call(ctx)
			var out *s3.CompleteMultipartUploadOutput
			out, err = s.client.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &bk,
				UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
			cancel()
			if err == nil {
				meta.ID = aws.ToString(out.ETag)
			} else {
				s.fail("complete upload", bk, err)
			}
		}
		if err != nil {
			u.abortUpload(id)
			return err
		}
	}
	if meta.ID == "" && meta.Body == nil {
		return s.fail("put", bk, errors.New("the server gave no ETag"))
	}
	return u.e.putMeta(ctx, u.k, &meta)
}

// Abort stops the upload and discards its parts, in the background; the
// spool stays readable until Close.
func (u *upload) Abort() {
	if u.aborted {
		return
	}
	u.aborted = true
	os.Remove(u.f.Name())
	if u.todo != nil {
		go func() {
			id, _, _ := u.finish()
			u.abortUpload(id)
		}()
	}
}

func (u *upload) abortUpload(id *string) {
	if id == nil {
		return
	}
	s, bk := u.e.st(), u.e.bodyKey(u.k)
	ctx, cancel := s.call(context.Background())
	defer cancel()
	if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &bk, UploadId: id}); err != nil {
		s.fail("abort upload", bk, err)
	}
}

// Close releases the spool.
func (u *upload) Close() error {
	err := u.f.Close()
	os.Remove(u.f.Name())
	return err
}

func randRead(b []byte) { rand.Read(b) }
