package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseSize reads a byte count: a number with an optional suffix K, M, G, T
// or P, in powers of 1024 (KB, KiB, MB, MiB… mean the same); "0" is zero
// and "1.5G" is 1.5 GiB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	u := strings.ToUpper(t)
	if v, ok := strings.CutSuffix(u, "B"); ok {
		u = strings.TrimSuffix(v, "I")
	}
	mult := 1.0
	if n := len(u); n > 0 {
		if i := strings.IndexByte("KMGTP", u[n-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			u = u[:n-1]
		}
	}
	if strings.HasSuffix(strings.ToUpper(t), "IB") && mult == 1 || u == "" {
		return 0, fmt.Errorf("%q is not a size: use bytes or a suffix K, M, G, T (powers of 1024), e.g. 500M or 2G", s)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(u), 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a size: use bytes or a suffix K, M, G, T (powers of 1024), e.g. 500M or 2G", s)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}
