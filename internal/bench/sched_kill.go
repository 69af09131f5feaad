package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// asynq's recovery of a killed process's tasks (v0.26.0): the lease is 30 s
// (heartbeats extend it every 5 s), the recoverer runs every minute in each
// process and takes the tasks whose lease ended 30 s ago or more, then
// hands them to the retry set with notifyd's first backoff (1 s ± 30%,
// rounded up to a whole second) and the forwarder moves them on every
// second. A task's lease ends 25-30 s after the kill, so its earliest return
// is 55 s after it and its latest 30 + 30 + 60 + 2 + 1 = 123 s.
const (
	leaseEnd     = 25 * time.Second
	orphanBound  = 123 * time.Second
	recoverAfter = 55 * time.Second
)

// killLatency is how long the sandbox takes to answer in 9d.
const killLatency = 100 * time.Millisecond

// killCase is one case of 9d.
type killCase struct {
	name         string
	calls, lines int
	after        int // deliveries before the kill
	windows      bool
}

// killRun is what one run of a killCase measured.
type killRun struct {
	used      float64       // while there was work (until the last task that was not the victim's)
	gap       time.Duration // largest gap meanwhile
	gapAt     time.Duration // when it began, from the kill
	orphans   int           // the victim's tasks, left active
	inFlight  int           // of those, delivered before the kill: their calls were in flight
	back      time.Duration // from the kill to the last orphan's delivery (-1: not all)
	firstBack time.Duration
	waited    bool // the run waited for the orphans
	checks    checks
}

// schedKill is scenario 9d: kill -9 of one of 3 processes mid-drain,
// restarted after a while; its tasks come back through asynq's recoverer.
func schedKill(ctx context.Context, h *harness, res *Result) error {
	p := newSchedPlan(h.opt.quick)
	cases := []killCase{
		{name: fmt.Sprintf("%s, 3 × 8, %d lines, 1 killed", p.rate(p.enterprise), p.killLines), calls: p.enterprise, lines: p.killLines, after: p.killAfter, windows: true},
		{name: fmt.Sprintf("Lite %s, 3 × 8, %d lines, 1 killed", p.rate(p.lite), p.killLiteLines), calls: p.lite, lines: p.killLiteLines, after: p.killLiteAfter},
	}
	wait := fmt.Sprintf("The run then waits, at most %s after the kill, for the killed process's tasks: asynq's lease is 30 s, and each process's recoverer, every minute, "+
		"takes the tasks whose lease ended 30 s ago, so they come back 55-123 s after the kill (the lease, the recoverer's cut-off and interval, the first retry's 1-2 s and the forwarder's second). "+
		"The victim's tasks are those asynq lists as active with an expired lease (polled from 25 s to 55 s after the kill); those delivered before the kill were in flight: "+
		"their calls reached LeadSquared but the process died before asynq recorded them, so they are sent again.", p.orphanWait)
	if p.orphanWait == 0 {
		wait = "Quick mode does not wait for the killed process's tasks (asynq's lease and recoverer are not scaled): the orphan rows stay empty and those tasks count as never delivered."
	}
	res.Setup = fmt.Sprintf("One account; its campaign is queued and 3 notifyd processes × 8 workers drain it (margin %s; the sandbox answers after %s, as a real API, "+
		"so that a call can be in flight at the kill); after %d deliveries (Lite: %d) process 1 is killed "+
		"with SIGKILL, and %s later a new one starts in its place. %s "+
		"Use and gaps are measured while there is work: from the first notification to the last delivery of a task that was not the victim's, over the account's calls "+
		"(key checks included); at %s over whole windows of window + margin, for Lite (n−1)·pace / (last−first). "+
		"A gap is the time between consecutive calls of the account; \"≤ 2 paces\" allows the limiter's tolerance on top (%s: a call may leave that late after its slot). "+
		"Baseline: NOTIFYD_SCHEDULER=fifo.", p.margin, killLatency, p.killAfter, p.killLiteAfter, p.killRestart, wait, p.rate(p.enterprise), p.tolerance())
	type job struct {
		c    int
		mode string
	}
	var jobs []job
	for i := range cases {
		jobs = append(jobs, job{i, schedFair}, job{i, schedFIFO})
	}
	runs := make([]killRun, len(jobs))
	idx := make([]int, len(jobs))
	for i := range idx {
		idx[i] = i
	}
	if err := each(h, idx, func(i int) error {
		j := jobs[i]
		var err error
		if runs[i], err = h.killRun(ctx, j.mode, cases[j.c]); err != nil {
			return fmt.Errorf("%s, %s: %w", cases[j.c].name, j.mode, err)
		}
		return nil
	}); err != nil {
		return err
	}
	for i, c := range cases {
		pr, br := runs[2*i], runs[2*i+1]
		pace := p.pace(c.calls)
		how := "used while there is work (whole windows)"
		if !c.windows {
			how = "used while there is work (by pace)"
		}
		back := func(r killRun) float64 {
			if !r.waited || r.back < 0 {
				return none
			}
			return ms(r.back)
		}
		backRow := row(c.name, "kill → last of its tasks delivered", "ms", back(pr), back(br))
		if p.orphanWait > 0 {
			backRow = backRow.target("≤ "+orphanBound.String(), pr.orphans == 0 || pr.back >= 0 && pr.back <= orphanBound)
		}
		backRow.ProjectText, backRow.BaselineText = backText(pr, backRow.ProjectText), backText(br, backRow.BaselineText)
		res.Rows = append(res.Rows,
			row(c.name, "share of the limit "+how, "%", pr.used, br.used),
			gapRow(c.name, "largest gap while there is work, in paces", pr.gap, br.gap, pace, p, 2, c.calls, true),
			row(c.name, "the killed process's tasks (active, lease expired)", "", float64(pr.orphans), float64(br.orphans)),
			row(c.name, "of those, delivered before the kill (calls in flight)", "", float64(pr.inFlight), float64(br.inFlight)),
			backRow,
		)
		res.Rows = append(res.Rows, checkRows(c.name, pr.checks, br.checks, c.calls, p.window,
			pr.checks.dups <= pr.inFlight, "≤ calls in flight")...)
		for _, x := range []struct {
			side string
			r    killRun
		}{{"project", pr}, {"baseline", br}} {
			res.Notes = append(res.Notes, fmt.Sprintf("%s, %s: largest gap %s at %s from the kill; first of its tasks back %s after the kill.",
				c.name, x.side, x.r.gap.Round(time.Millisecond), x.r.gapAt.Round(100*time.Millisecond), fmtBack(x.r.firstBack, x.r.waited)))
		}
	}
	return nil
}

// backText is how the table shows the time the killed process's tasks took
// to come back.
func backText(r killRun, text string) string {
	switch {
	case !r.waited:
		return "not waited"
	case r.orphans == 0:
		return "none left"
	case r.back < 0:
		return "not all back"
	}
	return text
}

func fmtBack(d time.Duration, waited bool) string {
	switch {
	case !waited:
		return "(not waited)"
	case d < 0:
		return "(none)"
	}
	return d.Round(100 * time.Millisecond).String()
}

func (h *harness) killRun(ctx context.Context, mode string, c killCase) (killRun, error) {
	out := killRun{back: -1, firstBack: -1}
	p := newSchedPlan(h.opt.quick)
	a := schedAccounts(1)[0]
	// Answers take killLatency, as a real API's do, so that a call can be in
	// flight at the kill.
	r, err := h.newSchedRun(ctx, "kill", mode, []string{a}, c.calls, 8, nil, func(cfg *sandbox.Config) { cfg.Latency = killLatency })
	if err != nil {
		return out, err
	}
	defer r.close()
	if err := r.campaign(ctx, "drain", "c", c.lines, a); err != nil {
		return out, err
	}
	if err := r.spawn(ctx, 3); err != nil {
		return out, err
	}
	drain := p.drainTime(c.lines, c.calls)
	if ok, err := r.waitDelivered(ctx, "c", c.after, drain); err != nil || !ok {
		return out, fmt.Errorf("only %d of %d deliveries before the kill (%v)", r.tally.delivered("c"), c.after, err)
	}
	killed := r.kill(0)
	h.logf("kill: %s: %s: process 1 killed after %d deliveries", mode, c.name, r.tally.delivered("c"))

	// Watch for the victim's tasks while the drain goes on.
	orphans := map[string]bool{}
	var watchErr error
	var wg sync.WaitGroup
	if p.orphanWait > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			orphans, watchErr = r.watchOrphans(ctx, killed)
		}()
	}
	if err := sleep(ctx, p.killRestart); err != nil {
		return out, err
	}
	if err := r.restart(ctx, 0); err != nil {
		return out, err
	}
	if p.orphanWait > 0 {
		_, err = r.waitDelivered(ctx, "c", c.lines, max(time.Until(killed.Add(p.orphanWait)), time.Until(killed.Add(drain))))
	} else {
		// Without the orphans: until the survivors have nothing left to send.
		_, err = r.waitFor(ctx, drain, func() bool {
			return r.tally.delivered("c") >= c.lines || time.Since(r.tally.lastDelivery()) > 3*p.span()
		})
	}
	wg.Wait()
	if err != nil {
		return out, err
	}
	if watchErr != nil {
		return out, watchErr
	}
	out.waited = p.orphanWait > 0
	calls := byTime(r.st.lsq.Calls())
	out.checks = r.check(calls)
	out.orphans = len(orphans)

	// The last delivery of each ref, and when there was work left that was
	// not the victim's.
	lastOf := map[string]time.Time{}
	for _, cl := range calls {
		if cl.Accepted && refPrefix(cl.Ref) == "c" && cl.Time.After(lastOf[cl.Ref]) {
			lastOf[cl.Ref] = cl.Time
		}
	}
	var workEnd, start time.Time
	for ref, at := range lastOf {
		if !orphans[ref] && at.After(workEnd) {
			workEnd = at
		}
		if first, _ := r.tally.firstDelivery(ref); start.IsZero() || first.Before(start) {
			start = first
		}
	}
	for ref := range orphans {
		first, ok := r.tally.firstDelivery(ref)
		if ok && first.Before(killed) {
			out.inFlight++
		}
	}
	if out.waited && len(orphans) > 0 {
		all := true
		for ref := range orphans {
			at, ok := lastOf[ref]
			if !ok || !at.After(killed) {
				all = false
				continue
			}
			if d := at.Sub(killed); d > out.back {
				out.back = d
			}
			if d := at.Sub(killed); out.firstBack < 0 || d < out.firstBack {
				out.firstBack = d
			}
		}
		if !all {
			out.back = -1
		}
	}
	ts := within(keyTimes(calls, r.keyIDs[a]), start, workEnd)
	if c.windows {
		out.used, _, _ = usedWindows(ts, p.span(), c.calls)
	} else {
		out.used = usedPaced(ts, p.pace(c.calls))
	}
	var gapAt time.Time
	out.gap, gapAt = largestGap(ts)
	out.gapAt = gapAt.Sub(killed)
	h.logf("kill: %s: %s: used %.1f%%, gap %s, %d orphans (%d in flight), last back %s, %+v",
		mode, c.name, 100*out.used, out.gap, out.orphans, out.inFlight, out.back, out.checks)
	return out, nil
}

// watchOrphans lists, from leaseEnd to recoverAfter after the kill, the bulk
// tasks asynq holds as active with an expired lease: the killed process's.
// It returns their refs.
func (r *schedRun) watchOrphans(ctx context.Context, killed time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	if err := sleep(ctx, time.Until(killed.Add(leaseEnd))); err != nil {
		return out, err
	}
	insp := asynq.NewInspectorFromRedisClient(r.st.redis.Client())
	for time.Now().Before(killed.Add(recoverAfter)) {
		active, err := insp.ListActiveTasks(string(tasks.LaneBulk), asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			return out, fmt.Errorf("list active tasks: %w", err)
		}
		for _, t := range active {
			if t.IsOrphaned {
				_, ref, _ := strings.Cut(t.ID, ":")
				out[ref] = true
			}
		}
		if err := sleep(ctx, time.Second); err != nil {
			return out, err
		}
	}
	return out, nil
}
