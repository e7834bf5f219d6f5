package rules

import (
	"fmt"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"time"
)

// A Matcher looks requests up in compiled [Rules]. Build one with [Compile].
//
// A Matcher is immutable and safe for concurrent use. A nil *Matcher, like
// the zero Matcher, has no rules: every lookup reports no rule.
type Matcher struct {
	rules Rules // a private copy, for [Matcher.Rules]
	sites []site
	memo  memo
}

// memo keeps a Matcher's recent answers, which never change, so that a
// request looked up again (every cache hit is one) costs a map lookup
// instead of regular-expression matching: about 4 µs for an EDGAR filing
// on 2 cores, as much as the rest of a cache hit. It keeps up to memoMax
// answers for keys of up to memoKeyMax bytes, so at most 4 MiB of keys,
// and starts afresh when full: no bookkeeping per lookup, and a working
// set larger than memoMax only falls back to matching.
type memo struct {
	mu sync.RWMutex
	m  map[memoKey]answer
}

type memoKey struct{ host, target string }

type answer struct {
	maxAge time.Duration
	ok     bool
}

const (
	memoMax    = 4096
	memoKeyMax = 1 << 10
)

type site struct {
	host  *regexp.Regexp
	paths []path
}

type path struct {
	match  *regexp.Regexp
	maxAge time.Duration
}

// Compile checks r and compiles it into a [Matcher].
//
// It reports an error naming the site, and the path where there is one, when
// a pattern is not a valid Go regular expression (the error wraps the
// regexp package's *syntax.Error) or a MaxAge is negative. Compile keeps a
// copy of r: changing r afterwards does not change the Matcher.
func Compile(r Rules) (*Matcher, error) {
	m := &Matcher{rules: r.Clone(), sites: make([]site, len(r))}
	for i, s := range r {
		host, err := CompilePattern(s.Host)
		if err != nil {
			return nil, fmt.Errorf("rules: site %d host pattern %q: %w", i, s.Host, err)
		}
		m.sites[i] = site{host: host, paths: make([]path, len(s.Paths))}
		for j, p := range s.Paths {
			if p.MaxAge < 0 {
				return nil, fmt.Errorf("rules: site %d (%q) path %d (%q): negative MaxAge %v; use 0 to never cache",
					i, s.Host, j, p.Match, p.MaxAge)
			}
			match, err := CompilePattern(p.Match)
			if err != nil {
				return nil, fmt.Errorf("rules: site %d (%q) path %d pattern %q: %w", i, s.Host, j, p.Match, err)
			}
			m.sites[i].paths[j] = path{match: match, maxAge: p.MaxAge}
		}
	}
	return m, nil
}

// MustCompile is like [Compile] but panics if r is invalid. It is meant for
// rules written in the program itself, such as [EDGAR], in package-level
// variables; rules read from a file or from a user belong in [Compile].
func MustCompile(r Rules) *Matcher {
	m, err := Compile(r)
	if err != nil {
		panic(err)
	}
	return m
}

// CompilePattern compiles p so that it matches only at the start of the
// text, as Python's re.match does and as every host and path pattern of this
// module does (rules, per-host limits, the retry stage's block hosts). Add
// `$` to anchor the end. The error quotes p as the user wrote it.
func CompilePattern(p string) (*regexp.Regexp, error) {
	// Parse p on its own first: the error then quotes the user's pattern,
	// and a valid p cannot close the group we wrap it in early.
	if _, err := syntax.Parse(p, syntax.Perl); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(`^(?:` + p + `)`)
	if err != nil {
		// A valid p can end inside \Q…, which would swallow our `)`; close
		// the quote first. For any other p the retry fails on the stray \E.
		var err2 error
		if re, err2 = regexp.Compile(`^(?:` + p + `\E)`); err2 == nil {
			return re, nil
		}
		return nil, err
	}
	return re, nil
}

// Lookup reports how long a response for target on host may be served from
// a cache: ok is false when no rule applies, maxAge is 0 when the rule says
// never to cache and [Forever] when it says never to revalidate.
//
// host may carry a port and upper-case letters, as url.URL.Host does
// ("WWW.SEC.GOV:443", "[::1]:8080", "[::1]" or a bare IPv6 address "::1");
// Lookup strips the port, the brackets and one trailing dot and lower-cases
// it before matching. target is the escaped path, followed by "?" and the
// raw query when there is one; [Target] builds it from a URL.
//
// The first site whose host pattern matches decides; within it, the first
// path whose pattern matches gives the answer. When none of that site's
// paths match, there is no rule: later sites are not consulted, as in the
// original.
//
// Lookup remembers its recent answers (see memo); a repeated lookup does
// not allocate unless host needs lower-casing.
func (m *Matcher) Lookup(host, target string) (maxAge time.Duration, ok bool) {
	if m == nil {
		return 0, false
	}
	host = strings.ToLower(hostname(host))
	k := memoKey{host, target}
	m.memo.mu.RLock()
	a, hit := m.memo.m[k]
	m.memo.mu.RUnlock()
	if hit {
		return a.maxAge, a.ok
	}
	a.maxAge, a.ok = m.match(host, target)
	if len(host)+len(target) <= memoKeyMax {
		// Copies: the caller's strings may share memory with a longer
		// one, such as a URL with a long fragment.
		k = memoKey{strings.Clone(host), strings.Clone(target)}
		m.memo.mu.Lock()
		if len(m.memo.m) >= memoMax || m.memo.m == nil {
			m.memo.m = make(map[memoKey]answer)
		}
		m.memo.m[k] = a
		m.memo.mu.Unlock()
	}
	return a.maxAge, a.ok
}

// match is Lookup for a normalised host, without the memo.
func (m *Matcher) match(host, target string) (time.Duration, bool) {
	for i := range m.sites {
		s := &m.sites[i]
		if !s.host.MatchString(host) {
			continue
		}
		for j := range s.paths {
			if s.paths[j].match.MatchString(target) {
				return s.paths[j].maxAge, true
			}
		}
		return 0, false
	}
	return 0, false
}

// LookupURL is [Matcher.Lookup] for a request URL: it looks up u.Host and
// [Target](u). A nil u has no rule. When a request's URL has no host, look
// up the request's Host field with [Matcher.Lookup] instead.
func (m *Matcher) LookupURL(u *url.URL) (maxAge time.Duration, ok bool) {
	if m == nil || u == nil {
		return 0, false
	}
	return m.Lookup(u.Host, Target(u))
}

// Rules returns a copy of the rules m was compiled from; nil for a nil or
// zero Matcher.
func (m *Matcher) Rules() Rules {
	if m == nil {
		return nil
	}
	return m.rules.Clone()
}

// Target returns the request target that path patterns match: u's path as
// it is sent on the wire (u.EscapedPath(), which keeps the original
// percent-encoding; "/" when empty), followed by "?" and u.RawQuery when the
// URL has a query. This is what the original matched (httpx's URL.target).
// The fragment is never part of it.
func Target(u *url.URL) string {
	var p string
	if u.Opaque != "" {
		p = u.Opaque
		// An opaque "//host/path" still carries the path after the host.
		if rest, ok := strings.CutPrefix(p, "//"); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				p = rest[i:]
			} else {
				p = "/"
			}
		}
	} else if p = u.EscapedPath(); p == "" {
		p = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		return p + "?" + u.RawQuery
	}
	return p
}

// Hostname returns the host name that host patterns match: hostport
// lower-cased, without port, IPv6 brackets or one trailing dot.
// "WWW.SEC.GOV:443" becomes "www.sec.gov", "[::1]:80" "::1". Unlike
// url.URL.Hostname it leaves a bare IPv6 address such as "::1" whole instead
// of taking its last group for a port.
func Hostname(hostport string) string {
	return strings.ToLower(hostname(hostport))
}

// hostname is Hostname without the lower-casing.
func hostname(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}
