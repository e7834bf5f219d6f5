package rfccache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	want := time.Date(2050, 8, 18, 2, 1, 18, 0, time.UTC)
	for _, tc := range []struct {
		in []string
		ok bool
	}{
		{[]string{"Thu, 18 Aug 2050 02:01:18 GMT"}, true},
		{[]string{"Thursday, 18-Aug-50 02:01:18 GMT"}, true},
		{[]string{"Thu Aug 18 02:01:18 2050"}, true},
		{[]string{"Mon, 18 Aug 2050 02:01:18 GMT"}, true},
		{[]string{"THU, 18 AUG 2050 02:01:18 gMT"}, true},
		{[]string{"Thu, 18 Aug 2050 02:01:18 UTC"}, false},
		{[]string{"Thu, 18 Aug 2050 02:01:18 AEST"}, false},
		{[]string{"Thu, 18 Aug 50 02:01:18 GMT"}, false},
		{[]string{"Thu 18 Aug 2050 02:01:18 GMT"}, false},
		{[]string{"Thu, 18  Aug  2050 02:01:18 GMT"}, false},
		{[]string{"Thu, 18-Aug-2050 02:01:18 GMT"}, false},
		{[]string{"Thu, 18 Aug 2050 02.01.18 GMT"}, false},
		{[]string{"Thu, 18 Aug 2050 2:01:18 GMT"}, false},
		{[]string{"Thu, 18 Aug 2050 02:01:18 GMT", "Thu, 18 Aug 2050 02:01:19 GMT"}, false},
		{[]string{"0"}, false},
		{nil, false},
	} {
		got, ok := parseDate(tc.in)
		if ok != tc.ok || (ok && !got.Equal(want)) {
			t.Errorf("parseDate(%q) = %v, %v; want ok %v", tc.in, got, ok, tc.ok)
		}
	}
}

func TestAgeValue(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want time.Duration
	}{
		{nil, 0}, {[]string{"100"}, 100 * time.Second}, {[]string{" 0100 "}, 100 * time.Second},
		{[]string{"abc"}, 0}, {[]string{"-7200"}, 0}, {[]string{"7200.0"}, 0},
		{[]string{"7200, 0"}, 7200 * time.Second}, {[]string{"0, 7200"}, 0},
		{[]string{"7200", "0"}, 7200 * time.Second}, {[]string{"0", "7200"}, 0},
		{[]string{"7200;foo=bar"}, 7200 * time.Second},
		{[]string{"2147483647"}, (1<<31 - 1) * time.Second}, {[]string{"2147483648"}, maxAge}, {[]string{"99999999999999999999"}, maxAge},
	} {
		if got := ageValue(http.Header{"Age": tc.in}); got != tc.want {
			t.Errorf("ageValue(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseDate: no input makes the date and Age parsers panic, and every
// date accepted formats back to its input, ignoring case.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Thu, 18 Aug 2050 02:01:18 GMT", "Thursday, 18-Aug-50 02:01:18 GMT", "Thu Aug 18 02:01:18 2050", "0", "7200, 0", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ageValue(http.Header{"Age": {s}})
		if d, ok := parseDate([]string{s}); ok && d.IsZero() && s != "" {
			for _, l := range dateLayouts {
				if d.Format(l) == s {
					return
				}
			}
			t.Fatalf("parseDate(%q) accepted a zero time", s)
		}
	})
}
