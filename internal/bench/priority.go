package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// latencies are enqueue → arrival times; missing counts the sends that had
// not arrived when the run ended; horizon is the shortest wait among them.
type latencies struct {
	got     []time.Duration
	missing int
	horizon time.Duration
}

// quantile returns the p-th percentile in ms, or NaN and a text when it
// falls among the sends that never arrived.
func (l latencies) quantile(p float64) (float64, string) {
	n := len(l.got) + l.missing
	if n == 0 {
		return none, "no sends"
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank > len(l.got) {
		return none, fmt.Sprintf("> %s (%d of %d arrived)", l.horizon.Round(100*time.Millisecond), len(l.got), n)
	}
	sorted := slices.Clone(l.got)
	slices.Sort(sorted)
	return ms(sorted[max(rank, 1)-1]), ""
}

// latencyRows adds p50 and p99 rows for project and baseline.
func latencyRows(kase string, pl, bl latencies, targetP99 time.Duration) []Row {
	var rows []Row
	for _, q := range []float64{50, 99} {
		pv, pt := pl.quantile(q)
		bv, bt := bl.quantile(q)
		r := row(kase, fmt.Sprintf("enqueue → arrival p%.0f", q), "ms", pv, bv)
		if pt != "" {
			r.ProjectText = pt
		}
		if bt != "" {
			r.BaselineText = bt
		}
		if q == 99 {
			r = r.target("≤ "+targetP99.String(), pt == "" && pv <= ms(targetP99))
		}
		rows = append(rows, r)
	}
	return rows
}

// priority is scenario 3: transactional sends while a bulk campaign
// drains; the baseline sends them into the bulk queue (one FIFO queue).
func priority(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	res.Setup = fmt.Sprintf("A %s-line bulk campaign drains through 3 notifyd processes × 20 workers at %d/%s (the real window in full mode); once it flows, "+
		"%d transactional system notifications are sent one at a time at random moments over %s (enqueue.SendSystem), and each is timed from the call to its arrival at the sandbox. "+
		"Baseline: the same sends into the bulk queue (enqueue.Bulk()), i.e. one FIFO queue behind the campaign; a send not arrived by the end of the run counts as slower than the run.",
		thousands(int64(p.prioBulk)), p.limit, p.prioWindow, p.prioSends, p.prioPeriod)
	pl, bl, err := pair(h, false, true, func(fifo bool) (latencies, error) {
		return h.priorityRun(ctx, fifo)
	})
	if err == nil {
		res.Rows = append(res.Rows, latencyRows(fmt.Sprintf("%d sends during a %s-line drain", p.prioSends, thousands(int64(p.prioBulk))), pl, bl, time.Second)...)
		res.Notes = append(res.Notes, fmt.Sprintf("Project: max %s.", percentile(pl.got, 100).Round(time.Millisecond)))
	}
	return err
}

func (h *harness) priorityRun(ctx context.Context, fifo bool) (latencies, error) {
	p := h.plan
	l := latencies{}
	name := "prio"
	if fifo {
		name = "prio-fifo"
	}
	st, err := h.newStack(ctx, name, sandbox.Config{Limit: p.limit, Window: p.prioWindow}, false, nil)
	if err != nil {
		return l, err
	}
	defer st.close()
	if _, err := campaign(ctx, st.redis.URL, st.dir, newLines("bulk", p.prioBulk, 0)); err != nil {
		return l, err
	}
	ws, err := h.spawnN(ctx, 3, kindNotifyd, st.env(workerEnv{rate: fmt.Sprintf("%d/%s", p.limit, p.prioWindow), concurrency: 20})...)
	if err != nil {
		return l, err
	}
	defer stopAll(ws)
	c, err := enqueue.New(ctx, st.redis.URL)
	if err != nil {
		return l, err
	}
	defer c.Close()
	// Let the drain flow: every worker holds a bulk task.
	if _, err := st.waitDeliveries(ctx, p.limit, 30*time.Second); err != nil {
		return l, err
	}
	sent := map[string]time.Time{}
	gap := p.prioPeriod / time.Duration(p.prioSends)
	for i := range p.prioSends {
		if err := sleep(ctx, gap/2+time.Duration(rand.Int64N(int64(gap)))); err != nil {
			return l, err
		}
		ref := fmt.Sprintf("%stx-%d", watchPrefix, i)
		at, err := sendOne(ctx, c, ref, fifo, "")
		if err != nil {
			return l, err
		}
		sent[ref] = at
	}
	// Give the last sends time to arrive.
	grace := time.Second + p.prioWindow
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		all := true
		for ref := range sent {
			if _, ok := st.lsq.Arrival(ref); !ok {
				all = false
				break
			}
		}
		if all {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return l, err
		}
	}
	end := time.Now()
	for ref, at := range sent {
		if t, ok := st.lsq.Arrival(ref); ok {
			l.got = append(l.got, t.Sub(at))
			continue
		}
		// A send that never arrived waited at least until the end: the
		// bound shown is the shortest such wait.
		if l.missing == 0 || end.Sub(at) < l.horizon {
			l.horizon = end.Sub(at)
		}
		l.missing++
	}
	h.logf("priority: fifo=%v: %d arrived, %d missing, p50 %s", fifo, len(l.got), l.missing, percentile(l.got, 50))
	return l, nil
}
