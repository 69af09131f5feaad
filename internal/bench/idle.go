package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// idleLatency is scenario 4: enqueue → arrival with an empty queue, one
// process; the baseline is a plain asynq handler with asynq's defaults.
func idleLatency(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	res.Setup = fmt.Sprintf("One worker process (10 workers), empty queues, %d transactional system notifications sent one at a time, "+
		"250-500 ms apart at random (fewer than the 25/5s limit allows, so no send waits for a slot); timed from the enqueue call to the arrival at the sandbox. "+
		"Baseline: a plain asynq handler making the same call, with asynq's defaults (it polls empty queues every second: TaskCheckInterval 1s; notifyd sets 150ms).",
		p.idleSends)
	pl, bl, err := pair(h, kindNotifyd, kindPlain, func(kind workerKind) (latencies, error) {
		return h.idleRun(ctx, kind)
	})
	if err == nil {
		res.Rows = append(res.Rows, latencyRows("1 process, empty queue", pl, bl, 250*time.Millisecond)...)
		res.Notes = append(res.Notes, fmt.Sprintf("Project: min %s, max %s.",
			percentile(pl.got, 0).Round(100*time.Microsecond), percentile(pl.got, 100).Round(100*time.Microsecond)))
	}
	return err
}

func (h *harness) idleRun(ctx context.Context, kind workerKind) (latencies, error) {
	p := h.plan
	l := latencies{}
	st, err := h.newStack(ctx, "idle-"+string(kind), sandbox.Config{}, false, nil)
	if err != nil {
		return l, err
	}
	defer st.close()
	ws, err := h.spawnN(ctx, 1, kind, st.env(workerEnv{concurrency: 10})...)
	if err != nil {
		return l, err
	}
	defer stopAll(ws)
	c, err := enqueue.New(ctx, st.redis.URL)
	if err != nil {
		return l, err
	}
	defer c.Close()
	// Sends at random moments, not waiting for arrivals: each finds the
	// worker idle (a send's call takes a few ms), and a slow poller shows.
	l.horizon = 10 * time.Second
	sent := map[string]time.Time{}
	for i := range p.idleSends {
		if err := sleep(ctx, 250*time.Millisecond+rand.N(250*time.Millisecond)); err != nil {
			return l, err
		}
		ref := fmt.Sprintf("%sidle-%d", watchPrefix, i)
		at, err := sendOne(ctx, c, ref, false, "")
		if err != nil {
			return l, err
		}
		sent[ref] = at
	}
	deadline := time.Now().Add(l.horizon)
	for ref, at := range sent {
		for {
			if t, ok := st.lsq.Arrival(ref); ok {
				l.got = append(l.got, t.Sub(at))
				break
			}
			if time.Now().After(deadline) {
				l.missing++
				break
			}
			if err := sleep(ctx, 10*time.Millisecond); err != nil {
				return l, err
			}
		}
	}
	h.logf("idle: %s: p50 %s p99 %s", kind, percentile(l.got, 50), percentile(l.got, 99))
	return l, nil
}
