package rules

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Rules
	}{
		{
			name: "EDGAR as the original wrote it",
			in: `{
				".*\\.sec\\.gov": {
					"/submissions.*": 600,
					"/include/ticker\\.txt.*": 600,
					"/files/company_tickers\\.json.*": 600,
					".*index/.*": 1800,
					"/Archives/edgar/data": true
				}
			}`,
			want: EDGAR,
		},
		{
			name: "order of sites and paths kept",
			in:   `{"z": {"/b": 1, "/a": 2}, "a": {"/z": 3, "/c": 4}, "m": {}}`,
			want: Rules{
				{Host: "z", Paths: []Path{{"/b", time.Second}, {"/a", 2 * time.Second}}},
				{Host: "a", Paths: []Path{{"/z", 3 * time.Second}, {"/c", 4 * time.Second}}},
				{Host: "m", Paths: []Path{}},
			},
		},
		{
			name: "values",
			in: `{"h": {"/true": true, "/false": false, "/zero": 0, "/minus-zero": -0, "/fraction": 0.25,
				"/tenth": 0.1, "/exponent": 1.5e3, "/negative-exponent": 25E-2, "/nanosecond": 1e-9,
				"/trailing-zeros": 0.1000000000000, "/max": 9223372036.854775807, "/zero-big-exponent": 0e999999999999}}`,
			want: Rules{{Host: "h", Paths: []Path{
				{"/true", Forever},
				{"/false", 0},
				{"/zero", 0},
				{"/minus-zero", 0},
				{"/fraction", 250 * time.Millisecond},
				{"/tenth", 100 * time.Millisecond},
				{"/exponent", 1500 * time.Second},
				{"/negative-exponent", 250 * time.Millisecond},
				{"/nanosecond", time.Nanosecond},
				{"/trailing-zeros", 100 * time.Millisecond},
				{"/max", Forever},
				{"/zero-big-exponent", 0},
			}}},
		},
		{
			name: "empty",
			in:   " {} \n",
			want: Rules{},
		},
		{
			name: "escapes in keys",
			in:   `{"\u0061\\.example": {"/caf\u00e9\t": 1}}`,
			want: Rules{{Host: `a\.example`, Paths: []Path{{"/café\t", time.Second}}}},
		},
		{
			name: "same path in different sites",
			in:   `{"a": {"/x": 1}, "b": {"/x": 2}}`,
			want: Rules{{Host: "a", Paths: []Path{{"/x", time.Second}}}, {Host: "b", Paths: []Path{{"/x", 2 * time.Second}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSON([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseJSON: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseJSON = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestParseJSONOrderMatters checks that the order read from JSON reaches
// Lookup: a general path before a specific one shadows it, the reverse
// does not.
func TestParseJSONOrderMatters(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"general first", `{"example\\.com": {"/docs": 60, "/docs/live": false}}`, time.Minute},
		{"specific first", `{"example\\.com": {"/docs/live": false, "/docs": 60}}`, 0},
		{"general site first", `{".*": {"/": true}, "example\\.com": {"/": 1}}`, Forever},
		{"specific site first", `{"example\\.com": {"/": 1}, ".*": {"/": true}}`, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := mustCompile(t, r).Lookup("example.com", "/docs/live/1")
			if !ok || got != tt.want {
				t.Errorf("Lookup = %v, %v; want %v, true", got, ok, tt.want)
			}
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // the whole message, or its start when it ends in "…"
		wantSyn bool   // wraps a *syntax.Error
	}{
		// Values.
		{name: "string", in: `{"x": {"/y": "abc"}}`, want: `rules: site "x" path "/y": value "abc" is not a number of seconds, true or false`},
		{name: "numeric string", in: `{"x": {"/y": "600"}}`, want: `rules: site "x" path "/y": value "600" is not a number of seconds, true or false`},
		{name: "null", in: `{"x": {"/y": null}}`, want: `rules: site "x" path "/y": value null is not a number of seconds, true or false`},
		{name: "object", in: `{"x": {"/y": {"a": 1}}}`, want: `rules: site "x" path "/y": value {…} is not a number of seconds, true or false`},
		{name: "array", in: `{"x": {"/y": [600]}}`, want: `rules: site "x" path "/y": value […] is not a number of seconds, true or false`},
		{name: "negative", in: `{"x": {"/y": -1}}`, want: `rules: site "x" path "/y": value -1 is negative; use false to never cache`},
		{name: "negative fraction", in: `{"x": {"/y": -0.5e-20}}`, want: `rules: site "x" path "/y": value -0.5e-20 is negative; use false to never cache`},
		{name: "too large", in: `{"x": {"/y": 9223372037}}`, want: `rules: site "x" path "/y": value 9223372037 is more seconds than a time.Duration holds (about 292 years); use true to cache for ever`},
		{name: "just too large", in: `{"x": {"/y": 9223372036.854775808}}`, want: `rules: site "x" path "/y": value 9223372036.854775808 is more seconds than …`},
		{name: "huge exponent", in: `{"x": {"/y": 1e99999999999999999999}}`, want: `rules: site "x" path "/y": value 1e99999999999999999999 is more seconds than …`},
		{name: "finer than a nanosecond", in: `{"x": {"/y": 1.0000000001}}`, want: `rules: site "x" path "/y": value 1.0000000001 is finer than a nanosecond`},
		{name: "tiny", in: `{"x": {"/y": 1e-99999999999999999999}}`, want: `rules: site "x" path "/y": value 1e-99999999999999999999 is finer than a nanosecond`},
		{name: "long string value", in: `{"x": {"/y": "` + strings.Repeat("a", 100) + `"}}`, want: `rules: site "x" path "/y": value "` + strings.Repeat("a", 64) + `"… is not …`},

		// Patterns and duplicates.
		{name: "bad host pattern", in: `{"([a-z": {"/y": 1}}`, want: `rules: site "([a-z": invalid host pattern: error parsing regexp: …`, wantSyn: true},
		{name: "bad path pattern", in: `{"x": {"/y(": 1}}`, want: `rules: site "x" path "/y(": invalid path pattern: error parsing regexp: …`, wantSyn: true},
		{name: "duplicate site", in: `{"x": {"/a": 1}, "x": {"/b": 2}}`, want: `rules: site "x": duplicate site`},
		{name: "duplicate path", in: `{"x": {"/y": 1, "/y": 2}}`, want: `rules: site "x" path "/y": duplicate path`},

		// Shapes.
		{name: "site not an object", in: `{"x": 600}`, want: `rules: site "x": value 600 is not an object of paths`},
		{name: "site is true", in: `{"x": true}`, want: `rules: site "x": value true is not an object of paths`},
		{name: "site is null", in: `{"x": null}`, want: `rules: site "x": value null is not an object of paths`},
		{name: "site is an array", in: `{"x": [["/y", 1]]}`, want: `rules: site "x": value […] is not an object of paths`},
		{name: "top level array", in: `[{"x": {}}]`, want: `rules: JSON value […] is not an object of sites`},
		{name: "top level null", in: `null`, want: `rules: JSON value null is not an object of sites`},
		{name: "top level string", in: `"x"`, want: `rules: JSON value "x" is not an object of sites`},
		{name: "empty input", in: ``, want: `rules: no JSON: want an object of sites`},
		{name: "blank input", in: " \n\t", want: `rules: no JSON: want an object of sites`},

		// Syntax.
		{name: "trailing object", in: `{} {}`, want: `rules: unexpected data after the object of sites: {…}`},
		{name: "trailing garbage", in: `{"x": {}} x`, want: `rules: unexpected data after the object of sites: invalid character …`},
		{name: "trailing comma", in: `{"x": {"/y": 1,}}`, want: `rules: site "x": invalid JSON: invalid character '}' looking for beginning of object key string`},
		{name: "missing value", in: `{"x": {"/y": }}`, want: `rules: site "x" path "/y": invalid JSON: invalid character '}' looking for beginning of value`},
		{name: "cut in a path", in: `{"x": {"/y": `, want: `rules: site "x" path "/y": invalid JSON: unexpected EOF`},
		{name: "cut in a site", in: `{"x": {"/y": 1`, want: `rules: site "x": invalid JSON: unexpected EOF`},
		{name: "cut before a site value", in: `{"x":`, want: `rules: site "x": invalid JSON: unexpected EOF`},
		{name: "cut at top", in: `{"x": {}`, want: `rules: invalid JSON: unexpected EOF`},
		{name: "cut after brace", in: `{`, want: `rules: invalid JSON: unexpected EOF`},
		{name: "number key", in: `{1: {}}`, want: `rules: invalid JSON: invalid character '1'…`},
		{name: "bad literal", in: `{"x": {"/y": tru}}`, want: `rules: site "x" path "/y": invalid JSON: invalid character '}' in literal true (expecting 'e')`},
		{name: "leading zero", in: `{"x": {"/y": 01}}`, want: `rules: site "x": invalid JSON: invalid character '1' after object key:value pair`},
		{name: "NaN", in: `{"x": {"/y": NaN}}`, want: `rules: site "x" path "/y": invalid JSON: invalid character 'N' looking for beginning of value`},
		{name: "single quotes", in: `{'x': {}}`, want: `rules: invalid JSON: invalid character '\''…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseJSON([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseJSON = %#v, nil; want an error", r)
			}
			if r != nil {
				t.Errorf("ParseJSON returned rules with its error: %#v", r)
			}
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				if !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("error = %q\nwant prefix %q", err, prefix)
				}
			} else if err.Error() != tt.want {
				t.Errorf("error = %q\nwant %q", err, tt.want)
			}
			var syn *syntax.Error
			if got := errors.As(err, &syn); got != tt.wantSyn {
				t.Errorf("errors.As(*syntax.Error) = %v, want %v", got, tt.wantSyn)
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		r    Rules
		want string
	}{
		{"nil", nil, `{}`},
		{"empty", Rules{}, `{}`},
		{"site without paths", Rules{{Host: "a"}}, `{"a":{}}`},
		{
			"EDGAR", EDGAR,
			`{".*\\.sec\\.gov":{"/submissions.*":600,"/include/ticker\\.txt.*":600,"/files/company_tickers\\.json.*":600,".*index/.*":1800,"/Archives/edgar/data":true}}`,
		},
		{
			"values and order",
			Rules{
				{Host: "z", Paths: []Path{
					{"/never", 0}, {"/forever", Forever}, {"/quarter", 250 * time.Millisecond},
					{"/ns", time.Nanosecond}, {"/long", 90 * time.Minute}, {"/just-under-forever", Forever - 1},
				}},
				{Host: "a", Paths: []Path{{"/", time.Second}}},
			},
			`{"z":{"/never":false,"/forever":true,"/quarter":0.25,"/ns":0.000000001,"/long":5400,"/just-under-forever":9223372036.854775806},"a":{"/":1}}`,
		},
		{"escaping", Rules{{Host: "a\"b\\.c\n<&>", Paths: []Path{{"é", time.Second}}}}, `{"a\"b\\.c\n\u003c\u0026\u003e":{"é":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.r) // through encoding/json, as callers will
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal = %s\nwant %s", got, tt.want)
			}
			back, err := ParseJSON(got)
			if err != nil {
				t.Fatalf("ParseJSON(Marshal): %v", err)
			}
			if !equalRules(back, tt.r) {
				t.Errorf("ParseJSON(Marshal(r)) = %#v, want %#v", back, tt.r)
			}
		})
	}
}

func TestMarshalJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		r    Rules
		want string
	}{
		{"negative", Rules{{Host: "a", Paths: []Path{{"/ok", 1}, {"/y", -time.Second}}}}, `rules: site 0 ("a") path 1 ("/y"): negative MaxAge -1s; use 0 to never cache`},
		{"duplicate host", Rules{{Host: "a"}, {Host: "b"}, {Host: "a"}}, `rules: site 2 ("a"): duplicate host; the JSON form holds a host once`},
		{"duplicate path", Rules{{Host: "a", Paths: []Path{{"/y", 1}, {"/y", 2}}}}, `rules: site 0 ("a") path 1 ("/y"): duplicate path; the JSON form holds a path once per site`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.r.MarshalJSON()
			if err == nil {
				t.Fatalf("MarshalJSON = %s, nil; want an error", b)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestUnmarshalJSON(t *testing.T) {
	var cfg struct {
		Rules Rules `json:"rules"`
		Other int   `json:"other"`
	}
	in := `{"other": 1, "rules": {"b": {"/x": 2}, "a": {"/y": true}}}`
	if err := json.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	want := Rules{{Host: "b", Paths: []Path{{"/x", 2 * time.Second}}}, {Host: "a", Paths: []Path{{"/y", Forever}}}}
	if !reflect.DeepEqual(cfg.Rules, want) {
		t.Errorf("Rules = %#v, want %#v", cfg.Rules, want)
	}

	cfg.Rules = EDGAR.Clone()
	if err := json.Unmarshal([]byte(`{"rules": null}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Rules, EDGAR) {
		t.Errorf("null changed the rules to %#v", cfg.Rules)
	}

	err := json.Unmarshal([]byte(`{"rules": {"x": {"/y": "abc"}}}`), &cfg)
	if err == nil || !strings.Contains(err.Error(), `rules: site "x" path "/y": value "abc"`) {
		t.Errorf("error = %v, want the ParseJSON error", err)
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr error
	}{
		{"0", 0, nil},
		{"-0", 0, nil},
		{"-0.0e5", 0, nil},
		{"1", time.Second, nil},
		{"600", 10 * time.Minute, nil},
		{"0.3", 300 * time.Millisecond, nil},
		{"0.000000001", 1, nil},
		{"1e0", time.Second, nil},
		{"1E+2", 100 * time.Second, nil},
		{"12.5e-1", 1250 * time.Millisecond, nil},
		{"100e-11", 1, nil},
		{"9223372036", 9223372036 * time.Second, nil},
		{"9223372036.854775807", Forever, nil},
		{"922337203685477580.7e-8", Forever, nil},
		{"00000000000000000000000001", time.Second, nil},
		{"1.00000000000000000000000", time.Second, nil},
		{"9223372036.854775808", 0, errTooLarge},
		{"9999999999", 0, errTooLarge},
		{"1e10", 0, errTooLarge},
		{"1e99999999999999999999999", 0, errTooLarge},
		{"0.0000000001", 0, errTooFine},
		{"1e-10", 0, errTooFine},
		{"1e-99999999999999999999999", 0, errTooFine},
		{"-1", 0, errNegative},
		{"-1e-99", 0, errNegative},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSeconds(tt.in)
			if got != tt.want || err != tt.wantErr {
				t.Errorf("parseSeconds(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				if back, err := parseSeconds(formatSeconds(got)); got != 0 && got != Forever && (back != got || err != nil) {
					t.Errorf("parseSeconds(formatSeconds(%v)) = %v, %v", got, back, err)
				}
			}
		})
	}
}

// equalRules is reflect.DeepEqual that does not tell nil from empty.
func equalRules(a, b Rules) bool {
	return slices.EqualFunc(a, b, func(x, y Site) bool {
		return x.Host == y.Host && slices.Equal(x.Paths, y.Paths)
	})
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`{".*\\.sec\\.gov": {"/submissions.*": 600, "/Archives/edgar/data": true, "/x": false}}`,
		`{"a": {"/b": 0.25, "/c": 1e-9, "/d": 9223372036.854775807}, "b": {}}`,
		`{"a": {"/b": -1}}`,
		`{"a": {"/b": "600"}}`,
		`{"(": {}}`,
		`{"a": {"\\Q)|(": 1}}`,
		`{"a": {"/b": 1}} {}`,
		`{"a": {"/b": 1e99999999999999999999}}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseJSON(data)
		if err != nil {
			if r != nil {
				t.Fatalf("ParseJSON returned rules with its error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "rules: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if _, err := Compile(r); err != nil {
			t.Fatalf("ParseJSON accepted rules that Compile rejects: %v", err)
		}
		out, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of parsed rules: %v", err)
		}
		back, err := ParseJSON(out)
		if err != nil {
			t.Fatalf("ParseJSON(%s) of marshalled rules: %v", out, err)
		}
		if !equalRules(back, r) {
			t.Fatalf("round trip changed the rules:\n%#v\n%#v", r, back)
		}
	})
}
