package storetest

import (
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
)

// EnvRedis names a real Redis server (host:port) for the tests.
const EnvRedis = "THROTTLECACHE_TEST_REDIS"

// RedisAddr returns the address of the Redis server named by the
// environment or, without one, of an in-process miniredis that lives as
// long as t, which it returns too (nil for a real server): a miniredis
// lets keys expire only when told to (FastForward). Under CI=true a
// missing real server fails t. Tests on a shared server must use keys of
// their own.
func RedisAddr(t testing.TB) (string, *miniredis.Miniredis) {
	t.Helper()
	if addr := os.Getenv(EnvRedis); addr != "" {
		return addr, nil
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s is empty: CI must test against a real Redis server", EnvRedis)
	}
	t.Logf("no real Redis server (%s is empty): using an in-process miniredis", EnvRedis)
	m := miniredis.RunT(t)
	return m.Addr(), m
}
