package testserver

import (
	"testing"
	"time"
)

func TestMaxInWindow(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	sec := time.Second
	tests := []struct {
		name   string
		times  []time.Time
		window time.Duration
		want   int
	}{
		{"empty", nil, sec, 0},
		{"one", at(0), sec, 1},
		{"zero window", at(0, 0, 0), 0, 0},
		{"negative window", at(0, 1), -sec, 0},
		{"all inside", at(0, 100, 200, 999), sec, 4},
		{"exactly a window apart", at(0, 1000), sec, 1},
		{"exactly a window apart, repeated", at(0, 1000, 2000, 3000), sec, 1},
		{"just inside", at(0, 999), sec, 2},
		{"same instant", at(5, 5, 5), sec, 3},
		{"burst later", at(0, 500, 1500, 1600, 1700, 2499), sec, 4},
		{"sliding not aligned", at(900, 950, 1000, 1050, 1899), sec, 5},
		{"ten per second, steady", at(0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100), sec, 10},
		{"unsorted input", at(1600, 0, 2499, 500, 1700, 1500), sec, 4},
		{"small window", at(0, 1, 2, 10, 11), 2 * time.Millisecond, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var orig []time.Time
			orig = append(orig, tt.times...)
			if got := MaxInWindow(tt.times, tt.window); got != tt.want {
				t.Errorf("MaxInWindow(%v) = %d, want %d", tt.window, got, tt.want)
			}
			for i := range orig {
				if !orig[i].Equal(tt.times[i]) {
					t.Fatal("MaxInWindow modified its input")
				}
			}
		})
	}
}

// TestMaxInWindowBrute compares with a direct count over every window that
// starts at an arrival (the maximum is always reached at one).
func TestMaxInWindowBrute(t *testing.T) {
	t0 := time.Now()
	var times []time.Time
	x := uint64(42)
	for range 300 {
		x = mix64(x)
		times = append(times, t0.Add(time.Duration(x%5000)*time.Millisecond))
	}
	for _, w := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		want := 0
		for _, start := range times {
			n := 0
			for _, u := range times {
				if !u.Before(start) && u.Before(start.Add(w)) {
					n++
				}
			}
			want = max(want, n)
		}
		if got := MaxInWindow(times, w); got != want {
			t.Errorf("window %v: got %d, want %d", w, got, want)
		}
	}
}
