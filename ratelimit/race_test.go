//go:build race

package ratelimit

// raceEnabled reports a build with the race detector, whose slowdown makes
// an in-process Redis too slow to measure a sustained rate against.
const raceEnabled = true
