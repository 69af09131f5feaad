package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// redisCost is scenario 2: the Redis commands each delivery costs, 3
// processes × 20 workers under a backlog; the baseline is the recipe with
// the limit split among the processes, whose refusals churn through
// asynq's retry set.
func redisCost(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	split := float64(p.limit) / float64(p.costProcs)
	res.Setup = fmt.Sprintf("%d processes × %d workers under a %s-notification backlog, strict sandbox at %d/%s, LSQ_RATE_MARGIN %s. "+
		"Counters are read after %d deliveries and again %s later: Redis's INFO commandstats (every command, those run inside Lua scripts included, INFO itself excluded), "+
		"the workers' own count of the commands they sent (a go-redis hook: each command of a pipeline counts; a script call is one command), and Redis's used_cpu_user+sys. "+
		"Baseline: the recipe with the limit split among the processes (rate.NewLimiter(%s per %s, burst %d) each), so that it does not draw 429s; every refusal returns a RateLimitError "+
		"and asynq moves the task to the retry set and back (RetryIn uniform in [0, %s)): the churn.",
		p.costProcs, p.costWorkers, thousands(int64(p.costBacklog)), p.limit, p.costWindow, p.costMargin, p.limit, p.costPeriod,
		strconv.FormatFloat(split, 'f', 2, 64), p.costWindow, max(int(split), 1), p.costWindow)
	pc, bc, err := pair(h, kindNotifyd, kindRecipe, func(kind workerKind) (cost, error) {
		return h.costRun(ctx, kind, fmt.Sprintf("%s/%s", strconv.FormatFloat(split, 'f', 4, 64), p.costWindow))
	})
	if err == nil {
		kase := fmt.Sprintf("%d × %d workers", p.costProcs, p.costWorkers)
		ratio := pc.commands / bc.commands
		res.Rows = append(res.Rows,
			row(kase, "Redis commands per delivery (INFO commandstats)", "", pc.commands, bc.commands).
				target("≤ 12 and ≥ 5× fewer", pc.commands <= 12 && ratio <= 0.2),
			row(kase, "commands sent by the workers per delivery", "", pc.clientCmds, bc.clientCmds),
			row(kase, "round trips per delivery", "", pc.roundTrips, bc.roundTrips),
			row(kase, "Redis CPU per delivery", "µs", float64(pc.redisCPU.Microseconds()), float64(bc.redisCPU.Microseconds())),
			row(kase, "handler runs per delivery (baseline; the project's handler waits for its slot inside one run)", "", none, bc.handlerRuns),
			row(kase, "429 answers while measured", "", float64(pc.rateLimited), float64(bc.rateLimited)),
		)
		res.Notes = append(res.Notes,
			fmt.Sprintf("Project, per delivery (%d deliveries in %s): %s.", pc.delivered, pc.elapsed.Round(time.Second), joinTop(pc.byCommand, 12)),
			fmt.Sprintf("Baseline, per delivery (%d deliveries): %s.", bc.delivered, joinTop(bc.byCommand, 8)))
	}
	return err
}

func (h *harness) costRun(ctx context.Context, kind workerKind, recipeRate string) (cost, error) {
	p := h.plan
	st, err := h.newStack(ctx, "cost-"+string(kind), sandbox.Config{Limit: p.limit, Window: p.costWindow}, false, nil)
	if err != nil {
		return cost{}, err
	}
	defer st.close()
	if _, err := campaign(ctx, st.redis.URL, st.dir, newLines("c", p.costBacklog, 0)); err != nil {
		return cost{}, err
	}
	env := st.env(workerEnv{rate: fmt.Sprintf("%d/%s", p.limit, p.costWindow), margin: p.costMargin,
		concurrency: p.costWorkers, recipeRate: recipeRate, retryIn: p.costWindow})
	ws, err := h.spawnN(ctx, p.costProcs, kind, env...)
	if err != nil {
		return cost{}, err
	}
	defer stopAll(ws)
	c, err := st.measureCost(ctx, ws, p.limit, p.costPeriod)
	h.logf("cost: %s: %.1f commands (%.1f sent, %.1f trips) per delivery over %d deliveries", kind, c.commands, c.clientCmds, c.roundTrips, c.delivered)
	return c, err
}
