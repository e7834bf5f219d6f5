package cache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
)

// ByteCache is a store of whole values: gregjones/httpcache's Cache.
type ByteCache interface {
	Get(key string) ([]byte, bool)
	Set(key string, value []byte)
	Delete(key string)
}

// ByteStore is the [Store] of a ByteCache, which can neither stream nor
// list: a download is spooled and Set whole, and a hit is held in memory.
// A URL has one value, its entry or its Vary marker, so entries for other
// credentials replace each other there; each Vary variant has a value of
// its own, found through the marker, which Invalidate follows to remove
// them.
type ByteStore struct {
	c     ByteCache
	log   *slog.Logger
	stats struct{ errors, corrupt atomic.Int64 }
}

// NewByteStore returns the Store of c.
func NewByteStore(c ByteCache, log *slog.Logger) *ByteStore {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ByteStore{c: c, log: log}
}

var _ Store = (*ByteStore)(nil)

// A value is a frame (see Frame).
const (
	bytePrefix   = "throttlecache/v2 "
	byteSecretID = bytePrefix + "secret"
)

// Slot returns the ByteCache key of k: one per origin and path, and one
// per Vary variant of it.
func (s *ByteStore) Slot(k Key) string {
	if k.Vary != "" {
		return bytePrefix + k.Host + "/" + k.Path + "@@v-" + k.Vary
	}
	return bytePrefix + k.Host + "/" + k.Path
}

func (s *ByteStore) load(k Key) (*Meta, []byte, bool) {
	raw, ok := s.c.Get(s.Slot(k))
	if !ok {
		return nil, nil, false
	}
	m, body, err := Unframe(raw)
	if err != nil {
		s.damaged(k, err)
		return nil, nil, false
	}
	return m, body, true
}

func (s *ByteStore) damaged(k Key, err error) {
	s.stats.corrupt.Add(1)
	s.log.Warn("cache: damaged value removed", "key", s.Slot(k), "err", err)
	s.c.Delete(s.Slot(k))
}

func (s *ByteStore) save(k Key, m *Meta, body []byte) error {
	v, err := Frame(m, body)
	if err != nil {
		return err
	}
	s.c.Set(s.Slot(k), v)
	return nil
}

// Lookup returns k's entry or marker when its value holds it.
func (s *ByteStore) Lookup(_ context.Context, k Key) (*Meta, io.ReadCloser, error) {
	m, body, ok := s.load(k)
	switch {
	case !ok || m.Key != k.String():
		return nil, nil, ErrNotFound
	case m.Marker():
		return m, nil, nil
	}
	return m, MemBody(body), nil
}

// Create spools the body to a temporary file.
func (s *ByteStore) Create(_ context.Context, k Key, _ *Meta) (Writer, error) {
	w, err := NewSpool(func(_ context.Context, m *Meta, body *io.SectionReader) error {
		b := make([]byte, body.Size())
		if _, err := io.ReadFull(body, b); err != nil {
			return err
		}
		return s.save(k, m, b)
	}, nil)
	if err != nil {
		s.stats.errors.Add(1)
	}
	return w, err
}

// Update rewrites k's value with m, keeping its body if it is still the
// one m describes, or writes a marker.
func (s *ByteStore) Update(_ context.Context, k Key, m *Meta) (io.ReadCloser, error) {
	if m.Marker() {
		return nil, s.save(k, m, nil)
	}
	old, body, ok := s.load(k)
	if !ok || old.Key != k.String() || old.Size != m.Size || old.CRC32C != m.CRC32C { // gone, or another body now
		return nil, ErrNotFound
	}
	if err := s.save(k, m, body); err != nil {
		return nil, err
	}
	return MemBody(body), nil
}

// Remove removes k's value if it holds k's entry.
func (s *ByteStore) Remove(_ context.Context, k Key) error {
	if m, _, ok := s.load(k); ok && m.Key == k.String() {
		s.c.Delete(s.Slot(k))
	}
	return nil
}

// Invalidate removes the value of u's URL and, when it is a marker, the
// variants it lists (counted as listed: reading them back only to count
// them would fetch whole bodies).
func (s *ByteStore) Invalidate(_ context.Context, u Key) (int, error) {
	m, _, ok := s.load(u)
	if !ok {
		return 0, nil
	}
	for _, v := range m.Variants { // a marker's
		vk := u
		vk.Vary = v
		s.c.Delete(s.Slot(vk))
	}
	s.c.Delete(s.Slot(u))
	return 1 + len(m.Variants), nil
}

// Secret returns the secret kept in the cache, making it when missing and
// reading it back, so that racing makers agree.
func (s *ByteStore) Secret(context.Context) ([]byte, error) {
	if b, ok := s.c.Get(byteSecretID); ok && len(b) == 32 {
		return b, nil
	}
	s.c.Set(byteSecretID, randomSecret())
	if b, ok := s.c.Get(byteSecretID); ok && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("cache: the store did not keep the secret")
}

// Stats returns what the store counted.
func (s *ByteStore) Stats() StoreStats {
	return StoreStats{Errors: s.stats.errors.Load(), Corrupt: s.stats.corrupt.Load()}
}
