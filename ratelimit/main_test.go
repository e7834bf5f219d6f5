package ratelimit

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// childEnv selects what a re-executed test binary does: the multi-process
// tests start copies of this binary as the processes they need.
const childEnv = "RATELIMIT_TEST_CHILD"

// quiet drops go-redis's own log lines (failed dials while a test has
// stopped the server on purpose).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
