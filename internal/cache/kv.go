package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"io"
	"sync/atomic"
	"time"
)

// KV gives a Store gregjones/httpcache's Cache interface: a key's value is
// an entry in a folder "%kv" no URL's entry can be in, named after the
// key's SHA-256. Set takes the entry's lock when the store has one. It is
// safe for concurrent use.
type KV struct {
	Store   Store
	Timeout time.Duration // bounds each call; 0: none

	hits, misses, sets, deletes atomic.Int64
}

// KVKey returns the entry that holds the value of key.
func KVKey(key string) Key {
	sum := sha256.Sum256([]byte(key))
	name := hex.EncodeToString(sum[:])
	return Key{Host: "%kv", Path: name[:2] + "/@" + name}
}

func (c *KV) ctx() (context.Context, context.CancelFunc) {
	if c.Timeout > 0 {
		return context.WithTimeout(context.Background(), c.Timeout)
	}
	return context.WithCancel(context.Background())
}

// Get returns the value stored for key; anything but a checked value is a
// miss.
func (c *KV) Get(key string) ([]byte, bool) {
	ctx, cancel := c.ctx()
	defer cancel()
	m, body, err := c.Store.Lookup(ctx, KVKey(key))
	if err == nil && body != nil {
		v := make([]byte, m.Size)
		_, err = io.ReadFull(body, v)
		if err == nil { // the checked bodies end in io.EOF only when they match
			_, err = body.Read(make([]byte, 1))
		}
		body.Close()
		if err == io.EOF {
			c.hits.Add(1)
			return v, true
		}
	}
	c.misses.Add(1)
	return nil, false
}

// Set stores value for key atomically; a failed write keeps the old one.
func (c *KV) Set(key string, value []byte) {
	ctx, cancel := c.ctx()
	defer cancel()
	k := KVKey(key)
	if l, ok := c.Store.(Locker); ok {
		unlock, err := l.Lock(ctx, k, nil)
		if err != nil {
			return
		}
		defer unlock()
	}
	now := time.Now()
	m := &Meta{Key: k.String(), Status: 200, Fetched: now, Size: int64(len(value))} // not a download: no Started
	w, err := c.Store.Create(ctx, k, m)
	if err != nil {
		return
	}
	defer w.Close()
	if _, err := w.Write(value); err != nil {
		w.Abort()
		return
	}
	m.SetSum(int64(len(value)), crc32.Checksum(value, Castagnoli))
	if w.Commit(ctx, m) == nil {
		c.sets.Add(1)
	}
}

// Delete removes the value stored for key, if any.
func (c *KV) Delete(key string) {
	ctx, cancel := c.ctx()
	defer cancel()
	if c.Store.Remove(ctx, KVKey(key)) == nil {
		c.deletes.Add(1)
	}
}

// Counts returns the Gets that hit and missed, the Sets that stored and the
// Deletes that succeeded.
func (c *KV) Counts() (hits, misses, sets, deletes int64) {
	return c.hits.Load(), c.misses.Load(), c.sets.Load(), c.deletes.Load()
}
