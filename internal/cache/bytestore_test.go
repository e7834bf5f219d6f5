package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"sync"
	"testing"
	"time"
)

// mapCache is a ByteCache in a map.
type mapCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *mapCache) Get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *mapCache) Set(key string, value []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[key] = value
}

func (c *mapCache) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// frame builds a ByteStore value from metadata and a body.
func frame(meta, body []byte) []byte {
	v := []byte(frameMagic)
	v = binary.BigEndian.AppendUint32(v, uint32(len(meta)))
	return append(append(v, meta...), body...)
}

// FuzzByteStoreValue: whatever value a shared cache holds, Lookup returns
// either nothing (and removes a damaged value) or an entry whose body has
// the size and checksum its metadata records.
func FuzzByteStoreValue(f *testing.F) {
	k := Key{Host: "example.com", Path: "@doc"}
	body := []byte("the body")
	m := &Meta{Key: k.String(), Status: 200, Fetched: time.Unix(1e9, 0)}
	m.SetSum(int64(len(body)), crc32.Checksum(body, Castagnoli))
	good, _ := m.Marshal()
	f.Add(frame(good, body))
	f.Add(frame(good, []byte("the bodx")))
	f.Add(frame(good, body[:4]))
	f.Add(frame(good[:len(good)-1], body))
	f.Add([]byte(frameMagic + "\xff\xff\xff\xff"))
	f.Add([]byte("tcB"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := &mapCache{}
		s := NewByteStore(c, nil)
		c.Set(s.Slot(k), raw)
		got, rc, err := s.Lookup(context.Background(), k)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("error %v is not ErrNotFound", err)
			}
			if _, ok := c.Get(s.Slot(k)); ok && s.Stats().Corrupt > 0 {
				t.Fatal("a damaged value was counted but not removed")
			}
			return
		}
		if got.Marker() {
			return
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != got.Size || crc32.Checksum(b, Castagnoli) != got.Sum() {
			t.Fatalf("served %d bytes for an entry of %d with checksum %s", len(b), got.Size, got.CRC32C)
		}
		if got.Key == k.String() && !bytes.Equal(raw[len(raw)-len(b):], b) {
			t.Fatal("the body served is not the value's tail")
		}
	})
}
