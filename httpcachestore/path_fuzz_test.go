package httpcachestore

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPath checks the key → file mapping: every file lies in a shard folder
// directly inside the store's folder, whatever the key, and two different
// keys never share a file.
func FuzzPath(f *testing.F) {
	for _, k := range []string{"", "https://example.com/a", "../../etc/passwd", "/abs/path", "a\x00b", "..", strings.Repeat("x", 5000), "C:\\win"} {
		f.Add(k, k+"/")
	}
	s := &Store{dir: filepath.Join("cache", "root")}
	f.Fuzz(func(t *testing.T, a, b string) {
		shard, file := s.path(a)
		if filepath.Dir(shard) != s.dir || filepath.Dir(file) != shard {
			t.Fatalf("key %q maps to %s in %s, outside %s", a, file, shard, s.dir)
		}
		if rel, err := filepath.Rel(s.dir, file); err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("key %q maps to %s, outside %s", a, file, s.dir)
		}
		if _, fb := s.path(b); a != b && fb == file {
			t.Fatalf("keys %q and %q share %s", a, b, file)
		}
	})
}
