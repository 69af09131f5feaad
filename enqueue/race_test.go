//go:build race

package enqueue_test

// raceEnabled shrinks the slowest tests under the race detector.
const raceEnabled = true
