//go:build !race

package enqueue_test

const raceEnabled = false
