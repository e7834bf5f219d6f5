// Package rules decides, from the request's host and target, how long a
// response may be served from a cache without asking the origin again.
//
// Rules are ordered: a list of sites, each a regular expression on the host
// name with an ordered list of path rules, each a regular expression on the
// request target and a maximum age. They are the Go form of the
// site → path → seconds dictionaries of the Python package httpxthrottlecache
// and behave the same way:
//
//   - Patterns use Go's RE2 syntax and match at the start of the text, as
//     Python's re.match does: "/submissions" matches "/submissions/CIK1.json".
//     End a pattern with `$` to anchor its end too.
//   - The host pattern sees the lower-cased host name without a port; the
//     path pattern sees the escaped path, plus "?" and the query when the
//     request has one.
//   - The first site whose host pattern matches decides. Within it, the first
//     path rule whose pattern matches gives the answer. When none of its paths
//     match there is no rule for the request: later sites are not consulted.
//   - A MaxAge of 0 means "never cache"; [Forever] means "cache for ever,
//     never revalidate".
//
// Usage:
//
//	m, err := rules.Compile(rules.EDGAR)
//	if err != nil {
//		return err
//	}
//	maxAge, ok := m.Lookup("www.sec.gov", "/Archives/edgar/data/320193/")
//	// maxAge == rules.Forever, ok == true
//
// Rules also have a JSON form, {"site": {"path": seconds | true | false}},
// read by [ParseJSON] and written by [Rules.MarshalJSON].
package rules

import (
	"math"
	"slices"
	"time"
)

// Forever is the MaxAge of a response that stays fresh for ever and is never
// revalidated, such as an EDGAR filing, which the SEC never changes once
// published. It is true in the JSON form.
const Forever time.Duration = math.MaxInt64

// Rules is an ordered list of sites: for a request, the first site whose Host
// pattern matches decides (see the package documentation). The zero value,
// nil, has no rules: no request has a rule.
//
// Rules is plain data; compile it with [Compile] to look requests up. Rules
// is not safe for concurrent modification, but [Compile] copies it, so a
// [Matcher] never sees later changes.
type Rules []Site

// Site holds the path rules for the hosts that Host matches.
type Site struct {
	// Host is a regular expression (RE2 syntax) matched against the start of
	// the lower-cased host name, port excluded. Write it in lower case: a
	// literal upper-case letter never matches. The empty pattern matches
	// every host.
	Host string

	// Paths are tried in order; the first that matches gives the answer. A
	// site with no matching path gives no rule for the request.
	Paths []Path
}

// Path is one rule of a site: requests whose target matches Match may be
// served from a cache for up to MaxAge.
type Path struct {
	// Match is a regular expression (RE2 syntax) matched against the start
	// of the request target: the escaped path, followed by "?" and the raw
	// query when the request has one (see [Target]). The empty pattern
	// matches every target.
	Match string

	// MaxAge is how long a cached response stays fresh. 0 means never
	// cache; [Forever] means never revalidate. Negative values are invalid.
	MaxAge time.Duration
}

// EDGAR holds the cache rules for SEC EDGAR, the same as the original
// httpxthrottlecache's EDGAR_CACHE_RULES: on any host under sec.gov
// (www.sec.gov, data.sec.gov, efts.sec.gov, …),
//
//   - /submissions…, /include/ticker.txt… and /files/company_tickers.json…
//     are fresh for 10 minutes;
//   - any target containing "index/", such as the daily and full indexes
//     under /Archives/edgar/, is fresh for 30 minutes;
//   - any other /Archives/edgar/data… (filings, which never change) is
//     fresh for ever;
//   - everything else has no rule.
//
// As in the original, the host pattern `.*\.sec\.gov` does not match the bare
// host sec.gov, which therefore has no rule; and it is not anchored at the
// end, so it also matches hosts such as www.sec.gov.example.com.
//
// EDGAR is shared: do not modify it; use [Rules.Clone] to start from a copy.
var EDGAR = Rules{
	{
		Host: `.*\.sec\.gov`,
		Paths: []Path{
			{Match: `/submissions.*`, MaxAge: 10 * time.Minute},
			{Match: `/include/ticker\.txt.*`, MaxAge: 10 * time.Minute},
			{Match: `/files/company_tickers\.json.*`, MaxAge: 10 * time.Minute},
			{Match: `.*index/.*`, MaxAge: 30 * time.Minute},
			{Match: `/Archives/edgar/data`, MaxAge: Forever},
		},
	},
}

// Clone returns a deep copy of r, which can be changed without affecting r.
// The clone of nil is nil.
func (r Rules) Clone() Rules {
	c := slices.Clone(r)
	for i := range c {
		c[i].Paths = slices.Clone(c[i].Paths)
	}
	return c
}
