package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// limitRun is one drain of a backlog by N processes.
type limitRun struct {
	procs       int
	kind        workerKind
	rateLimited int           // 429 answers
	maxCounted  int           // most calls the sandbox let through in a window
	maxSent     int           // most calls that arrived in a window
	util        float64       // utilization while the backlog lasted
	delivered   int           // distinct refs delivered
	elapsed     time.Duration // from the workers' start to the last delivery
	duplicates  int
	gaps        []time.Duration // between consecutive counted notification calls
}

// limitHeld is scenario 1: N processes × 20 workers drain a backlog against
// a strict sandbox; the baseline is asynq's per-process limiter recipe.
func limitHeld(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	res.Setup = fmt.Sprintf("A %s-notification backlog (one campaign, enqueued before the workers start), N worker processes × %d workers, "+
		"strict sandbox at %d/%s: LeadSquared's %d/5s with the window scaled 1:%d so that a drain takes %s instead of %s; LSQ_RATE_MARGIN %s (the default 100ms scaled alike, which keeps the share of the limit the margin costs: 2%%). "+
		"Baseline: asynq's documented recipe in each process: rate.NewLimiter at the full limit (a token bucket of %d refilled at %d per window), RateLimitError with RetryIn uniform in [0, window) when it says no, "+
		"IsFailure excluding it and RetryDelayFunc returning RetryIn; a 429 from LeadSquared is retried after a window without counting a failure (the recipe says nothing about 429s); "+
		"its workers poll as notifyd's do (TaskCheckInterval 150ms, DelayedTaskCheckInterval 1s). "+
		"429s, max in window and utilization are measured at the sandbox; utilization = counted notification calls while the backlog lasted / (limit × elapsed / window), as internal/e2e measures it.",
		thousands(int64(p.limitBacklog)), p.limitWorkers, p.limit, p.window, p.limit, int(5*time.Second/p.window),
		(time.Duration(p.limitBacklog/p.limit) * p.window).String(), (time.Duration(p.limitBacklog/p.limit) * 5 * time.Second).String(), p.margin,
		p.limit, p.limit)
	var cases []limitCase
	for _, n := range p.limitProcs {
		cases = append(cases, limitCase{procs: n, backlog: p.limitBacklog, window: p.window, margin: p.margin})
	}
	if r := p.limitReal; r != nil {
		cases = append(cases, *r)
		res.Setup += fmt.Sprintf(" The last case runs at LeadSquared's real window and notifyd's default margin (%d/%s, LSQ_RATE_MARGIN %s) with a %d backlog.",
			p.limit, r.window, r.margin, r.backlog)
	}
	type job struct {
		c    limitCase
		kind workerKind
	}
	var jobs []job
	for _, c := range cases {
		jobs = append(jobs, job{c, kindNotifyd}, job{c, kindRecipe})
	}
	var mu sync.Mutex
	runs := map[job]limitRun{}
	err := each(h, jobs, func(j job) error {
		r, err := h.limitRun(ctx, j.kind, j.c)
		mu.Lock()
		runs[j] = r
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("%d × %s: %w", j.c.procs, j.kind, err)
		}
		return nil
	})
	for _, c := range cases {
		pr, br := runs[job{c, kindNotifyd}], runs[job{c, kindRecipe}]
		kase := fmt.Sprintf("%d × %d workers", c.procs, p.limitWorkers)
		if c.window != p.window || c.backlog != p.limitBacklog {
			kase += fmt.Sprintf(", %d/%s, %s backlog", p.limit, c.window, thousands(int64(c.backlog)))
		}
		res.Rows = append(res.Rows,
			row(kase, "429 answers", "", float64(pr.rateLimited), float64(br.rateLimited)).
				target("0", pr.rateLimited == 0),
			// The strict sandbox never lets more than the limit through, so the
			// target is on what arrived: a client that sends more draws 429s.
			row(kase, fmt.Sprintf("max calls sent in any %s window (429s included)", c.window), "", float64(pr.maxSent), float64(br.maxSent)).
				target(fmt.Sprintf("≤ %d", p.limit), pr.maxSent <= p.limit),
			row(kase, fmt.Sprintf("max calls let through in any %s window (the sandbox refuses the rest)", c.window), "", float64(pr.maxCounted), float64(br.maxCounted)),
			row(kase, "utilization while the backlog lasted", "%", pr.util, br.util).
				target("≥ 97%", pr.util >= 0.97),
			row(kase, "drain time", "ms", ms(pr.elapsed), ms(br.elapsed)),
		)
		for _, r := range []limitRun{pr, br} {
			if r.delivered < c.backlog {
				res.Notes = append(res.Notes, fmt.Sprintf("%s, %s: delivered %d of %d within its time limit (the drain time shown is the limit).",
					kase, r.kind, r.delivered, c.backlog))
			}
			if r.duplicates > 0 {
				res.Notes = append(res.Notes, fmt.Sprintf("%s, %s: %d refs delivered more than once.", kase, r.kind, r.duplicates))
			}
		}
		if len(pr.gaps) > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s, project: gaps between calls p50 %s, p90 %s, p99 %s, largest %s (the pace is %s).", kase,
				percentile(pr.gaps, 50).Round(100*time.Microsecond), percentile(pr.gaps, 90).Round(100*time.Microsecond),
				percentile(pr.gaps, 99).Round(100*time.Microsecond), percentile(pr.gaps, 100).Round(time.Millisecond),
				((c.window+c.margin)/time.Duration(p.limit)).Round(100*time.Microsecond)))
		}
	}
	return err
}

func (h *harness) limitRun(ctx context.Context, kind workerKind, c limitCase) (limitRun, error) {
	p := h.plan
	r := limitRun{procs: c.procs, kind: kind}
	st, err := h.newStack(ctx, fmt.Sprintf("limit-%s-%d-%s", kind, c.procs, c.window),
		sandbox.Config{Limit: p.limit, Window: c.window}, false, nil)
	if err != nil {
		return r, err
	}
	defer st.close()
	if _, err := campaign(ctx, st.redis.URL, st.dir, newLines("c", c.backlog, 0)); err != nil {
		return r, err
	}
	rate := fmt.Sprintf("%d/%s", p.limit, c.window)
	env := st.env(workerEnv{rate: rate, margin: c.margin, concurrency: p.limitWorkers, recipeRate: rate, retryIn: c.window})
	timeout := time.Duration(c.backlog/p.limit)*c.window*3/2 + 20*time.Second
	h.logf("limit: %d × %s at %s: draining %d (time limit %s)", c.procs, kind, rate, c.backlog, timeout)
	start := time.Now()
	ws, err := h.spawnN(ctx, c.procs, kind, env...)
	if err != nil {
		return r, err
	}
	got, err := st.lsq.waitAccepted(ctx, c.backlog, timeout)
	r.elapsed = time.Since(start)
	stopAll(ws)
	if err != nil {
		return r, err
	}
	calls := byTime(st.lsq.Calls())
	stats := st.lsq.Stats()
	r.delivered = got
	r.rateLimited = stats.RateLimited
	r.maxCounted = stats.MaxInWindow
	r.maxSent = maxAttempts(calls, c.window)
	r.util = utilization(calls, p.limit, c.window)
	r.duplicates = len(stats.DuplicateRefs)
	r.gaps = gaps(calls)
	if last := stats.LastAccepted; !last.IsZero() && got >= c.backlog {
		r.elapsed = last.Sub(start)
	}
	h.logf("limit: %d × %s at %s: %d delivered, %d × 429, max %d/%d, util %.1f%%", c.procs, kind, rate, got, r.rateLimited, r.maxCounted, r.maxSent, 100*r.util)
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// joinTop lists the largest per-delivery command counts.
func joinTop(m map[string]float64, n int) string {
	type kv struct {
		k string
		v float64
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j].v > s[i].v || (s[j].v == s[i].v && s[j].k < s[i].k) {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	var out []string
	for i := 0; i < n && i < len(s); i++ {
		out = append(out, fmt.Sprintf("%s %.2f", strings.ToUpper(s[i].k), s[i].v))
	}
	return strings.Join(out, ", ")
}
