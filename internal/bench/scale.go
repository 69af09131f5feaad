package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// scalePoint is what one backlog size costs.
type scalePoint struct {
	size    int
	enqueue float64 // lines/s
	bytes   float64 // Redis bytes per notification
	cost    cost    // per delivery, 3 × 20 under the backlog
	rss     int64   // largest worker RSS
}

// scale is scenario 8a: how the costs grow with the backlog.
func scale(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	res.Setup = fmt.Sprintf("For each backlog size: a campaign of that many lines into an empty private Redis (enqueue rate and bytes per notification as in 5 and 6), "+
		"then 3 notifyd processes × 20 workers at %d/%s deliver from it for %s after a warm-up (commands per delivery as in 2; RSS: the largest peak, VmHWM, of the 3 processes). "+
		"The baseline column is the smallest backlog's figure, so the ratio is the growth.",
		p.limit, p.costWindow, p.scalePeriod)
	pts := make([]scalePoint, len(p.scaleSizes))
	idx := make([]int, len(p.scaleSizes))
	for i := range idx {
		idx[i] = i
	}
	if err := each(h, idx, func(i int) error {
		pt, err := h.scaleRun(ctx, p.scaleSizes[i])
		if err != nil {
			return fmt.Errorf("backlog %s: %w", thousands(int64(p.scaleSizes[i])), err)
		}
		pts[i] = pt
		return nil
	}); err != nil {
		return err
	}
	base := pts[0]
	for _, pt := range pts {
		kase := thousands(int64(pt.size)) + " backlog"
		b := func(v float64) float64 {
			if pt.size == base.size {
				return none
			}
			return v
		}
		res.Rows = append(res.Rows,
			row(kase, "campaign enqueue rate", "lines/s", pt.enqueue, b(base.enqueue)),
			row(kase, "Redis bytes per queued notification", "B", pt.bytes, b(base.bytes)),
			row(kase, "Redis commands per delivery (INFO commandstats)", "", pt.cost.commands, b(base.cost.commands)),
			row(kase, "commands sent by the workers per delivery", "", pt.cost.clientCmds, b(base.cost.clientCmds)),
			row(kase, "Redis CPU per delivery", "µs", float64(pt.cost.redisCPU.Microseconds()), b(float64(base.cost.redisCPU.Microseconds()))),
			row(kase, "worker process RSS, 20 workers", "B", float64(pt.rss), b(float64(base.rss))),
		)
	}
	return nil
}

func (h *harness) scaleRun(ctx context.Context, n int) (scalePoint, error) {
	p := h.plan
	pt := scalePoint{size: n}
	st, err := h.newStack(ctx, fmt.Sprintf("scale-%d", n), sandbox.Config{Limit: p.limit, Window: p.costWindow}, false, nil)
	if err != nil {
		return pt, err
	}
	defer st.close()
	i0, err := st.redis.info(ctx)
	if err != nil {
		return pt, err
	}
	t0 := time.Now()
	if _, err := campaign(ctx, st.redis.URL, st.dir, newLines("s", n, 0)); err != nil {
		return pt, err
	}
	pt.enqueue = float64(n) / time.Since(t0).Seconds()
	i1, err := st.redis.info(ctx)
	if err != nil {
		return pt, err
	}
	pt.bytes = float64(i1.UsedMemory-i0.UsedMemory) / float64(n)
	h.logf("scale: %d: %.0f lines/s, %.0f B", n, pt.enqueue, pt.bytes)
	ws, err := h.spawnN(ctx, 3, kindNotifyd, st.env(workerEnv{rate: fmt.Sprintf("%d/%s", p.limit, p.costWindow), margin: p.costMargin, concurrency: 20})...)
	if err != nil {
		return pt, err
	}
	defer stopAll(ws)
	if pt.cost, err = st.measureCost(ctx, ws, p.limit, p.scalePeriod); err != nil {
		return pt, err
	}
	for _, w := range ws {
		if v, err := w.PeakRSS(); err == nil {
			pt.rss = max(pt.rss, v)
		}
	}
	h.logf("scale: %d: %.1f commands per delivery", n, pt.cost.commands)
	return pt, nil
}
