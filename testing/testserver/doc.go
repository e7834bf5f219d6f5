// Package testserver is a programmable HTTP origin for the tests, examples,
// benchmarks and the offline demo of throttlecache. It is a harness, not
// part of the API contract, and may change at any time. It lives under
// testing/, not internal/, which holds only code the library itself runs:
// the root's tests and every package's reach it from anywhere in the
// module, and so can the tests of programs built on throttlecache that
// want an origin with validators, rate counts and broken responses.
//
// The command-line tool's demo serves its "filings" from a Server with
// Generated bodies: the demo then shows exactly what the tests check, with
// no second origin to keep in step. The tool imports nothing else from
// here, and the linker keeps only what the demo calls.
//
// A [Server] listens on loopback only, routes exact paths and prefixes to
// ordinary [http.Handler] values, counts every arrival and keeps a log with
// arrival times taken before anything else happens, so that rate-limit tests
// can measure what reached the origin. The package also offers handlers that
// model the origins a client meets in practice: a [Resource] with validators
// and 304s, [Generated] bodies of any size, slow, short, reset and chunked
// responses, fixed statuses and sequences.
//
// The package does not import "testing": it runs in ordinary programs too.
// Anything with Helper and Errorf methods, such as *testing.T, is a [TB].
//
//	srv := testserver.New()
//	defer srv.Close()
//	page := testserver.NewResource([]byte("hello"),
//		testserver.WithHeader("Cache-Control", "max-age=60"))
//	srv.Handle("/page", page)
//	srv.Handle("/big", testserver.Generated(1<<30, 1))
//	srv.Handle("/busy", testserver.Status(429, "slow down", "Retry-After", "2"))
//
//	resp, err := http.Get(srv.URL + "/page")
//	// ...
//	fmt.Println(srv.Hits("/page"), page.ETag())
//
// Everything in the package is safe for concurrent use.
package testserver
