package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseJSON reads rules in their JSON form, the original's cache_rules
// dictionary: an object whose keys are host patterns and whose values are
// objects from path patterns to a maximum age:
//
//	{".*\\.sec\\.gov": {"/submissions.*": 600, "/Archives/edgar/data": true}}
//
// A maximum age is one of
//
//   - a non-negative number of seconds, such as 600 or 0.25; fractions are
//     kept down to the nanosecond and finer ones are rejected, as is any
//     number beyond the largest time.Duration (about 292 years: use true);
//   - true, for [Forever];
//   - false, for 0: never cache.
//
// The order of sites and of paths is kept: it decides which rule wins. A
// site may appear only once, and a path only once within its site. ParseJSON
// checks the patterns as [Compile] does, so rules it returns always compile.
// Errors name the site, and the path where there is one.
func ParseJSON(data []byte) (Rules, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	tok, err := d.Token()
	switch {
	case err == io.EOF:
		return nil, errors.New("rules: no JSON: want an object of sites")
	case err != nil:
		return nil, fmt.Errorf("rules: %w", invalid(err))
	case tok != json.Delim('{'):
		return nil, fmt.Errorf("rules: JSON value %s is not an object of sites", describe(tok))
	}

	r := Rules{}
	hosts := make(map[string]bool)
	for {
		host, end, err := key(d)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", invalid(err))
		}
		if end {
			break
		}
		if hosts[host] {
			return nil, fmt.Errorf("rules: site %q: duplicate site", host)
		}
		hosts[host] = true
		if _, err := CompilePattern(host); err != nil {
			return nil, fmt.Errorf("rules: site %q: invalid host pattern: %w", host, err)
		}
		paths, err := parseSite(d, host)
		if err != nil {
			return nil, err
		}
		r = append(r, Site{Host: host, Paths: paths})
	}

	switch tok, err := d.Token(); {
	case err == io.EOF:
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("rules: unexpected data after the object of sites: %w", err)
	default:
		return nil, fmt.Errorf("rules: unexpected data after the object of sites: %s", describe(tok))
	}
}

// parseSite reads the object of paths of the site host.
func parseSite(d *json.Decoder, host string) ([]Path, error) {
	tok, err := token(d)
	if err != nil {
		return nil, fmt.Errorf("rules: site %q: %w", host, invalid(err))
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("rules: site %q: value %s is not an object of paths", host, describe(tok))
	}
	paths := []Path{}
	seen := make(map[string]bool)
	for {
		match, end, err := key(d)
		if err != nil {
			return nil, fmt.Errorf("rules: site %q: %w", host, invalid(err))
		}
		if end {
			return paths, nil
		}
		where := fmt.Sprintf("rules: site %q path %q", host, match)
		if seen[match] {
			return nil, errors.New(where + ": duplicate path")
		}
		seen[match] = true
		if _, err := CompilePattern(match); err != nil {
			return nil, fmt.Errorf("%s: invalid path pattern: %w", where, err)
		}
		tok, err := token(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, invalid(err))
		}
		maxAge, err := maxAgeOf(tok)
		if err != nil {
			return nil, fmt.Errorf("%s: value %s %w", where, describe(tok), err)
		}
		paths = append(paths, Path{Match: match, MaxAge: maxAge})
	}
}

// key reads an object key, or reports the end of the object.
func key(d *json.Decoder) (k string, end bool, err error) {
	tok, err := token(d)
	if err != nil {
		return "", false, err
	}
	if tok == json.Delim('}') {
		return "", true, nil
	}
	// The decoder checks the syntax: inside an object, a token that does not
	// end it is a key, and keys are strings.
	k, ok := tok.(string)
	if !ok {
		return "", false, fmt.Errorf("object key %s is not a string", describe(tok))
	}
	return k, false, nil
}

// invalid wraps an error of the JSON decoder.
func invalid(err error) error { return fmt.Errorf("invalid JSON: %w", err) }

// token is d.Token with an end of input inside the object reported as such.
func token(d *json.Decoder) (json.Token, error) {
	tok, err := d.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return tok, err
}

var (
	errNotMaxAge = errors.New("is not a number of seconds, true or false")
	errNegative  = errors.New("is negative; use false to never cache")
	errTooLarge  = errors.New("is more seconds than a time.Duration holds (about 292 years); use true to cache for ever")
	errTooFine   = errors.New("is finer than a nanosecond")
)

// maxAgeOf converts the JSON value of a path to its MaxAge.
func maxAgeOf(tok json.Token) (time.Duration, error) {
	switch v := tok.(type) {
	case bool:
		if v {
			return Forever, nil
		}
		return 0, nil
	case json.Number:
		return parseSeconds(string(v))
	}
	return 0, errNotMaxAge
}

// parseSeconds converts a JSON number of seconds to a Duration exactly:
// floating point would turn 0.3 into 299999999ns.
func parseSeconds(num string) (time.Duration, error) {
	s, neg := strings.CutPrefix(num, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			// Out of int range: any exponent beyond ±1e9 gives the same
			// answer, and the bound keeps the sums below from overflowing.
			e = 1e9
			if strings.HasPrefix(s[i+1:], "-") {
				e = -1e9
			}
		}
		exp = max(-1e9, min(e, 1e9))
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp += 9 - len(frac) // to nanoseconds
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	digits = trimmed
	// The value is now digits × 10^exp nanoseconds, digits without leading
	// or trailing zeros.
	switch {
	case digits == "":
		return 0, nil // zero, including -0 and 0e99
	case neg:
		return 0, errNegative
	case exp < 0:
		return 0, errTooFine
	case len(digits)+exp > 19: // 10^19 > math.MaxInt64
		return 0, errTooLarge
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, errNotMaxAge // only for input the decoder would not give
	}
	for range exp {
		n *= 10 // at most 19 digits in all: fits a uint64
	}
	if n > math.MaxInt64 {
		return 0, errTooLarge
	}
	return time.Duration(n), nil
}

// describe renders a JSON token for an error message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		switch v {
		case '{':
			return "{…}"
		case '[':
			return "[…]"
		}
		return string(v)
	case string:
		const limit = 64
		if len(v) > limit {
			return strconv.Quote(v[:limit]) + "…"
		}
		return strconv.Quote(v)
	}
	return fmt.Sprint(tok)
}

// MarshalJSON writes r in the JSON form that [ParseJSON] reads, in order:
// [Forever] as true, 0 as false and any other MaxAge as a number of seconds,
// with a fraction when it is not whole. It fails on what that form cannot
// hold: a negative MaxAge, a host twice, a path twice within its site.
// Nil rules are written as {}.
func (r Rules) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	hosts := make(map[string]bool, len(r))
	for i, s := range r {
		if hosts[s.Host] {
			return nil, fmt.Errorf("rules: site %d (%q): duplicate host; the JSON form holds a host once", i, s.Host)
		}
		hosts[s.Host] = true
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, s.Host)
		b.WriteString(":{")
		paths := make(map[string]bool, len(s.Paths))
		for j, p := range s.Paths {
			if paths[p.Match] {
				return nil, fmt.Errorf("rules: site %d (%q) path %d (%q): duplicate path; the JSON form holds a path once per site",
					i, s.Host, j, p.Match)
			}
			paths[p.Match] = true
			if p.MaxAge < 0 {
				return nil, fmt.Errorf("rules: site %d (%q) path %d (%q): negative MaxAge %v; use 0 to never cache",
					i, s.Host, j, p.Match, p.MaxAge)
			}
			if j > 0 {
				b.WriteByte(',')
			}
			writeString(&b, p.Match)
			b.WriteByte(':')
			b.WriteString(formatSeconds(p.MaxAge))
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads rules with [ParseJSON], so that Rules can be a field of
// a JSON configuration. A JSON null leaves r unchanged, as encoding/json
// expects.
func (r *Rules) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	parsed, err := ParseJSON(data)
	if err != nil {
		return err
	}
	*r = parsed
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// formatSeconds renders a non-negative MaxAge as its JSON value.
func formatSeconds(d time.Duration) string {
	switch {
	case d == Forever:
		return "true"
	case d == 0:
		return "false"
	}
	sec, ns := d/time.Second, d%time.Second
	if ns == 0 {
		return strconv.FormatInt(int64(sec), 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%09d", sec, ns), "0")
}
