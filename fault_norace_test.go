//go:build !race

package throttlecache

// raceEnabled reports a build with the race detector, whose slowdown
// stretches timings that some fault tests measure.
const raceEnabled = false
