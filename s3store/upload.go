package s3store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

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
// costs no memory and the download never waits for S3. A body over
// minPart goes up in parts as it downloads, so that its commit waits only
// for the last part: equal parts when its length is known, else parts of
// minPart (up to 80 GiB; a longer one is uploaded again at commit, in
// larger parts). Commit uploads the rest, then writes the metadata;
// nothing is visible before.
func (e *entries) Create(_ context.Context, k cache.Key, m *cache.Meta) (cache.Writer, error) {
	s := e.st()
	sw := &streamed{e: e, bk: e.bodyKey(k), size: m.Size}
	w, err := cache.NewSpool(func(ctx context.Context, m *cache.Meta, body *io.SectionReader) error {
		return e.commit(ctx, k, m, body, sw.up)
	}, func(err error) { s.fail("spool", e.bodyKey(k), err) })
	if err != nil {
		return nil, s.fail("spool", os.TempDir(), err)
	}
	if (m.Size > 0 && m.Size <= minPart) || m.Size > MaxObjectBytes {
		return w, nil
	}
	if m.Size == 0 {
		sw.size = -1 // unknown; an empty body starts no upload
	}
	sw.Writer = w
	return sw, nil
}

// streamed is a spool whose parts go to S3 as they are written; the
// upload starts with the first write, so that a body given up before
// (not storable) costs S3 nothing.
type streamed struct {
	cache.Writer
	e       *entries
	bk      string
	size, n int64
	up      *upload
	aborted bool
}

func (w *streamed) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	if w.n += int64(n); err == nil && !w.aborted && n > 0 {
		if w.up == nil {
			w.up = w.e.startUpload(w.bk, w.Writer, w.size)
		}
		w.up.ready(w.n)
	}
	return n, err
}

// Abort gives up the upload too; Close does unless it completed.
func (w *streamed) Abort() {
	w.aborted = true
	w.Writer.Abort()
	if w.up != nil {
		w.up.abort()
	}
}

func (w *streamed) Close() error {
	if w.up != nil {
		w.up.abort() // before the spool it reads from is closed
	}
	return w.Writer.Close()
}

// commit uploads body: with the metadata up to inlineMax (one PUT), in
// one PUT up to minPart, in parts beyond: those of up when it has them,
// else, or when S3 failed one during the download, all of them now.
// The metadata is written last; an invalidation since the download
// started, before or during the upload, makes it fail.
func (e *entries) commit(ctx context.Context, k cache.Key, m *cache.Meta, body *io.SectionReader, up *upload) error {
	s, bk, n := e.st(), e.bodyKey(k), body.Size()
	if e.invalidatedSince(ctx, k, m.Started, true) {
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
		var id string
		err := errUnfinished // not streamed
		if up != nil && up.fits(n) {
			if id, err = up.complete(ctx, n); errors.Is(err, errUnfinished) {
				s.fail("upload", bk, err) // S3 failed during the download: once more, now
			}
		}
		if errors.Is(err, errUnfinished) {
			id, err = e.startUpload(bk, body, n).complete(ctx, n) // Close aborts a streamed one left
		}
		if err != nil {
			return s.fail("upload", bk, err)
		}
		meta.ID = id
	}
	if meta.ID == "" && inside == nil {
		return s.fail("put", bk, errors.New("the server gave no ETag"))
	}
	hadBody := inside != nil && e.metas.known(k.String())
	if err := e.putMeta(ctx, k, &meta, inside); err != nil {
		return err
	}
	if hadBody { // the body object of the entry this one replaced, which reused metadata would still find
		e.remove(ctx, bk)
	}
	if e.invalidatedSince(ctx, k, m.Started, true) { // during the upload
		e.Remove(context.WithoutCancel(ctx), k)
		return cache.ErrInvalidated
	}
	return nil
}

// errUnfinished wraps a failure of an upload before its completion.
var errUnfinished = errors.New("s3store: upload not finished")

// upload is a multipart upload of size bytes (-1: not known yet) read
// from r in equal parts, each sent, one after another and each under the
// store's timeout, once ready says it is written. complete sends the rest
// and completes it; a failed upload is aborted, and abort ends one that
// did not complete.
type upload struct {
	e          *entries
	bk         string
	r          io.ReaderAt
	size, part int64
	ctx        context.Context
	cancel     context.CancelFunc
	next       chan [2]int64 // offset and length of parts to send, room for all
	done       chan struct{} // closed when run ends
	id         *string       // the upload's, once created
	parts      []types.CompletedPart
	err        error // the first failure, read after done

	mu       sync.Mutex
	sent     int64 // offsets below it are in next
	stopped  bool  // next is closed
	finished bool  // completed or aborted
}

func (e *entries) startUpload(bk string, r io.ReaderAt, size int64) *upload {
	part, parts := int64(minPart), int64(maxParts)
	if size >= 0 {
		part = partSize(size)
		parts = (size + part - 1) / part
	}
	ctx, cancel := context.WithCancel(context.Background()) // a reader's Close does not end a commit
	u := &upload{e: e, bk: bk, r: r, size: size, part: part, ctx: ctx, cancel: cancel,
		next: make(chan [2]int64, parts), done: make(chan struct{})}
	go u.run()
	return u
}

func (u *upload) run() {
	defer close(u.done)
	s := u.e.st()
	cctx, cancel := s.call(context.WithoutCancel(u.ctx)) // an abort waits for the ID it needs
	up, err := s.client.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &u.bk})
	cancel()
	if u.err = err; err == nil {
		u.id = up.UploadId
	}
	for p := range u.next {
		if u.err != nil {
			continue // until complete or abort stops it
		}
		off, n, num := p[0], p[1], aws.Int32(int32(p[0]/u.part)+1)
		cctx, cancel := s.call(u.ctx)
		out, err := s.client.UploadPart(cctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &u.bk, UploadId: u.id,
			PartNumber: num, Body: io.NewSectionReader(u.r, off, n), ContentLength: aws.Int64(n)})
		cancel()
		if u.err = err; err == nil {
			u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: num})
		}
	}
}

// ready hands the parts that the first n bytes complete to run, but the
// last, which complete sends, and leaves room in next for it.
func (u *upload) ready(n int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for !u.stopped && u.sent+u.part <= n && (u.size < 0 || u.sent+u.part < u.size) && u.sent/u.part < int64(cap(u.next))-1 {
		u.next <- [2]int64{u.sent, u.part}
		u.sent += u.part
	}
}

// fits reports whether a body of n bytes can be completed by u.
func (u *upload) fits(n int64) bool {
	return (u.size < 0 || u.size == n) && (n+u.part-1)/u.part <= int64(cap(u.next))
}

// stop closes next, after the parts up to n when all is written, and
// waits for run; it reports whether this call finished the upload.
func (u *upload) stop(n int64, all bool) bool {
	u.mu.Lock()
	if !u.stopped {
		for all && u.sent < n {
			u.next <- [2]int64{u.sent, min(u.part, n-u.sent)}
			u.sent += u.part
		}
		u.stopped = true
		close(u.next)
	}
	if !all {
		u.cancel()
	}
	first := !u.finished
	u.finished = true
	u.mu.Unlock()
	<-u.done
	return first
}

// complete sends the rest of n bytes, waits for every part and completes
// the upload, returning the object's ETag; a part or the upload's creation
// that failed is an errUnfinished.
func (u *upload) complete(ctx context.Context, n int64) (string, error) {
	if !u.stop(n, true) { // the caller made sure it fits
		return "", errors.New("s3store: upload already ended")
	}
	s, err := u.e.st(), u.err
	if err != nil {
		err = fmt.Errorf("%w: %w", errUnfinished, err)
	} else {
		cctx, cancel := s.call(ctx)
		var out *s3.CompleteMultipartUploadOutput
		out, err = s.client.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &u.bk,
			UploadId: u.id, MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts}})
		cancel()
		if err == nil {
			u.cancel()
			return aws.ToString(out.ETag), nil
		}
	}
	u.cancel()
	u.discard()
	return "", err
}

// abort ends an upload that did not complete and discards its parts.
func (u *upload) abort() {
	if u.stop(0, false) {
		u.discard()
	}
}

func (u *upload) discard() {
	if u.id == nil {
		return
	}
	s := u.e.st()
	cctx, cancel := s.call(context.Background())
	defer cancel()
	s.client.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &u.bk, UploadId: u.id})
}

func randRead(b []byte) { rand.Read(b) }
