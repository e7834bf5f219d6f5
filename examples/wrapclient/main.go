// Command wrapclient shows how to put an existing http.Client, with its own
// timeout, cookie jar, redirect policy and transport, under a Manager's
// rate limit without changing the original client.
//
//	go run ./examples/wrapclient
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"os"
	"time"

	"github.com/throttlecache/throttlecache"
	"github.com/throttlecache/throttlecache/testing/testserver"
)

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// tagging is an existing transport of the application: it adds a header.
type tagging struct{ next http.RoundTripper }

func (t tagging) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-App", "billing")
	return t.next.RoundTrip(r)
}

func run(w io.Writer) error {
	srv := testserver.New()
	defer srv.Close()
	srv.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1"})
		http.Redirect(w, r, "/home", http.StatusFound)
	})
	srv.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		if err != nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "welcome, session %s, app %s", c.Value, r.Header.Get("X-App"))
	})

	jar, _ := cookiejar.New(nil)
	existing := &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: tagging{http.DefaultTransport}}

	m, err := throttlecache.New(throttlecache.Config{
		UserAgent:         "Example Corp admin@example.com",
		RequestsPerSecond: 5,
	})
	if err != nil {
		return err
	}
	defer m.Close()
	client := m.Wrap(existing) // same Timeout, Jar and CheckRedirect; existing is untouched

	resp, err := client.Get(srv.URL + "/login")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, string(body))
	for _, r := range srv.Requests() {
		fmt.Fprintf(w, "origin: %s %s, User-Agent %q\n", r.Method, r.Path, r.Header.Get("User-Agent"))
	}
	fmt.Fprintf(w, "requests through the Manager: %d\n", m.Stats().Requests)
	return nil
}
