package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// overheadRun is one process draining a backlog with the limit lifted.
type overheadRun struct {
	rate      float64       // deliveries/s, steady state
	workerCPU time.Duration // per delivery
	redisCPU  time.Duration // per delivery
}

// overhead is scenario 7: deliveries/s of one process with the limit
// lifted, against a plain asynq handler making the same call.
func overhead(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	res.Setup = fmt.Sprintf("Sandbox without a limit, answering after 1 ms; LSQ_RATE_LIMIT 1000000/1s; one worker process with %d workers drains a %s-notification backlog. "+
		"Rate = deliveries between the 10th and 90th percentile arrivals / the time between them. "+
		"Baseline: a plain asynq handler (asynq defaults, %d workers) decoding the same payload and making the same leadsquared.Client call, without limiter, ref retention or result. "+
		"Everything shares 2 cores: the sandbox runs in the harness process, so this measures the whole machine's throughput; CPU per delivery says where it goes.",
		p.overWorkers, thousands(int64(p.overTasks)), p.overWorkers)
	var pr, br overheadRun
	var pErr, bErr error
	// Never at once, even in quick mode: both would share the CPU.
	pr, pErr = h.overheadRun(ctx, kindNotifyd)
	if pErr == nil {
		br, bErr = h.overheadRun(ctx, kindPlain)
	}
	if pErr != nil || bErr != nil {
		return fmt.Errorf("%w %w", pErr, bErr)
	}
	kase := fmt.Sprintf("1 process × %d workers", p.overWorkers)
	res.Rows = append(res.Rows,
		row(kase, "deliveries per second", "/s", pr.rate, br.rate).
			target("≥ 2,000/s and within 20%", pr.rate >= 2000 && pr.rate >= 0.8*br.rate),
		row(kase, "worker process CPU per delivery", "µs", float64(pr.workerCPU.Microseconds()), float64(br.workerCPU.Microseconds())),
		row(kase, "Redis CPU per delivery", "µs", float64(pr.redisCPU.Microseconds()), float64(br.redisCPU.Microseconds())),
	)
	return nil
}

func (h *harness) overheadRun(ctx context.Context, kind workerKind) (overheadRun, error) {
	p := h.plan
	var r overheadRun
	st, err := h.newStack(ctx, "over-"+string(kind), sandbox.Config{Limit: -1, Latency: time.Millisecond}, false, nil)
	if err != nil {
		return r, err
	}
	defer st.close()
	if _, err := campaign(ctx, st.redis.URL, st.dir, newLines("o", p.overTasks, 0)); err != nil {
		return r, err
	}
	i0, err := st.redis.info(ctx)
	if err != nil {
		return r, err
	}
	ws, err := h.spawnN(ctx, 1, kind, st.env(workerEnv{rate: "1000000/1s", concurrency: p.overWorkers})...)
	if err != nil {
		return r, err
	}
	defer stopAll(ws)
	got, err := st.lsq.waitAccepted(ctx, p.overTasks, time.Duration(p.overTasks)*time.Millisecond+60*time.Second)
	if err != nil {
		return r, err
	}
	cpu := ws[0].CPU()
	i1, err := st.redis.info(ctx)
	if err != nil {
		return r, err
	}
	if got < p.overTasks {
		return r, fmt.Errorf("%s delivered %d of %d", kind, got, p.overTasks)
	}
	r.rate = steadyRate(acceptedTimes(st.lsq.Calls()))
	r.workerCPU = cpu / time.Duration(got)
	r.redisCPU = (i1.CPU - i0.CPU) / time.Duration(got)
	h.logf("overhead: %s: %.0f deliveries/s, worker %s, redis %s per delivery", kind, r.rate, r.workerCPU, r.redisCPU)
	return r, nil
}
