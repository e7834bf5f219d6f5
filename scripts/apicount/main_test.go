package main

import (
	"slices"
	"testing"
)

func TestExported(t *testing.T) {
	got, err := exported("testdata/sample")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A", "F", "G", "G.Get", "I", "T", "T.M", "T.P", "V"}
	if !slices.Equal(got, want) {
		t.Fatalf("exported = %q, want %q", got, want)
	}
}

// TestRatelimitBudget keeps the ratelimit package within the 35 exported
// names its design allows (x/time/rate has 28).
func TestRatelimitBudget(t *testing.T) {
	got, err := exported("../../ratelimit")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ratelimit: %d exported names", len(got))
	if len(got) > 35 {
		t.Fatalf("ratelimit exports %d names, more than 35: %q", len(got), got)
	}
}
