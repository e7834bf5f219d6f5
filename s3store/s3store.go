package s3store

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/bsm/redislock"
	"github.com/gregjones/httpcache"
	"github.com/redis/go-redis/v9"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// DefaultTimeout bounds each S3 call when no [WithTimeout] is given.
const DefaultTimeout = 5 * time.Second

// Store is an [httpcache.Cache] on one S3 bucket and key prefix, and the
// streaming store of rfccache. It is safe for concurrent use; create one
// with [New].
type Store struct {
	client  *s3.Client
	bucket  string
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	kv      cache.KV
	rdb     redis.UniversalClient
	lock    *locker // nil without WithRedis
	metas   recentMetas
	stats   struct{ errors, timeouts, corrupt atomic.Int64 }
}

var (
	_ httpcache.Cache = (*Store)(nil)
	_ cache.Provider  = (*Store)(nil)
	_ cache.Store     = (*entries)(nil)
)

// Option configures a [Store].
type Option func(*Store)

// WithTimeout bounds every S3 call: a Get, Set or Delete, and for rfccache
// each metadata call, each part, and the wait for a body's first byte.
// Default (d <= 0): [DefaultTimeout].
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

// New returns a Store on bucket, which must exist, under prefix ("" for
// none). It does not contact S3: a wrong bucket shows in [Store.Stats] and
// the log.
func New(client *s3.Client, bucket, prefix string, opts ...Option) *Store {
	s := &Store{client: client, bucket: bucket, prefix: prefix, timeout: DefaultTimeout,
		log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	s.kv = cache.KV{Store: (*entries)(s), Timeout: s.timeout}
	if s.rdb != nil {
		s.lock = &locker{client: redislock.New(s.rdb), log: s.log, lease: LockLease}
	}
	return s
}

// CacheStore returns the streaming store rfccache uses.
func (s *Store) CacheStore() cache.Store {
	if s.lock != nil {
		return lockedEntries{(*entries)(s)}
	}
	return (*entries)(s)
}

// ObjectKey returns the body object of an httpcache key's entry; its
// metadata adds "@@meta.json".
func (s *Store) ObjectKey(key string) string { return s.prefix + cache.KVKey(key).String() }

// Get returns the value stored for key; a failed call or damaged object is
// a miss, logged and counted.
func (s *Store) Get(key string) ([]byte, bool) { return s.kv.Get(key) }

// Set stores value for key. A failed call is logged and counted.
func (s *Store) Set(key string, value []byte) { s.kv.Set(key, value) }

// Delete removes the value stored for key. A failed call is logged and
// counted.
func (s *Store) Delete(key string) { s.kv.Delete(key) }

// Stats counts what a Store did since New.
type Stats struct {
	Hits     int64 // Get calls that returned a value
	Misses   int64 // Get calls that did not (missing, failed or damaged)
	Sets     int64 // values written
	Deletes  int64 // Delete calls that succeeded
	Errors   int64 // failed calls, rfccache's included: S3 down, access denied, timeouts…
	Timeouts int64 // the failed calls that ran out of time
	Corrupt  int64 // objects whose length or checksum did not match
	// With WithRedis: misses that waited for another machine's lock, and
	// locks not taken because Redis could not be reached.
	LockWaits, LockErrors int64
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	st := Stats{Errors: s.stats.errors.Load(), Timeouts: s.stats.timeouts.Load(), Corrupt: s.stats.corrupt.Load()}
	st.Hits, st.Misses, st.Sets, st.Deletes = s.kv.Counts()
	if s.lock != nil {
		st.LockWaits, st.LockErrors = s.lock.waits.Load(), s.lock.errors.Load()
	}
	return st
}

// call bounds ctx by the store's timeout.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// notFound reports whether the object is missing or not the one asked for
// (If-Match failed).
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusNotFound || re.HTTPStatusCode() == http.StatusPreconditionFailed) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "PreconditionFailed")
}

func (s *Store) fail(op, obj string, err error) error {
	s.stats.errors.Add(1)
	if errors.Is(err, context.DeadlineExceeded) {
		s.stats.timeouts.Add(1)
	}
	s.log.Warn("s3store: "+op+" failed", slog.String("bucket", s.bucket), slog.String("key", obj), slog.Any("error", err))
	return err
}
