package bench

import (
	"context"
	"fmt"
	"time"
)

// shareRun is one run of 9a or 9b: a backlog drains, and a short batch
// (another account's, or another campaign's) comes a little later.
type shareRun struct {
	first, last time.Duration // the batch's first and last delivery after its enqueue (-1: not all arrived)
	got         int           // of the batch, delivered
	used        float64       // 9a: A's share of its own limit meanwhile
	share       float64       // 9b: X's share of the account's calls meanwhile
	checks      checks
}

// schedBurst is scenario 9a: account B's short batch while account A's
// backlog drains, on one notifyd.
func schedBurst(ctx context.Context, h *harness, res *Result) error {
	p := newSchedPlan(h.opt.quick)
	res.Setup = fmt.Sprintf("Accounts A and B (own keys, each %s on the sandbox, margin %s); A's %d-line campaign is queued, 1 notifyd × 10 workers starts, "+
		"and %s after A's first call B enqueues a %d-line campaign. Times are from B's enqueue call to the arrival of B's first and last line at the sandbox; "+
		"A's use = (n−1)·pace / (last−first) over A's calls from B's enqueue to B's last line (pace = (window + margin)/calls = %s). "+
		"Baseline: NOTIFYD_SCHEDULER=fifo, the bulk lane as one FIFO line (B's lines behind A's), workers waiting for their account's slot however long.",
		p.rate(p.enterprise), p.margin, p.burstA, p.burstDelay, p.burstB, p.pace(p.enterprise))
	pr, br, err := pair(h, schedFair, schedFIFO, func(mode string) (shareRun, error) { return h.shareRun(ctx, mode, true) })
	if err != nil {
		return err
	}
	kase := fmt.Sprintf("A %d queued, B %d after %s", p.burstA, p.burstB, p.burstDelay)
	res.Rows = append(res.Rows,
		durRow(kase, "B's first call after its enqueue", pr.first, br.first).target("≤ "+p.scaled(3*time.Second).String(), pr.first >= 0 && pr.first <= p.scaled(3*time.Second)),
		durRow(kase, fmt.Sprintf("B's %d calls done after its enqueue", p.burstB), pr.last, br.last).target("≤ "+p.scaled(8*time.Second).String(), pr.last >= 0 && pr.last <= p.scaled(8*time.Second)),
		row(kase, "A's use of its limit meanwhile", "%", pr.used, br.used).target("≥ 85%", pr.used >= 0.85),
	)
	res.Rows = append(res.Rows, checkRows(kase, pr.checks, br.checks, p.enterprise, p.window, false, "")...)
	return nil
}

// schedCampaigns is scenario 9b: campaign Y's short batch while campaign
// X's backlog of the same account drains.
func schedCampaigns(ctx context.Context, h *harness, res *Result) error {
	p := newSchedPlan(h.opt.quick)
	res.Setup = fmt.Sprintf("One account at %s (margin %s): campaign X's %d lines are queued, 1 notifyd × 10 workers starts, and %s after X's first call "+
		"campaign Y (weight 1, as X) enqueues %d lines. Times are from Y's enqueue call to the arrival of Y's first and last line; X's share = X's calls / "+
		"the account's notification calls from Y's enqueue to Y's last line. Baseline: NOTIFYD_SCHEDULER=fifo (Y's lines behind X's).",
		p.rate(p.enterprise), p.margin, p.campX, p.burstDelay, p.campY)
	pr, br, err := pair(h, schedFair, schedFIFO, func(mode string) (shareRun, error) { return h.shareRun(ctx, mode, false) })
	if err != nil {
		return err
	}
	kase := fmt.Sprintf("X %d queued, Y %d after %s", p.campX, p.campY, p.burstDelay)
	res.Rows = append(res.Rows,
		durRow(kase, "Y's first call after its enqueue", pr.first, br.first).target("≤ "+p.scaled(3*time.Second).String(), pr.first >= 0 && pr.first <= p.scaled(3*time.Second)),
		durRow(kase, fmt.Sprintf("Y's %d calls done after its enqueue", p.campY), pr.last, br.last).target("≤ "+p.scaled(12*time.Second).String(), pr.last >= 0 && pr.last <= p.scaled(12*time.Second)),
		row(kase, "X's share of the calls meanwhile", "%", pr.share, br.share).target("≥ 35%", pr.share >= 0.35),
	)
	res.Rows = append(res.Rows, checkRows(kase, pr.checks, br.checks, p.enterprise, p.window, false, "")...)
	return nil
}

// durRow shows durations in ms; a negative one never happened.
func durRow(kase, metric string, p, b time.Duration) Row {
	v := func(d time.Duration) float64 {
		if d < 0 {
			return none
		}
		return ms(d)
	}
	r := row(kase, metric, "ms", v(p), v(b))
	if p < 0 {
		r.ProjectText = "not all arrived"
	}
	if b < 0 {
		r.BaselineText = "not all arrived"
	}
	return r
}

// shareRun runs 9a (accounts: B is another account) or 9b (B is another
// campaign of the same account).
func (h *harness) shareRun(ctx context.Context, mode string, accounts bool) (shareRun, error) {
	out := shareRun{first: -1, last: -1}
	p := newSchedPlan(h.opt.quick)
	name, names := "campaigns", schedAccounts(1)
	backlog, batch := p.campX, p.campY
	if accounts {
		name, names = "burst", schedAccounts(2)
		backlog, batch = p.burstA, p.burstB
	}
	a, b := names[0], names[len(names)-1]
	r, err := h.newSchedRun(ctx, name, mode, names, p.enterprise, 10, nil)
	if err != nil {
		return out, err
	}
	defer r.close()
	if err := r.campaign(ctx, "x", "x", backlog, a); err != nil {
		return out, err
	}
	if err := r.spawn(ctx, 1); err != nil {
		return out, err
	}
	if ok, err := r.waitDelivered(ctx, "x", 1, 30*time.Second); err != nil || !ok {
		return out, fmt.Errorf("no call within 30s of the start (%v)", err)
	}
	if err := sleep(ctx, p.burstDelay); err != nil {
		return out, err
	}
	at := time.Now()
	if err := r.campaign(ctx, "y", "y", batch, b); err != nil {
		return out, err
	}
	timeout := p.drainTime(backlog+batch, p.enterprise)
	if _, err := r.waitDelivered(ctx, "", r.expected(), timeout); err != nil {
		return out, err
	}
	calls := byTime(r.st.lsq.Calls())
	ys := refTimes(calls, "y")
	out.got = r.tally.delivered("y")
	if len(ys) > 0 {
		out.first = ys[0].Sub(at)
	}
	end := time.Now()
	if out.got >= batch {
		out.last = ys[len(ys)-1].Sub(at)
		end = ys[len(ys)-1]
	}
	if accounts {
		out.used = usedPaced(within(keyTimes(calls, r.keyIDs[a]), at, end), p.pace(p.enterprise))
	} else {
		x, y := len(within(refTimes(calls, "x"), at, end)), len(within(ys, at, end))
		if x+y > 0 {
			out.share = float64(x) / float64(x+y)
		}
	}
	out.checks = r.check(calls)
	h.logf("%s: %s: batch first %s, last %s (%d/%d), used %.1f%%, share %.1f%%", name, mode, out.first, out.last, out.got, batch, 100*out.used, 100*out.share)
	return out, nil
}
