package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// stopCase is one case of 9c: a backlog drains through 3 processes while
// some of them are stopped cleanly (SIGTERM) and maybe restarted.
type stopCase struct {
	name  string
	calls int // per window
	lines int
	// stops[i] is how many deliveries come before process i is stopped.
	stops []int
	// restart is how long after a stopped process exited a new one starts
	// in its place (<0: none).
	restart time.Duration
	// windows measures the use over whole windows, else by pace.
	windows bool
	target  float64
}

// stopRun is what one run of a stopCase measured.
type stopRun struct {
	used           float64 // share of the limit used during the drain
	fewest, wins   int     // over whole windows: the fewest calls of one, and how many
	gap            time.Duration
	gapAfterSignal time.Duration // when the largest gap began, after the first SIGTERM
	exits          []time.Duration
	checks         checks
}

// schedStops is scenario 9c: clean stops mid-drain.
func schedStops(ctx context.Context, h *harness, res *Result) error {
	p := newSchedPlan(h.opt.quick)
	cases := []stopCase{
		{name: fmt.Sprintf("Lite %s, 3 × 8, %d lines, 1 stopped and restarted %s later", p.rate(p.lite), p.liteLines, p.liteRestart),
			calls: p.lite, lines: p.liteLines, stops: []int{p.liteStopAfter}, restart: p.liteRestart, target: 0.90},
		{name: fmt.Sprintf("%s, 3 × 8, %d lines, 1 stopped", p.rate(p.enterprise), p.oneLines),
			calls: p.enterprise, lines: p.oneLines, stops: []int{p.oneStopAfter}, restart: -1, windows: true, target: 0.97},
		{name: fmt.Sprintf("%s, 3 × 8, %d lines, rolling restart of all 3", p.rate(p.enterprise), p.rollLines),
			calls: p.enterprise, lines: p.rollLines, stops: p.rollStops, restart: 0, windows: true, target: 0.97},
	}
	res.Setup = fmt.Sprintf("One account; its campaign is queued and 3 notifyd processes × 8 workers drain it (margin %s, NOTIFYD_SHUTDOWN_TIMEOUT 3s). "+
		"Lite: after %d deliveries process 1 gets SIGTERM, and %s after it exited a new one starts in its place. %s: after %d deliveries process 1 gets SIGTERM, and the "+
		"other two finish. Rolling: processes 1, 2 and 3 get SIGTERM after %s deliveries, each replaced as soon as it exited. "+
		"Use is over the account's calls (notifications and the key check each notifyd makes at its start: LeadSquared counts both) from the first notification to the "+
		"last: for Lite (n−1)·pace / (last−first), pace %s; at %s over whole windows: the drain is cut into windows of window + margin (%s) from its first call, "+
		"and the calls of the whole ones are divided by %d × their number. "+
		"A gap is the time between consecutive calls of the account; \"≤ 2 paces\" allows the limiter's tolerance on top (%s: a call may leave that late after its slot). "+
		"Baseline: NOTIFYD_SCHEDULER=fifo, where every worker holds a task and books its slot after the latest booking, however far.",
		p.margin, p.liteStopAfter, p.liteRestart, p.rate(p.enterprise), p.oneStopAfter, joinInts(p.rollStops), p.pace(p.lite),
		p.rate(p.enterprise), p.span(), p.enterprise, p.tolerance())
	type result struct{ pr, br stopRun }
	results := make([]*result, len(cases))
	idx := make([]int, len(cases))
	for i := range idx {
		idx[i] = i
	}
	err := each(h, idx, func(i int) error {
		pr, br, err := pair(h, schedFair, schedFIFO, func(mode string) (stopRun, error) { return h.stopRun(ctx, mode, cases[i]) })
		if err != nil {
			return fmt.Errorf("%s: %w", cases[i].name, err)
		}
		results[i] = &result{pr, br}
		return nil
	})
	for i, c := range cases {
		if results[i] == nil {
			continue
		}
		pr, br := results[i].pr, results[i].br
		pace := p.pace(c.calls)
		how := "used (whole windows)"
		if !c.windows {
			how = "used (by pace)"
		}
		gap := gapRow(c.name, "largest gap between the account's calls, in paces", pr.gap, br.gap, pace, p, 2, c.calls, !c.windows)
		res.Rows = append(res.Rows,
			row(c.name, "share of the limit "+how, "%", pr.used, br.used).target(fmt.Sprintf("≥ %.0f%%", 100*c.target), pr.used >= c.target),
			gap)
		res.Rows = append(res.Rows, checkRows(c.name, pr.checks, br.checks, c.calls, p.window, false, "")...)
		for _, x := range []struct {
			side string
			r    stopRun
		}{{"project", pr}, {"baseline", br}} {
			note := fmt.Sprintf("%s, %s: largest gap %s, at %s from the first SIGTERM; the stopped processes exited %s after their signal.",
				c.name, x.side, x.r.gap.Round(time.Millisecond), x.r.gapAfterSignal.Round(100*time.Millisecond), joinDurations(x.r.exits))
			if c.windows {
				note += fmt.Sprintf(" Fewest calls in one of the %d whole windows: %d.", x.r.wins, x.r.fewest)
			}
			res.Notes = append(res.Notes, note)
		}
	}
	return err
}

func (h *harness) stopRun(ctx context.Context, mode string, c stopCase) (stopRun, error) {
	var out stopRun
	p := newSchedPlan(h.opt.quick)
	r, err := h.newSchedRun(ctx, "stops", mode, schedAccounts(1), c.calls, 8, nil)
	if err != nil {
		return out, err
	}
	defer r.close()
	a := schedAccounts(1)[0]
	if err := r.campaign(ctx, "drain", "c", c.lines, a); err != nil {
		return out, err
	}
	if err := r.spawn(ctx, 3); err != nil {
		return out, err
	}
	deadline := time.Now().Add(p.drainTime(c.lines, c.calls))
	var firstSignal time.Time
	for i, k := range c.stops {
		if ok, err := r.waitDelivered(ctx, "c", k, time.Until(deadline)); err != nil || !ok {
			return out, fmt.Errorf("only %d of %d deliveries before stop %d (%v)", r.tally.delivered("c"), k, i+1, err)
		}
		at := r.stop(i)
		out.exits = append(out.exits, time.Since(at))
		if firstSignal.IsZero() {
			firstSignal = at
		}
		h.logf("stops: %s: process %d stopped after %d deliveries (exit took %s)", mode, i+1, r.tally.delivered("c"), time.Since(at).Round(time.Millisecond))
		if c.restart >= 0 {
			if err := sleep(ctx, c.restart); err != nil {
				return out, err
			}
			if err := r.restart(ctx, i); err != nil {
				return out, err
			}
		}
	}
	if _, err := r.waitDelivered(ctx, "c", c.lines, time.Until(deadline)); err != nil {
		return out, err
	}
	calls := byTime(r.st.lsq.Calls())
	out.checks = r.check(calls)
	nt := refTimes(calls, "c")
	if len(nt) < 2 {
		return out, fmt.Errorf("only %d deliveries", len(nt))
	}
	ts := within(keyTimes(calls, r.keyIDs[a]), nt[0], nt[len(nt)-1])
	if c.windows {
		out.used, out.fewest, out.wins = usedWindows(ts, p.span(), c.calls)
	} else {
		out.used = usedPaced(ts, p.pace(c.calls))
	}
	var gapAt time.Time
	out.gap, gapAt = largestGap(ts)
	out.gapAfterSignal = gapAt.Sub(firstSignal)
	h.logf("stops: %s: %s: used %.1f%%, largest gap %s, %+v", mode, c.name, 100*out.used, out.gap, out.checks)
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

func joinDurations(v []time.Duration) string {
	s := make([]string, len(v))
	for i, d := range v {
		s[i] = d.Round(10 * time.Millisecond).String()
	}
	return strings.Join(s, ", ")
}
