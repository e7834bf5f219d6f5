package ratelimit

import (
	"fmt"
	"os"
	"testing"
)

// childEnv selects what a re-executed test binary does: the multi-process
// tests start copies of this binary as the processes they need.
const childEnv = "RATELIMIT_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
