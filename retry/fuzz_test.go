package retry

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter checks RetryAfter on any header value: it never panics,
// never returns a negative wait, reads whole seconds exactly, and measures
// an HTTP date from now.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, s := range []string{"", "0", "1", " 120 ", "-1", "1.5", "99999999999999999999", "9223372036854775807",
		now.Add(time.Hour).Format(http.TimeFormat), now.Add(-time.Hour).Format(http.TimeFormat),
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "soon", "+5", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		wait, ok := RetryAfter(v, now)
		if !ok {
			if wait != 0 {
				t.Fatalf("RetryAfter(%q) = %v, false: want 0 with false", v, wait)
			}
			return
		}
		if wait < 0 {
			t.Fatalf("RetryAfter(%q) = %v: negative wait", v, wait)
		}
		s := strings.TrimSpace(v)
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			want := time.Duration(math.MaxInt64)
			if n <= math.MaxInt64/uint64(time.Second) {
				want = time.Duration(n) * time.Second
			}
			if wait != want {
				t.Fatalf("RetryAfter(%q) = %v, want %v", v, wait, want)
			}
			return
		}
		if d, err := http.ParseTime(s); err == nil {
			if want := max(d.Sub(now), 0); wait != want {
				t.Fatalf("RetryAfter(%q) = %v, want %v (date %v)", v, wait, want, d)
			}
		}
	})
}
