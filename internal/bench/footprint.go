package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// footprint is scenario 6: Redis bytes per queued notification and a
// worker process's RSS under a large backlog.
func footprint(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	res.Setup = fmt.Sprintf("A %s-notification backlog in an empty private Redis: used_memory after − before, divided by the count "+
		"(project: enqueue.Campaign, so the ref registry is included; baseline: the same tasks through asynq.Client, 16 at a time, no registry). "+
		"Then one worker process with %d workers runs against it at %d/5s for %s; RSS is /proc/PID/status VmRSS, sampled every 200 ms, the largest shown. "+
		"Baseline process: the recipe (asynq + rate.Limiter at the full limit).",
		thousands(int64(p.footBacklog)), p.footWorkers, p.limit, p.footPeriod)
	type out struct {
		bytes float64
		rss   int64
	}
	po, bo, err := pair(h, kindNotifyd, kindRecipe, func(kind workerKind) (out, error) {
		var o out
		var err error
		o.bytes, o.rss, err = h.footprintRun(ctx, kind)
		return o, err
	})
	if err == nil {
		kase := thousands(int64(p.footBacklog)) + " backlog"
		res.Rows = append(res.Rows,
			row(kase, "Redis bytes per queued notification", "B", po.bytes, bo.bytes).target("≤ 1 KiB", po.bytes <= 1024),
			row(kase, fmt.Sprintf("worker process RSS, %d workers", p.footWorkers), "B", float64(po.rss), float64(bo.rss)).
				target("≤ 64 MiB", po.rss <= 64<<20),
		)
	}
	return err
}

func (h *harness) footprintRun(ctx context.Context, kind workerKind) (float64, int64, error) {
	p := h.plan
	st, err := h.newStack(ctx, "foot-"+string(kind), sandbox.Config{}, false, nil)
	if err != nil {
		return 0, 0, err
	}
	defer st.close()
	i0, err := st.redis.info(ctx)
	if err != nil {
		return 0, 0, err
	}
	if kind == kindNotifyd {
		_, err = campaign(ctx, st.redis.URL, st.dir, newLines("f", p.footBacklog, 0))
	} else {
		_, err = plainEnqueue(ctx, st.redis.URL, newLines("f", p.footBacklog, 0), 16)
	}
	if err != nil {
		return 0, 0, err
	}
	i1, err := st.redis.info(ctx)
	if err != nil {
		return 0, 0, err
	}
	bytes := float64(i1.UsedMemory-i0.UsedMemory) / float64(p.footBacklog)
	ws, err := h.spawnN(ctx, 1, kind, st.env(workerEnv{concurrency: p.footWorkers, recipeRate: fmt.Sprintf("%d/5s", p.limit), retryIn: 5 * time.Second})...)
	if err != nil {
		return bytes, 0, err
	}
	defer stopAll(ws)
	var rss int64
	end := time.Now().Add(p.footPeriod)
	for time.Now().Before(end) {
		v, err := ws[0].RSS()
		if err != nil {
			return bytes, rss, err
		}
		rss = max(rss, v)
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return bytes, rss, err
		}
	}
	h.logf("footprint: %s: %.0f B/notification, RSS %d MiB", kind, bytes, rss>>20)
	return bytes, rss, nil
}
