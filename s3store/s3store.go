package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"

	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/gregjones/httpcache"
)

// DefaultTimeout bounds each S3 call when no [WithTimeout] is given.
const DefaultTimeout = 5 * time.Second

// metaChecksum is the user-metadata field holding the CRC-32C of the key
// followed by the value, in decimal.
const metaChecksum = "tc-crc32c"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Store is an [httpcache.Cache] on one S3 bucket and key prefix. It is safe
// for concurrent use; create one with [New]. The zero value is not usable.
type Store struct {
	client  *s3.Client
	bucket  string
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	stats   counters
}

var _ httpcache.Cache = (*Store)(nil)

// Option configures a [Store].
type Option func(*Store)

// WithTimeout bounds every S3 call (Get, Set, Delete each make one). A
// non-positive d means the default. Default: [DefaultTimeout].
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithLogger sets the logger that receives a warning for every failed call.
// Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l != nil {
			s.log = l
		}
	}
}

// New returns a Store that keeps values in bucket under prefix ("" for none;
// "cache/" puts every object in a cache/ folder). The bucket must exist.
// New does not contact S3: a wrong bucket or missing permission shows as
// errors in [Store.Stats] and in the log.
func New(client *s3.Client, bucket, prefix string, opts ...Option) *Store {
	s := &Store{client: client, bucket: bucket, prefix: prefix, timeout: DefaultTimeout,
		log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// ObjectKey returns the name of the object that holds the value of key.
func (s *Store) ObjectKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.prefix + hex.EncodeToString(sum[:])
}

func checksum(key string, value []byte) string {
	c := crc32.Update(0, castagnoli, []byte(key))
	return strconv.FormatUint(uint64(crc32.Update(c, castagnoli, value)), 10)
}

// Get returns the value stored for key. A missing object is a miss; so is a
// failed call, which is logged and counted, and a damaged object.
func (s *Store) Get(key string) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	obj := s.ObjectKey(key)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &obj})
	if err != nil {
		if !notFound(err) {
			s.fail("get", obj, err)
		}
		s.stats.misses.Add(1)
		return nil, false
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := buf.ReadFrom(out.Body); err != nil {
		s.fail("get", obj, err)
		s.stats.misses.Add(1)
		return nil, false
	}
	v := buf.Bytes()
	if n := out.ContentLength; (n != nil && *n != int64(len(v))) || out.Metadata[metaChecksum] != checksum(key, v) {
		s.stats.corrupt.Add(1)
		s.log.Warn("s3store: damaged object ignored", slog.String("bucket", s.bucket), slog.String("key", obj))
		s.stats.misses.Add(1)
		return nil, false
	}
	s.stats.hits.Add(1)
	return v, true
}

// Set stores value for key. A failed call is logged and counted.
func (s *Store) Set(key string, value []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	obj := s.ObjectKey(key)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &obj,
		Body:          bytes.NewReader(value),
		ContentLength: aws.Int64(int64(len(value))),
		ContentType:   aws.String("application/octet-stream"),
		Metadata:      map[string]string{metaChecksum: checksum(key, value)},
	})
	if err != nil {
		s.fail("put", obj, err)
		return
	}
	s.stats.sets.Add(1)
}

// Delete removes the value stored for key. A failed call is logged and
// counted.
func (s *Store) Delete(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	obj := s.ObjectKey(key)
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &obj}); err != nil && !notFound(err) {
		s.fail("delete", obj, err)
		return
	}
	s.stats.deletes.Add(1)
}

func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

func (s *Store) fail(op, obj string, err error) {
	s.stats.errors.Add(1)
	if errors.Is(err, context.DeadlineExceeded) {
		s.stats.timeouts.Add(1)
	}
	s.log.Warn("s3store: "+op+" failed", slog.String("bucket", s.bucket), slog.String("key", obj), slog.Any("error", err))
}

// Stats counts what a Store did since New.
type Stats struct {
	Hits     int64 // Get calls that returned a value
	Misses   int64 // Get calls that did not (missing, failed or damaged)
	Sets     int64 // values written
	Deletes  int64 // Delete calls that succeeded
	Errors   int64 // failed calls: S3 down, access denied, timeouts…
	Timeouts int64 // the failed calls that ran out of time
	Corrupt  int64 // objects whose length or checksum did not match
}

type counters struct {
	hits, misses, sets, deletes, errors, timeouts, corrupt atomic.Int64
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	c := &s.stats
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Sets: c.sets.Load(), Deletes: c.deletes.Load(),
		Errors: c.errors.Load(), Timeouts: c.timeouts.Load(), Corrupt: c.corrupt.Load()}
}
