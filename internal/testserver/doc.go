// Package testserver is a programmable HTTP origin for the tests, examples,
// benchmarks and the offline demo of throttlecache. It is not part of the
// API contract: it lives under internal/ and may change at any time.
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
