package rfccache

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  directives
	}{
		{"none", nil, nil},
		{"simple", []string{"max-age=60, public"}, directives{"max-age": "60", "public": ""}},
		{"names are case-insensitive", []string{"Max-Age=60, NO-STORE, Must-Revalidate"},
			directives{"max-age": "60", "no-store": "", "must-revalidate": ""}},
		{"several lines", []string{"no-cache", "max-age=5"}, directives{"no-cache": "", "max-age": "5"}},
		{"first occurrence wins", []string{"max-age=5, max-age=100"}, directives{"max-age": "5"}},
		{"quoted value with comma", []string{`no-cache="Set-Cookie, X-Foo", max-age=3`},
			directives{"no-cache": "Set-Cookie, X-Foo", "max-age": "3"}},
		{"escaped quote", []string{`ext="a\"b", private`}, directives{"ext": `a"b`, "private": ""}},
		{"spaces and empty parts", []string{" ,, max-age = 7 ,"}, directives{"max-age": "7"}},
		{"unterminated quote", []string{`ext="abc`}, directives{"ext": "abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tc.lines {
				h.Add("Cache-Control", l)
			}
			if got := parseCacheControl(h); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseCacheControl(%q) = %#v, want %#v", tc.lines, got, tc.want)
			}
		})
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"60", time.Minute, true},
		{"0", 0, true},
		{"", 0, true},
		{"-1", 0, true},
		{"1.5", 0, true},
		{"abc", 0, true},
		{"99999999999999999999999", (1 << 31) * time.Second, true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			got, ok := directives{"max-age": tc.value}.seconds("max-age")
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("seconds(%q) = %v, %v; want %v, %v", tc.value, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if _, ok := (directives{}).seconds("max-age"); ok {
		t.Fatal("absent directive reported present")
	}
}

// FuzzParseCacheControl checks that no header value makes the parser panic
// and that every name it returns is lower-case and non-empty.
func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `no-cache="a,b", Private`, `x="\`, ",,=,", "MAX-AGE=1, max-age=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseCacheControl(http.Header{"Cache-Control": {s}})
		for name := range d {
			if name == "" {
				t.Fatalf("%q: empty directive name", s)
			}
			for _, c := range name {
				if 'A' <= c && c <= 'Z' {
					t.Fatalf("%q: name %q not lower-cased", s, name)
				}
			}
			d.seconds(name)
		}
	})
}
