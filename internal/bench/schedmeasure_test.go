package bench

import (
	"math"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// paced returns n times pace apart from t0, with the listed indexes left out.
func paced(n int, pace time.Duration, skip ...int) []time.Time {
	gone := map[int]bool{}
	for _, i := range skip {
		gone[i] = true
	}
	var out []time.Time
	for i := range n {
		if !gone[i] {
			out = append(out, t0.Add(time.Duration(i)*pace))
		}
	}
	return out
}

func TestUsedPaced(t *testing.T) {
	t.Parallel()
	pace := 204 * time.Millisecond
	if got := usedPaced(paced(26, pace), pace); math.Abs(got-1) > 1e-9 {
		t.Errorf("full pace: %v, want 1", got)
	}
	// One slot of 25 left empty in the middle: 24 intervals over 25 paces.
	if got := usedPaced(paced(26, pace, 12), pace); math.Abs(got-24.0/25) > 1e-9 {
		t.Errorf("one empty slot: %v, want 0.96", got)
	}
	if got := usedPaced(paced(1, pace), pace); got != 0 {
		t.Errorf("one call: %v, want 0", got)
	}
}

func TestUsedWindows(t *testing.T) {
	t.Parallel()
	span := 5100 * time.Millisecond
	pace := span / 25
	// 4 whole windows at full pace, then a call into the fifth.
	used, fewest, windows := usedWindows(paced(101, pace), span, 25)
	if windows != 4 || fewest != 25 || math.Abs(used-1) > 1e-9 {
		t.Errorf("full: used %v, fewest %d, windows %d; want 1, 25, 4", used, fewest, windows)
	}
	// Five slots missing from the second window.
	used, fewest, _ = usedWindows(paced(101, pace, 30, 31, 32, 33, 34), span, 25)
	if fewest != 20 || math.Abs(used-95.0/100) > 1e-9 {
		t.Errorf("a short window: used %v, fewest %d; want 0.95, 20", used, fewest)
	}
	if used, _, windows := usedWindows(paced(10, pace), span, 25); used != 0 || windows != 0 {
		t.Errorf("less than a window: used %v, windows %d; want 0, 0", used, windows)
	}
}

func TestLargestGap(t *testing.T) {
	t.Parallel()
	pace := 100 * time.Millisecond
	gap, at := largestGap(paced(10, pace, 4, 5))
	if gap != 3*pace || !at.Equal(t0.Add(3*pace)) {
		t.Errorf("largestGap = %s at %s, want 300ms at +300ms", gap, at.Sub(t0))
	}
}

func TestSchedPlan_WithinPaces(t *testing.T) {
	t.Parallel()
	p := newSchedPlan(false)
	pace := p.pace(25)
	if pace != 204*time.Millisecond {
		t.Fatalf("pace = %s, want 204ms", pace)
	}
	if !p.withinPaces(2*pace+p.tolerance(), 2, 25) || p.withinPaces(2*pace+p.tolerance()+time.Millisecond, 2, 25) {
		t.Errorf("withinPaces: 2 paces plus the tolerance (%s) is the edge", p.tolerance())
	}
	if lite := p.pace(2); lite != 2550*time.Millisecond {
		t.Errorf("Lite pace = %s, want 2.55s", lite)
	}
	if q := newSchedPlan(true); q.scaled(3*time.Second) != 600*time.Millisecond || q.pace(25) != 40800*time.Microsecond {
		t.Errorf("quick: scaled 3s = %s, pace %s", q.scaled(3*time.Second), q.pace(25))
	}
}

func TestMaxSentPerKey(t *testing.T) {
	t.Parallel()
	at := func(ms int, key string) sandbox.Call {
		return sandbox.Call{Time: t0.Add(time.Duration(ms) * time.Millisecond), Kind: sandbox.KindPush, KeyID: key}
	}
	// Three calls of key a within a second, and two of b: the keys' windows
	// are their own.
	calls := []sandbox.Call{at(0, "a"), at(100, "b"), at(500, "a"), at(900, "a"), at(950, "b"), at(1500, "a")}
	if got := maxSentPerKey(calls, time.Second); got != 3 {
		t.Errorf("maxSentPerKey = %d, want 3", got)
	}
}

func TestRateLimitedAnswers(t *testing.T) {
	t.Parallel()
	calls := []sandbox.Call{
		{Exception: leadsquared.RateLimitExceptionType},
		{Exception: leadsquared.RateLimitExceptionType, Fault: sandbox.FaultBurst429}, // injected: not the window's
		{Status: 200},
	}
	if got := rateLimitedAnswers(calls); got != 1 {
		t.Errorf("rateLimitedAnswers = %d, want 1", got)
	}
}

func TestRefPrefix(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]string{"c-12": "c", "watch-tx-3": "watch-tx", "plain": "plain"} {
		if got := refPrefix(ref); got != want {
			t.Errorf("refPrefix(%q) = %q, want %q", ref, got, want)
		}
	}
}
