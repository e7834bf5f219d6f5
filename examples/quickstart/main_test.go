package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 15); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"15 fetched, 0 failed", "busiest second at the origin: 10 requests"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
