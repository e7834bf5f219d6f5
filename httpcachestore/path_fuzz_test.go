package httpcachestore

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/throttlecache/throttlecache/internal/cache"
)

// FuzzKVKey checks the key → entry mapping: every value lies in a shard
// folder of "%kv" directly inside the store's folder, whatever the key, and
// two different keys never share an entry.
func FuzzKVKey(f *testing.F) {
	for _, k := range []string{"", "https://example.com/a", "../../etc/passwd", "/abs/path", "a\x00b", "..", strings.Repeat("x", 5000), "C:\\win"} {
		f.Add(k, k+"/")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka := cache.KVKey(a).String()
		dir := filepath.Join("cache", "root")
		full := filepath.Join(dir, filepath.FromSlash(ka))
		if filepath.Dir(filepath.Dir(full)) != filepath.Join(dir, "%kv") || !strings.HasPrefix(filepath.Base(full), "@") {
			t.Fatalf("key %q maps to %s, not in a shard of %s/%%kv", a, full, dir)
		}
		if a != b && ka == cache.KVKey(b).String() {
			t.Fatalf("keys %q and %q share %s", a, b, ka)
		}
	})
}
