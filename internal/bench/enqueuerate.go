package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// enqueueRate is scenario 5: a campaign file into Redis with
// enqueue.Campaign against sequential asynq.Client.Enqueue calls of the
// same tasks.
func enqueueRate(ctx context.Context, h *harness, res *Result) error {
	p := h.plan
	n := p.enqueueLines
	res.Setup = fmt.Sprintf("A %s-line campaign file (half system, half push notifications, about 300 bytes a line) enqueued into an empty private Redis: "+
		"enqueue.Campaign (both passes: check and spool every line, then claim refs and enqueue, 64 at a time in auto-pipelines) "+
		"against a loop of asynq.Client.EnqueueContext, one task at a time, of the same tasks built with tasks.NewSystemTask/NewPushTask from the same file "+
		"(no ref registry, no validation beyond decoding). Lines/s = lines / wall time, file opened to last enqueue; CPU from /proc (this process) and INFO (Redis).",
		thousands(int64(n)))
	dir, err := h.subdir("enqueue")
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "campaign.jsonl")
	if err := writeLines(file, "e", n); err != nil {
		return err
	}
	defer os.Remove(file)
	st, err := startRedis(ctx, dir)
	if err != nil {
		return err
	}
	h.trackRedis(st)
	defer st.Stop()

	measure := func(run func() (int, error)) (rate, goCPU, redisCPU float64, err error) {
		if err := st.Client().FlushAll(ctx).Err(); err != nil {
			return 0, 0, 0, err
		}
		i0, err := st.info(ctx)
		if err != nil {
			return 0, 0, 0, err
		}
		c0, t0 := selfCPU(), time.Now()
		got, err := run()
		d, c1 := time.Since(t0), selfCPU()
		if err != nil {
			return 0, 0, 0, err
		}
		if got != n {
			return 0, 0, 0, fmt.Errorf("enqueued %d of %d", got, n)
		}
		i1, err := st.info(ctx)
		if err != nil {
			return 0, 0, 0, err
		}
		return float64(n) / d.Seconds(), float64((c1 - c0).Microseconds()) / float64(n),
			float64((i1.CPU - i0.CPU).Microseconds()) / float64(n), nil
	}
	pr, pg, pc, err := measure(func() (int, error) {
		f, err := os.Open(file)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		rep, err := campaign(ctx, st.URL, dir, f)
		return rep.Enqueued, err
	})
	if err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	h.logf("enqueue: campaign %.0f lines/s", pr)
	br, bg, bc, err := measure(func() (int, error) {
		f, err := os.Open(file)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		return plainEnqueue(ctx, st.URL, f, 1)
	})
	if err != nil {
		return fmt.Errorf("sequential enqueue: %w", err)
	}
	h.logf("enqueue: sequential %.0f lines/s", br)
	kase := thousands(int64(n)) + " lines"
	res.Rows = append(res.Rows,
		row(kase, "lines enqueued per second", "lines/s", pr, br).target("≥ 20,000/s and ≥ 3×", pr >= 20_000 && pr >= 3*br),
		row(kase, "notifybench CPU per line", "µs", pg, bg),
		row(kase, "Redis CPU per line", "µs", pc, bc),
	)
	return nil
}
