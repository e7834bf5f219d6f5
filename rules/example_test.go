package rules_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/url"
	"time"

	"github.com/throttlecache/throttlecache/rules"
)

func ExampleCompile() {
	m, err := rules.Compile(rules.Rules{
		{Host: `api\.example\.com`, Paths: []rules.Path{
			{Match: `/v1/live`, MaxAge: 0},                // never cache
			{Match: `/v1/`, MaxAge: 5 * time.Minute},      // start-anchored: any /v1/… target
			{Match: `/static/.*\.js$`, MaxAge: time.Hour}, // `$` anchors the end too
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, target := range []string{"/v1/users?page=2", "/v1/live/feed", "/static/app.js", "/static/app.js.map", "/v2/users"} {
		maxAge, ok := m.Lookup("API.example.com:443", target)
		fmt.Println(target, maxAge, ok)
	}
	// Output:
	// /v1/users?page=2 5m0s true
	// /v1/live/feed 0s true
	// /static/app.js 1h0m0s true
	// /static/app.js.map 0s false
	// /v2/users 0s false
}

func ExampleCompile_error() {
	_, err := rules.Compile(rules.Rules{{Host: `([a-z`}})
	fmt.Println(err)
	// Output:
	// rules: site 0 host pattern "([a-z": error parsing regexp: missing closing ]: `[a-z`
}

func ExampleMatcher_Lookup() {
	m := rules.MustCompile(rules.EDGAR)
	maxAge, ok := m.Lookup("www.sec.gov", "/Archives/edgar/data/320193/000032019323000106/aapl-20230930.htm")
	fmt.Println(maxAge == rules.Forever, ok)
	// Output:
	// true true
}

func ExampleMatcher_LookupURL() {
	m := rules.MustCompile(rules.EDGAR)
	u, err := url.Parse("https://data.sec.gov/submissions/CIK0000320193.json")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.LookupURL(u))
	// Output:
	// 10m0s true
}

func ExampleTarget() {
	u, err := url.Parse("https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK=0000320193#top")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rules.Target(u))
	// Output:
	// /cgi-bin/browse-edgar?action=getcompany&CIK=0000320193
}

func ExampleEDGAR() {
	m := rules.MustCompile(rules.EDGAR)
	for _, u := range []string{
		"https://www.sec.gov/Archives/edgar/data/320193/000032019323000106/aapl-20230930.htm",
		"https://data.sec.gov/submissions/CIK0000320193.json",
		"https://www.sec.gov/files/company_tickers.json",
		"https://www.sec.gov/Archives/edgar/daily-index/2024/QTR1/",
		"https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany",
		"https://sec.gov/Archives/edgar/data/320193/",
	} {
		parsed, err := url.Parse(u)
		if err != nil {
			log.Fatal(err)
		}
		switch maxAge, ok := m.LookupURL(parsed); {
		case !ok:
			fmt.Println("no rule   ", u)
		case maxAge == rules.Forever:
			fmt.Println("forever   ", u)
		default:
			fmt.Printf("%-10v %s\n", maxAge, u)
		}
	}
	// Output:
	// forever    https://www.sec.gov/Archives/edgar/data/320193/000032019323000106/aapl-20230930.htm
	// 10m0s      https://data.sec.gov/submissions/CIK0000320193.json
	// 10m0s      https://www.sec.gov/files/company_tickers.json
	// 30m0s      https://www.sec.gov/Archives/edgar/daily-index/2024/QTR1/
	// no rule    https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany
	// no rule    https://sec.gov/Archives/edgar/data/320193/
}

func ExampleParseJSON() {
	// Order matters: /docs/live must come before /docs to be seen.
	r, err := rules.ParseJSON([]byte(`{
		"www\\.example\\.com": {
			"/docs/live": false,
			"/docs": 3600,
			"/assets/": true
		},
		".*\\.example\\.com": {"/": 60.5}
	}`))
	if err != nil {
		log.Fatal(err)
	}
	m, err := rules.Compile(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Lookup("www.example.com", "/docs/intro"))
	fmt.Println(m.Lookup("www.example.com", "/docs/live/status"))
	fmt.Println(m.Lookup("www.example.com", "/news"))
	fmt.Println(m.Lookup("cdn.example.com", "/img/logo.png"))
	// Output:
	// 1h0m0s true
	// 0s true
	// 0s false
	// 1m0.5s true
}

func ExampleParseJSON_error() {
	_, err := rules.ParseJSON([]byte(`{"www\\.example\\.com": {"/docs/": "1h"}}`))
	fmt.Println(err)
	// Output:
	// rules: site "www\\.example\\.com" path "/docs/": value "1h" is not a number of seconds, true or false
}

func ExampleRules_MarshalJSON() {
	b, err := json.Marshal(rules.EDGAR)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output:
	// {".*\\.sec\\.gov":{"/submissions.*":600,"/include/ticker\\.txt.*":600,"/files/company_tickers\\.json.*":600,".*index/.*":1800,"/Archives/edgar/data":true}}
}
