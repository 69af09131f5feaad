package bench

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// The figures of the scheduling scenarios, from the calls the sandbox
// recorded. A call "of an account" is one that counted against its access
// key's window: notifications and key checks alike (LeadSquared counts
// both, and notifyd books a slot for each).

// keyTimes returns the arrival times of the counted calls of one access key,
// sorted.
func keyTimes(calls []sandbox.Call, keyID string) []time.Time {
	var out []time.Time
	for _, c := range calls {
		if c.Counted && c.KeyID == keyID && c.Kind != "" {
			out = append(out, c.Time)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// refTimes returns the arrival times of the delivered notifications whose
// ref has the prefix, sorted (a ref delivered twice counts twice).
func refTimes(calls []sandbox.Call, prefix string) []time.Time {
	var out []time.Time
	for _, c := range calls {
		if c.Accepted && refPrefix(c.Ref) == prefix {
			out = append(out, c.Time)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// within returns the times in [from, to].
func within(ts []time.Time, from, to time.Time) []time.Time {
	var out []time.Time
	for _, t := range ts {
		if !t.Before(from) && !t.After(to) {
			out = append(out, t)
		}
	}
	return out
}

// usedPaced is the share of the limit that n calls used from the first to
// the last: (n-1)·pace / (last-first); n calls span n-1 paces at full use.
// It is 0 for fewer than 2 calls.
func usedPaced(ts []time.Time, pace time.Duration) float64 {
	if len(ts) < 2 || !ts[len(ts)-1].After(ts[0]) {
		return 0
	}
	return float64(len(ts)-1) * float64(pace) / float64(ts[len(ts)-1].Sub(ts[0]))
}

// usedWindows is the share of the limit used over whole windows: the span
// from the first call to the last is cut into consecutive windows of span
// (the window plus notifyd's margin), and the calls of the whole ones are
// divided by calls per window × their number. It also returns the fewest
// calls of any whole window and how many there were.
func usedWindows(ts []time.Time, span time.Duration, calls int) (used float64, fewest, windows int) {
	if len(ts) < 2 {
		return 0, 0, 0
	}
	first := ts[0]
	windows = int(ts[len(ts)-1].Sub(first) / span)
	if windows == 0 {
		return 0, 0, 0
	}
	counts := make([]int, windows)
	for _, t := range ts {
		if k := int(t.Sub(first) / span); k < windows {
			counts[k]++
		}
	}
	total := 0
	fewest = counts[0]
	for _, n := range counts {
		total += n
		fewest = min(fewest, n)
	}
	return float64(total) / float64(calls*windows), fewest, windows
}

// largestGap is the longest time between consecutive times, and when it
// began.
func largestGap(ts []time.Time) (time.Duration, time.Time) {
	var best time.Duration
	var at time.Time
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > best {
			best, at = d, ts[i-1]
		}
	}
	return best, at
}

// maxSentPerKey is the most calls any one access key sent in a sliding
// window (t-window, t], 429s included: what LeadSquared would have seen.
func maxSentPerKey(calls []sandbox.Call, window time.Duration) int {
	byKey := map[string][]sandbox.Call{}
	for _, c := range calls {
		if c.Kind != "" && c.KeyID != "" {
			byKey[c.KeyID] = append(byKey[c.KeyID], c)
		}
	}
	best := 0
	for _, cs := range byKey {
		best = max(best, maxAttempts(cs, window))
	}
	return best
}

// rateLimitedAnswers counts the rate-limit answers the window gave, not
// the ones a scenario injected (sandbox.FaultBurst429).
func rateLimitedAnswers(calls []sandbox.Call) int {
	n := 0
	for _, c := range calls {
		if c.Exception == leadsquared.RateLimitExceptionType && c.Fault != sandbox.FaultBurst429 {
			n++
		}
	}
	return n
}

// checks are what every scheduling run must show: no 429, no window over
// the limit at the sandbox, every notification delivered exactly once.
type checks struct {
	limited int // 429 answers (an injected one excluded)
	maxSent int // most calls one account sent in any window, 429s included
	missing int // notifications enqueued and never delivered
	dups    int // refs delivered more than once
}

// check computes the run's checks from the sandbox's records.
func (r *schedRun) check(calls []sandbox.Call) checks {
	st := r.st.lsq.Stats()
	c := checks{limited: rateLimitedAnswers(calls), maxSent: maxSentPerKey(calls, r.p.window), dups: len(st.DuplicateRefs)}
	r.mu.Lock()
	defer r.mu.Unlock()
	for prefix, n := range r.expect {
		c.missing += max(n-r.tally.byPrefix[prefix], 0)
	}
	return c
}

// checkRows shows the checks of a case, project beside baseline. dupsText,
// when set, replaces the target of the duplicates (the kill scenarios allow
// the calls in flight at the kill).
func checkRows(kase string, p, b checks, limit int, window time.Duration, dupsOK bool, dupsTarget string) []Row {
	dupsMet := p.dups == 0
	if dupsTarget == "" {
		dupsTarget = "0"
	} else {
		dupsMet = dupsOK
	}
	return []Row{
		row(kase, "429 answers", "", float64(p.limited), float64(b.limited)).target("0", p.limited == 0),
		row(kase, fmt.Sprintf("most calls one account sent in any %s window (429s included)", window), "", float64(p.maxSent), float64(b.maxSent)).
			target(fmt.Sprintf("≤ %d", limit), p.maxSent <= limit),
		row(kase, "notifications never delivered", "", float64(p.missing), float64(b.missing)).target("0", p.missing == 0),
		row(kase, "notifications delivered twice", "", float64(p.dups), float64(b.dups)).target(dupsTarget, dupsMet),
	}
}

// paces shows a duration in paces.
func paces(d, pace time.Duration) float64 { return float64(d) / float64(pace) }

// gapRow shows the largest gaps in paces, to two decimals, with the target
// of at most k paces (plus the limiter's tolerance: see schedPlan.tolerance).
func gapRow(kase, metric string, p, b time.Duration, pace time.Duration, plan schedPlan, k, calls int, withTarget bool) Row {
	r := row(kase, metric, "", paces(p, pace), paces(b, pace))
	r.ProjectText = strconv.FormatFloat(paces(p, pace), 'f', 2, 64)
	r.BaselineText = strconv.FormatFloat(paces(b, pace), 'f', 2, 64)
	if withTarget {
		r = r.target(fmt.Sprintf("≤ %d (+ %s)", k, plan.tolerance()), plan.withinPaces(p, k, calls))
	}
	return r
}

// sinceMS is to - from in ms, or NaN when to is zero (it never happened).
func sinceMS(from, to time.Time) float64 {
	if to.IsZero() {
		return none
	}
	return ms(to.Sub(from))
}
