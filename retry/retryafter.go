package retry

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter parses a Retry-After header value: a number of seconds or an
// HTTP date, which it measures from now. A date in the past is a wait of 0.
// ok is false when the value is empty or neither form.
func RetryAfter(value string, now time.Time) (wait time.Duration, ok bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, _ := err.(*strconv.NumError); ne != nil && ne.Err == strconv.ErrRange {
				return math.MaxInt64, true
			}
			return 0, false
		}
		if n > math.MaxInt64/uint64(time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// backoff returns the wait before attempt+1 when the server gave no
// Retry-After: base doubled for every attempt, at most maxWait, with
// "equal jitter" (half fixed, half random) so that clients told to back off
// at the same moment do not come back together.
func backoff(attempt int, base, maxWait time.Duration, rnd func() float64) time.Duration {
	d := maxWait
	if attempt-1 < 62 && base<<(attempt-1) > 0 && base<<(attempt-1) < maxWait {
		d = base << (attempt - 1)
	}
	return d/2 + time.Duration(rnd()*float64(d/2))
}

func defaultRand() float64 { return rand.Float64() }
