package testserver

import (
	"slices"
	"time"
)

// MaxInWindow reports the largest number of arrivals that fall in any
// half-open window [t, t+window) of the given length: the number a rate
// limiter that allows N per window must keep at or below N. Two arrivals
// exactly window apart fall in different windows. The times need not be
// sorted (sorted input, such as [Server.ArrivalTimes], is used as is) and
// are not modified. A window <= 0 holds no arrivals, so the result is 0.
func MaxInWindow(times []time.Time, window time.Duration) int {
	if window <= 0 || len(times) == 0 {
		return 0
	}
	if !slices.IsSortedFunc(times, time.Time.Compare) {
		times = slices.Clone(times)
		slices.SortFunc(times, time.Time.Compare)
	}
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}
