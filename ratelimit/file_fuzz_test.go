package ratelimit

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzFileState feeds arbitrary bytes to a FileLimiter as its state file:
// it must never panic, must let a request through when the state holds no
// recent start, and must leave a state file that parses.
func FuzzFileState(f *testing.F) {
	f.Add([]byte(`{"version":1,"n":2,"span_ns":1000000000,"starts":[1,2]}`))
	f.Add([]byte(`{"version":1,"starts":[9223372036854775807]}`))
	f.Add([]byte(`{"version":1,"pause_until":9223372036854775807,"pause_reason":"x"}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte("{\"version\":1}\n garbage"))
	f.Add([]byte{0xff, 0x00, '{'})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, state []byte) {
		path := filepath.Join(dir, "state")
		if err := os.WriteFile(path, state, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := NewFileLimiter(path, 2, time.Second, &Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		l.Wait(ctx) // a pause or a full window far ahead may refuse; it must not panic or hang
		var s *fileState
		fileOf(l).withState(context.Background(), func(st *fileState) bool { s = st; return false })
		if s == nil {
			t.Fatal("no state after a Wait")
		}
	})
}
