package bench

import (
	"math"
	"slices"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// byTime sorts calls by arrival (the sandbox records a call once answered).
func byTime(calls []sandbox.Call) []sandbox.Call {
	slices.SortStableFunc(calls, func(a, b sandbox.Call) int { return a.Time.Compare(b.Time) })
	return calls
}

// isNotification reports whether a call is a notification (not a key check
// or another path).
func isNotification(c sandbox.Call) bool {
	return c.Kind == sandbox.KindSystem || c.Kind == sandbox.KindPush
}

// utilization is the share of the limit used while the backlog lasted, as
// internal/e2e measures it: from the first counted notification call to the
// last ref's first attempt (later calls are retries after the queue
// emptied), counted calls / (limit × elapsed / window). n calls span n-1
// intervals at full use. Calls must be in arrival order.
func utilization(calls []sandbox.Call, limit int, window time.Duration) float64 {
	firstTry := map[string]bool{}
	var start, end time.Time
	for _, c := range calls {
		if !c.Counted || !isNotification(c) {
			continue
		}
		if start.IsZero() {
			start = c.Time
		}
		if !firstTry[c.Ref] {
			firstTry[c.Ref] = true
			end = c.Time
		}
	}
	n := 0
	for _, c := range calls {
		if c.Counted && isNotification(c) && !c.Time.After(end) {
			n++
		}
	}
	if n < 2 || !end.After(start) {
		return 0
	}
	return float64(n-1) / (float64(limit) * end.Sub(start).Seconds() / window.Seconds())
}

// maxAttempts is the most calls to the API paths (answered 429 or not, key
// checks included) that arrived in any sliding window (t-window, t]: what a
// client sent, where the sandbox's MaxInWindow is what it let through.
func maxAttempts(calls []sandbox.Call, window time.Duration) int {
	var times []time.Time
	for _, c := range calls {
		if c.Kind != "" {
			times = append(times, c.Time)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi, t := range times {
		for !times[lo].After(t.Add(-window)) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// countedBetween counts the counted notification calls per access key (its
// KeyID) that arrived in [from, to).
func countedBetween(calls []sandbox.Call, from, to time.Time) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		if c.Counted && isNotification(c) && !c.Time.Before(from) && c.Time.Before(to) {
			out[c.KeyID]++
		}
	}
	return out
}

// acceptedBetween returns the arrival times of the delivered notifications
// between from and to, sorted.
func acceptedTimes(calls []sandbox.Call) []time.Time {
	var out []time.Time
	for _, c := range calls {
		if c.Accepted {
			out = append(out, c.Time)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// steadyRate is the delivery rate between the deliveries at the 10th and
// 90th percentiles: start-up and the tail of the drain left out.
func steadyRate(times []time.Time) float64 {
	if len(times) < 20 {
		return 0
	}
	lo, hi := len(times)/10, len(times)*9/10
	d := times[hi].Sub(times[lo]).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(hi-lo) / d
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median of ints.
func medianInt(v []int) int {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// gaps returns the time between consecutive counted notification calls.
func gaps(calls []sandbox.Call) []time.Duration {
	var out []time.Duration
	var prev time.Time
	for _, c := range calls {
		if !c.Counted || !isNotification(c) {
			continue
		}
		if !prev.IsZero() {
			out = append(out, c.Time.Sub(prev))
		}
		prev = c.Time
	}
	return out
}
