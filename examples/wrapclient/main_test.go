package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"welcome, session s1, app billing",
		`origin: GET /login, User-Agent "Example Corp admin@example.com"`,
		`origin: GET /home, User-Agent "Example Corp admin@example.com"`,
		"requests through the Manager: 2",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
