package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/throttlecache/throttlecache/internal/cache"
	"github.com/throttlecache/throttlecache/internal/httpbody"
)

const (
	metaSuffix = "@@meta.json"
	inlineMax  = 64 << 10 // a body this small travels with its metadata, in a frame: one GET, one PUT
	// verifyFirstMax: a body object whose ETag is not the one its metadata
	// records (a server that ignores If-Match) is checked before it is
	// served when this small; every other body streams, checked as it goes.
	verifyFirstMax = 1 << 20
	maxMetaBytes   = 4*inlineMax + 1<<20
)

// entries is the Store as the engine's store (see the package doc).
type entries Store

func (e *entries) st() *Store                 { return (*Store)(e) }
func (e *entries) bodyKey(k cache.Key) string { return e.prefix + k.String() }
func (e *entries) metaKey(k cache.Key) string { return e.prefix + k.String() + metaSuffix }

// metaTrust is how long metadata read from S3 is used again without
// reading it anew while its body object keeps the ETag it records (the
// body is read with If-Match on it): a hot entry's hit is one GET.
// Another machine's 304 within it costs at most one more revalidation.
const metaTrust = time.Second

// recentMetas keeps the metadata of entries with a body object, by key.
type recentMetas struct {
	mu sync.Mutex
	m  map[string]recentMeta
}

type recentMeta struct {
	meta *cache.Meta // shared, never modified
	at   time.Time
}

func (r *recentMetas) get(key string) *cache.Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.m[key]; ok && time.Since(c.at) < metaTrust {
		return c.meta
	}
	return nil
}

func (r *recentMetas) put(key string, m *cache.Meta) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) >= 4096 {
		r.m = make(map[string]recentMeta)
	}
	r.m[key] = recentMeta{meta: m, at: time.Now()}
}

// known reports whether key's metadata, of an entry with a body object,
// was read lately (a while ago included).
func (r *recentMetas) known(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[key]
	return ok
}

// forget drops key's metadata, or all of it for "".
func (r *recentMetas) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key == "" {
		r.m = nil
	}
	delete(r.m, key)
}

// Lookup reads k's metadata (or uses what it read within metaTrust) and
// opens its body, which streams under ctx.
func (e *entries) Lookup(ctx context.Context, k cache.Key) (*cache.Meta, io.ReadCloser, error) {
	if m := e.metas.get(k.String()); m != nil {
		body, err := e.openBody(ctx, k, m, true)
		switch {
		case err == nil:
			return m, body, nil
		case !errors.Is(err, cache.ErrNotFound):
			return nil, nil, err
		}
		e.metas.forget(k.String()) // replaced or removed: read it anew
	}
	s := e.st()
	mk := e.metaKey(k)
	data, err := e.get(ctx, mk, maxMetaBytes)
	if notFound(err) {
		return nil, nil, cache.ErrNotFound
	} else if err != nil {
		return nil, nil, s.fail("get", mk, err)
	}
	m, inside, err := parseMeta(data)
	if err == nil && m.Key != k.String() {
		err = fmt.Errorf("%w: key %q, want %q", cache.ErrDamaged, m.Key, k.String())
	}
	if err != nil {
		e.damaged(ctx, k, err)
		return nil, nil, cache.ErrNotFound
	}
	switch {
	case m.Marker():
		return m, nil, nil
	case inside != nil:
		return m, cache.MemBody(inside), nil
	case m.ID == "": // a body inside the JSON, as earlier versions wrote it: fetched anew
		return nil, nil, cache.ErrNotFound
	}
	body, err := e.openBody(ctx, k, m, false)
	if err != nil {
		return nil, nil, err
	}
	e.metas.put(k.String(), m)
	return m, body, nil
}

// openBody opens k's body object if it still has m's ETag and size;
// ErrNotFound when it was replaced, removed or is damaged. With reused,
// m was read a while ago, and an object of another ETag (from a server
// that ignores If-Match) is taken for one that replaced it. Otherwise the
// ETag is not compared: some servers give a multipart object another ETag
// on GET than on completion, and the checksum settles it.
func (e *entries) openBody(ctx context.Context, k cache.Key, m *cache.Meta, reused bool) (io.ReadCloser, error) {
	s, bk := e.st(), e.bodyKey(k)
	bctx, bcancel := context.WithCancel(ctx)
	timer := time.AfterFunc(s.timeout, bcancel)
	out, err := s.client.GetObject(bctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &bk, IfMatch: &m.ID})
	if err != nil {
		timer.Stop()
		bcancel()
		if notFound(err) { // replaced or removed since the metadata was read
			return nil, cache.ErrNotFound
		}
		return nil, s.fail("get", bk, err)
	}
	other := out.ETag != nil && *out.ETag != m.ID // the server ignored If-Match, or names ETags its own way
	if other && reused {
		timer.Stop()
		out.Body.Close()
		bcancel()
		return nil, cache.ErrNotFound
	}
	// With another ETag, a mismatch may be another machine's new entry,
	// read between its body and its metadata: damage only if the metadata
	// still says what m does, so that the new one is not removed.
	mismatch := func(ctx context.Context, why error) {
		e.metas.forget(k.String())
		if other {
			data, err := e.get(ctx, e.metaKey(k), maxMetaBytes)
			if err != nil {
				return
			}
			if cur, _, err := parseMeta(data); err == nil && (cur.ID != m.ID || cur.CRC32C != m.CRC32C || !cur.Fetched.Equal(m.Fetched)) {
				return
			}
		}
		e.damaged(ctx, k, why)
	}
	if aws.ToInt64(out.ContentLength) != m.Size {
		timer.Stop()
		out.Body.Close()
		bcancel()
		mismatch(ctx, fmt.Errorf("body of %d bytes, metadata says %d", aws.ToInt64(out.ContentLength), m.Size))
		return nil, cache.ErrNotFound
	}
	if other && m.Size <= verifyFirstMax { // checked before it is served: a mismatch is a miss
		b := make([]byte, m.Size)
		_, err := io.ReadFull(out.Body, b)
		timer.Stop()
		out.Body.Close()
		bcancel()
		if err != nil {
			return nil, s.fail("get", bk, err)
		}
		if crc32.Checksum(b, cache.Castagnoli) != m.Sum() {
			return nil, cache.ErrNotFound
		}
		return cache.MemBody(b), nil
	}
	// Checked as it streams: a mismatch ends the body with an error.
	timer.Stop() // the first byte came in time; the body streams under ctx
	body := httpbody.OnClose(out.Body, bcancel)
	return cache.CheckedBody(body, m.Size, m.Sum(), func(ok bool) {
		if !ok {
			mismatch(context.WithoutCancel(ctx), errors.New("checksum mismatch"))
		}
	}), nil
}

// damaged counts a damaged entry and removes its metadata.
func (e *entries) damaged(ctx context.Context, k cache.Key, why error) {
	s := e.st()
	s.metas.forget(k.String())
	s.stats.corrupt.Add(1)
	s.log.Warn("s3store: damaged entry removed", "bucket", s.bucket, "key", e.metaKey(k), "err", why)
	e.remove(ctx, e.metaKey(k))
}

func (e *entries) remove(ctx context.Context, obj string) error {
	s := e.st()
	ctx, cancel := s.call(ctx)
	defer cancel()
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &obj}); err != nil && !notFound(err) {
		return s.fail("delete", obj, err)
	}
	return nil
}

// get reads the object obj, up to limit bytes, into a buffer of its
// length when S3 gives it.
func (e *entries) get(ctx context.Context, obj string, limit int64) ([]byte, error) {
	s := e.st()
	ctx, cancel := s.call(ctx)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &obj})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > 0 && n <= limit {
		b := make([]byte, n)
		_, err := io.ReadFull(out.Body, b)
		return b, err
	}
	return io.ReadAll(io.LimitReader(out.Body, limit))
}

// put writes data (metadata, an invalidation's time), of content type ct,
// to the object obj.
func (e *entries) put(ctx context.Context, obj, ct string, data []byte) error {
	s := e.st()
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &obj, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentType: &ct})
	if err != nil {
		return s.fail("put", obj, err)
	}
	return nil
}

// parseMeta decodes a metadata object: a frame, with the body inside
// (never nil then), or JSON.
func parseMeta(data []byte) (*cache.Meta, []byte, error) {
	if !cache.IsFrame(data) {
		m, err := cache.ParseMeta(data)
		return m, nil, err
	}
	return cache.Unframe(data)
}

// putMeta writes k's metadata object: m, with the body inside when it is
// not nil.
func (e *entries) putMeta(ctx context.Context, k cache.Key, m *cache.Meta, inside []byte) error {
	e.metas.forget(k.String())
	data, err := m.Marshal()
	ct := "application/json"
	if inside != nil {
		ct = "application/octet-stream"
		data, err = cache.Frame(m, inside)
	}
	if err != nil {
		return err
	}
	return e.put(ctx, e.metaKey(k), ct, data)
}

// Update replaces k's metadata, keeping its body (a 304), and returns
// the body open, or writes a Vary marker in place of the entry.
func (e *entries) Update(ctx context.Context, k cache.Key, m *cache.Meta) (io.ReadCloser, error) {
	c := *m
	c.Key = k.String()
	var inside []byte
	if !m.Marker() && m.ID == "" { // the body is inside the metadata object: keep it
		mk := e.metaKey(k)
		data, err := e.get(ctx, mk, maxMetaBytes)
		if notFound(err) {
			return nil, cache.ErrNotFound
		} else if err != nil {
			return nil, e.st().fail("get", mk, err)
		}
		old, body, err := parseMeta(data)
		if err != nil || body == nil || old.Key != c.Key || old.Size != c.Size || old.CRC32C != c.CRC32C {
			return nil, cache.ErrNotFound
		}
		inside = body
	}
	if err := e.putMeta(ctx, k, &c, inside); err != nil {
		return nil, err
	}
	if !m.Marker() && e.invalidatedSince(ctx, k, m.Started, false) { // the 304 was sent before an invalidation
		e.Remove(context.WithoutCancel(ctx), k)
		return nil, cache.ErrInvalidated
	}
	switch {
	case m.Marker():
		e.remove(ctx, e.bodyKey(k))
		return nil, nil
	case inside != nil:
		return cache.MemBody(inside), nil
	}
	body, err := e.openBody(ctx, k, &c, false)
	if err == nil {
		e.metas.put(k.String(), &c)
	}
	return body, err
}

// Remove removes k's metadata, then its body (unless S3 failed already).
func (e *entries) Remove(ctx context.Context, k cache.Key) error {
	e.metas.forget(k.String())
	if err := e.remove(ctx, e.metaKey(k)); err != nil {
		return err
	}
	return e.remove(ctx, e.bodyKey(k))
}

// invalKey is the object that records when u's URL was last invalidated,
// in nanoseconds by the invalidating machine's clock.
func (e *entries) invalKey(u cache.Key) string {
	sum := sha256.Sum256([]byte(u.String()))
	return e.prefix + ".inval/" + hex.EncodeToString(sum[:16])
}

// invalidatedSince reports whether k's URL was invalidated, by any machine,
// since since (zero: never asked); a record S3 cannot read counts as
// unreadable says (a commit fails, an update of an entry stays). Across
// machines this relies on their clocks agreeing, as NTP keeps them.
func (e *entries) invalidatedSince(ctx context.Context, k cache.Key, since time.Time, unreadable bool) bool {
	if since.IsZero() {
		return false
	}
	obj := e.invalKey(k.URL())
	b, err := e.get(ctx, obj, 32)
	if notFound(err) {
		return false
	} else if err != nil {
		e.st().fail("get", obj, err)
		return unreadable
	}
	at, err := strconv.ParseInt(string(b), 10, 64)
	return err != nil || at >= since.UnixNano()
}

// Invalidate records the invalidation of u's URL, which later commits on
// every machine check, and removes every object of it, every variant; a
// record S3 did not take is an error even when the objects went.
func (e *entries) Invalidate(ctx context.Context, u cache.Key) (int, error) {
	s := e.st()
	e.metas.forget("")
	rerr := e.put(ctx, e.invalKey(u), "text/plain", strconv.AppendInt(nil, time.Now().UnixNano(), 10))
	hostPrefix := e.prefix + u.Host
	var folders []string
	err := e.list(ctx, hostPrefix, "/", func(obj string, folder bool) {
		if rest := strings.TrimPrefix(obj, hostPrefix); folder && (rest == "/" || strings.HasPrefix(rest, "@")) {
			folders = append(folders, obj)
		}
	})
	if err != nil {
		return 0, errors.Join(rerr, err)
	}
	n := 0
	for _, f := range folders {
		prefix := f + u.Path
		var objs []string
		err = errors.Join(err, e.list(ctx, prefix, "", func(obj string, _ bool) {
			if rest := strings.TrimPrefix(obj, prefix); rest == "" || rest == metaSuffix || strings.HasPrefix(rest, "@@v-") {
				objs = append(objs, obj)
			}
		}))
		for _, obj := range objs {
			if e.remove(ctx, obj) == nil && strings.HasSuffix(obj, metaSuffix) {
				n++
			}
		}
	}
	if err != nil {
		s.fail("list", hostPrefix, err)
	}
	return n, errors.Join(rerr, err) // without the record, a download elsewhere may still commit
}

// list calls f with every object (and, with delim, folder) under prefix.
func (e *entries) list(ctx context.Context, prefix, delim string, f func(name string, folder bool)) error {
	s := e.st()
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix}
	if delim != "" {
		in.Delimiter = &delim
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		cctx, cancel := s.call(ctx)
		page, err := p.NextPage(cctx)
		cancel()
		if err != nil {
			return err
		}
		for _, cp := range page.CommonPrefixes {
			f(aws.ToString(cp.Prefix), true)
		}
		for _, o := range page.Contents {
			f(aws.ToString(o.Key), false)
		}
	}
	return nil
}

// Secret reads the secret under prefix, creating it with a conditional PUT
// and reading back the one that stayed.
func (e *entries) Secret(ctx context.Context) ([]byte, error) {
	s := e.st()
	key := e.prefix + ".key"
	if b, err := e.get(ctx, key, 64); err == nil && len(b) == 32 {
		return b, nil
	} else if err != nil && !notFound(err) {
		return nil, s.fail("get", key, err)
	}
	secret := make([]byte, 32)
	randRead(secret)
	cctx, cancel := s.call(ctx)
	s.client.PutObject(cctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(secret),
		ContentLength: aws.Int64(32), IfNoneMatch: aws.String("*")})
	cancel()
	b, err := e.get(ctx, key, 64)
	if err != nil || len(b) != 32 {
		return nil, s.fail("secret", key, errors.Join(err, errors.New("the bucket did not keep the secret")))
	}
	return b, nil
}
