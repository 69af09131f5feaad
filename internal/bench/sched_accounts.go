package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// accountsSchedRun is one run of 9e.
type accountsSchedRun struct {
	lowest, median float64 // accounts' use of their own limit
	lowestName     string
	below          int           // accounts under 90%
	rate           float64       // deliveries per second, all accounts, between 10% and 90% of the backlog
	cpu            time.Duration // Redis CPU per delivery meanwhile
	cpuShare       float64       // Redis CPU per second meanwhile (1 = one core)
	commands       float64       // Redis commands per delivery meanwhile (INFO commandstats)
	delivered      int
	// measured says how far the cost was measured: "" from 10% to 90% of
	// the backlog, else what cut it short.
	measured string
	checks   checks
}

// schedManyAccounts is scenario 9e: many accounts at LeadSquared's Lite
// plan, each with a backlog, at once.
func schedManyAccounts(ctx context.Context, h *harness, res *Result) error {
	p := newSchedPlan(h.opt.quick)
	res.Setup = fmt.Sprintf("N accounts at Lite (%s each, own keys; margin %s), a campaign of %d lines per account interleaving them, queued before "+
		"3 notifyd processes × 10 workers start. Each account's use = (n−1)·pace / (last−first) over its calls from its first notification to its last "+
		"(its key checks included; pace %s). Redis CPU (INFO used_cpu_user+sys) and commands (INFO commandstats) are read when 10%% and 90%% of the "+
		"backlog was delivered and divided by the deliveries between. Baseline: NOTIFYD_SCHEDULER=fifo, stopped at the project's time limit "+
		"(1.5 × an account's drain + 20 s) if it has not finished; its figures are then those of what it delivered. The fifo mode releases the "+
		"accounts' groups one after the other (worker/dispatch_lua.go, flushScript), so its line holds one account's lines, then the next's: "+
		"30 workers take the first 30 tasks, two or three accounts' worth, and wait for those accounts' slots while every other account waits.",
		p.rate(p.lite), p.margin, p.accountLines, p.pace(p.lite))
	for _, n := range p.accounts {
		pr, br, err := pair(h, schedFair, schedFIFO, func(mode string) (accountsSchedRun, error) { return h.manyAccountsRun(ctx, mode, n) })
		if err != nil {
			return fmt.Errorf("%d accounts: %w", n, err)
		}
		kase := fmt.Sprintf("%d Lite accounts × %d lines, 3 × 10", n, p.accountLines)
		cpu := func(r accountsSchedRun) float64 {
			if math.IsNaN(r.rate) {
				return none
			}
			return float64(r.cpu.Microseconds())
		}
		res.Rows = append(res.Rows,
			row(kase, "lowest account's use of its limit", "%", pr.lowest, br.lowest).target("≥ 90%", pr.lowest >= 0.90),
			row(kase, "median account's use of its limit", "%", pr.median, br.median),
			row(kase, "deliveries per second, all accounts", "/s", pr.rate, br.rate),
			row(kase, "Redis CPU per delivery", "µs", cpu(pr), cpu(br)),
			row(kase, "Redis CPU, share of one core", "%", pr.cpuShare, br.cpuShare),
			row(kase, "Redis commands per delivery (INFO commandstats)", "", pr.commands, br.commands),
		)
		res.Rows = append(res.Rows, checkRows(kase, pr.checks, br.checks, p.lite, p.window, false, "")...)
		res.Notes = append(res.Notes, fmt.Sprintf("%d accounts: project: lowest account %s, %d under 90%%, %d delivered; baseline: %d under 90%%, %d of %d delivered.",
			n, pr.lowestName, pr.below, pr.delivered, br.below, br.delivered, n*p.accountLines))
		for _, x := range []struct {
			side string
			r    accountsSchedRun
		}{{"project", pr}, {"baseline", br}} {
			if x.r.measured != "" {
				res.Notes = append(res.Notes, fmt.Sprintf("%d accounts, %s: Redis figures %s.", n, x.side, x.r.measured))
			}
		}
	}
	return nil
}

func (h *harness) manyAccountsRun(ctx context.Context, mode string, n int) (accountsSchedRun, error) {
	var out accountsSchedRun
	p := newSchedPlan(h.opt.quick)
	names := schedAccounts(n)
	r, err := h.newSchedRun(ctx, fmt.Sprintf("accounts-%d", n), mode, names, p.lite, 10, nil)
	if err != nil {
		return out, err
	}
	defer r.close()
	total := n * p.accountLines
	if err := r.campaign(ctx, "bench", "m", total, names...); err != nil {
		return out, err
	}
	if err := r.spawn(ctx, 3); err != nil {
		return out, err
	}
	deadline := time.Now().Add(p.drainTime(p.accountLines, p.lite))
	snap := func(frac float64) (redisInfo, int, time.Time, bool, error) {
		ok, err := r.waitDelivered(ctx, "m", int(frac*float64(total)), time.Until(deadline))
		if err != nil {
			return redisInfo{}, 0, time.Time{}, false, err
		}
		got, at := r.tally.delivered("m"), time.Now()
		info, err := r.st.redis.info(ctx)
		return info, got, at, ok, err
	}
	i1, n1, t1, ok1, err := snap(0.1)
	if err != nil {
		return out, err
	}
	i2, n2, t2, ok2, err := snap(0.9)
	if err != nil {
		return out, err
	}
	switch {
	case !ok1:
		out.measured = "not measured: 10% of the backlog was not delivered within the time limit"
		out.rate, out.cpuShare, out.commands = none, none, none
	case !ok2:
		out.measured = fmt.Sprintf("measured from 10%% of the backlog to the time limit (%d%% delivered)", 100*n2/total)
	}
	if d := n2 - n1; ok1 && d > 0 {
		out.cpu = (i2.CPU - i1.CPU) / time.Duration(d)
		out.commands = float64(i2.TotalCommands()-i1.TotalCommands()) / float64(d)
		out.rate = float64(d) / t2.Sub(t1).Seconds()
		out.cpuShare = float64(i2.CPU-i1.CPU) / float64(t2.Sub(t1))
	}
	if _, err := r.waitDelivered(ctx, "m", total, time.Until(deadline)); err != nil {
		return out, err
	}
	calls := byTime(r.st.lsq.Calls())
	out.checks = r.check(calls)
	out.delivered = r.tally.delivered("m")
	utils := perAccountUse(calls, r.keyIDs, p.pace(p.lite))
	var us []float64
	out.lowest = 2
	for name, u := range utils {
		us = append(us, u)
		if u < out.lowest {
			out.lowest, out.lowestName = u, name
		}
		if u < 0.90 {
			out.below++
		}
	}
	if len(us) == 0 {
		out.lowest = 0
	} else {
		slices.Sort(us)
		out.median = us[len(us)/2]
	}
	h.logf("accounts: %s: %d: lowest %.1f%% (%s), median %.1f%%, %.1f/s, Redis %s and %.1f commands per delivery, %+v",
		mode, n, 100*out.lowest, out.lowestName, 100*out.median, out.rate, out.cpu, out.commands, out.checks)
	return out, nil
}

// perAccountUse is each account's use of its limit: (n−1)·pace/(last−first)
// over its counted calls from its first notification to its last. An
// account with fewer than two notifications scores 0.
func perAccountUse(calls []sandbox.Call, keyIDs map[string]string, pace time.Duration) map[string]float64 {
	type span struct{ first, last time.Time }
	spans := map[string]*span{}
	for _, c := range calls {
		if !c.Counted || !isNotification(c) {
			continue
		}
		s := spans[c.KeyID]
		if s == nil {
			s = &span{first: c.Time, last: c.Time}
			spans[c.KeyID] = s
		}
		if c.Time.Before(s.first) {
			s.first = c.Time
		}
		if c.Time.After(s.last) {
			s.last = c.Time
		}
	}
	out := map[string]float64{}
	for name, id := range keyIDs {
		s := spans[id]
		if s == nil {
			out[name] = 0
			continue
		}
		out[name] = usedPaced(within(keyTimes(calls, id), s.first, s.last), pace)
	}
	return out
}
