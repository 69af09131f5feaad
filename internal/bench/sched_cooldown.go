package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// coolRetryAfter is the Retry-After of the injected 429.
const coolRetryAfter = time.Hour

// inject429 answers one call of one access key with LeadSquared's 429 and
// Retry-After, once armed: it sets the sandbox's Burst429 for that call
// alone, holding every other call back meanwhile, so that no other
// account's call takes it.
type inject429 struct {
	accessKey string
	gate      sync.RWMutex
	armed     atomic.Bool
	done      chan time.Time // the injected call's arrival
}

func newInject429(accessKey string) *inject429 {
	return &inject429{accessKey: accessKey, done: make(chan time.Time, 1)}
}

func (in *inject429) wrap(next http.Handler) http.Handler {
	srv, _ := next.(*sandbox.Server)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if srv != nil && in.armed.Load() && r.Header.Get(leadsquared.AccessKeyHeader) == in.accessKey && r.URL.Path != leadsquared.KeyCheckPath {
			in.gate.Lock()
			if in.armed.CompareAndSwap(true, false) {
				defer in.gate.Unlock()
				at := time.Now()
				if err := srv.SetFaults(sandbox.Faults{Burst429: 1, RetryAfter: coolRetryAfter}); err == nil {
					next.ServeHTTP(w, r)
					_ = srv.SetFaults(sandbox.Faults{})
					in.done <- at
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			in.gate.Unlock()
		}
		in.gate.RLock()
		defer in.gate.RUnlock()
		next.ServeHTTP(w, r)
	})
}

// coolRun is what one run of 9f measured.
type coolRun struct {
	aCalls     int     // A's calls after the 429
	held, mean float64 // workers holding A's tasks during the cool-down: most and mean of the samples
	throughout int     // A's tasks active in every sample: held for the whole cool-down
	sent, got  int     // B's sends during the cool-down, and how many arrived
	p99        float64 // B's enqueue → arrival p99 (ms), NaN when some never arrived
	archived   int
	retried    int // A's tasks with a failure counted (asynq's Retried > 0)
	states     string
	checks     checks
}

// schedCooldown is scenario 9f: a 1 h cool-down on an account with a
// queue, while another account keeps sending.
func schedCooldown(ctx context.Context, h *harness, res *Result) error {
	p := newSchedPlan(h.opt.quick)
	res.Setup = fmt.Sprintf("Accounts A and B, each %s (margin %s), 1 notifyd × 10 workers. A's %s-line campaign drains; B sends a transactional system notification "+
		"every %s (enqueue.SendSystem) all along. After A's first 10 deliveries the sandbox answers A's next call 429 with Retry-After: %d (the other calls held "+
		"back for that moment), and the run measures for %s from then: A's calls, the workers holding A's tasks (asynq's active tasks of A, sampled every 250 ms), "+
		"B's sends (sent in that time, arrived by its end plus a second, enqueue → arrival p99), then asynq's archived tasks and the tasks of A with a failure "+
		"counted (Retried > 0). A's queue is not expected to drain (its cool-down outlasts the run); B's sends are. "+
		"Baseline: NOTIFYD_SCHEDULER=fifo, whose workers wait for A's slot however long (up to the task's 15 min timeout, when a retry is spent).",
		p.rate(p.enterprise), p.margin, thousands(int64(p.coolBacklog)), p.coolSends, int(coolRetryAfter.Seconds()), p.coolPeriod)
	pr, br, err := pair(h, schedFair, schedFIFO, func(mode string) (coolRun, error) { return h.coolRun(ctx, mode) })
	if err != nil {
		return err
	}
	kase := fmt.Sprintf("A %s queued, 1 h cool-down; B sends", thousands(int64(p.coolBacklog)))
	p99 := row(kase, "B's sends, enqueue → arrival p99", "ms", pr.p99, br.p99)
	if pr.got < pr.sent {
		p99.ProjectText = fmt.Sprintf("%d of %d arrived", pr.got, pr.sent)
	}
	if br.got < br.sent {
		p99.BaselineText = fmt.Sprintf("%d of %d arrived", br.got, br.sent)
	}
	res.Rows = append(res.Rows,
		row(kase, "A's calls during the cool-down", "", float64(pr.aCalls), float64(br.aCalls)).target("0", pr.aCalls == 0),
		row(kase, "archived tasks", "", float64(pr.archived), float64(br.archived)).target("0", pr.archived == 0),
		row(kase, "A's tasks with a retry spent", "", float64(pr.retried), float64(br.retried)).target("0", pr.retried == 0),
		row(kase, "workers held by A's tasks, most of the samples", "", pr.held, br.held),
		row(kase, "workers held by A's tasks, mean of the samples", "", pr.mean, br.mean),
		row(kase, "A's tasks held by a worker through the whole cool-down", "", float64(pr.throughout), float64(br.throughout)).target("0", pr.throughout == 0),
		row(kase, "B's sends during the cool-down that arrived", "%", frac(pr.got, pr.sent), frac(br.got, br.sent)).target("100%", pr.got == pr.sent && pr.sent > 0),
		p99,
	)
	res.Rows = append(res.Rows, checkRows(kase, pr.checks, br.checks, p.enterprise, p.window, false, "")...)
	res.Notes = append(res.Notes, fmt.Sprintf("A's tasks at the end: project %s; baseline %s. \"Never delivered\" counts B's sends only.", pr.states, br.states))
	return nil
}

func frac(a, b int) float64 {
	if b == 0 {
		return none
	}
	return float64(a) / float64(b)
}

func (h *harness) coolRun(ctx context.Context, mode string) (coolRun, error) {
	out := coolRun{p99: none}
	p := newSchedPlan(h.opt.quick)
	names := schedAccounts(2)
	a, b := names[0], names[1]
	ak, _ := schedKeys(a)
	in := newInject429(ak)
	r, err := h.newSchedRun(ctx, "cooldown", mode, names, p.enterprise, 10, in.wrap)
	if err != nil {
		return out, err
	}
	defer r.close()
	if err := r.campaign(ctx, "big", "a", p.coolBacklog, a); err != nil {
		return out, err
	}
	r.mu.Lock()
	delete(r.expect, "a") // A's queue outlasts the run: only B's sends must arrive
	r.mu.Unlock()
	if err := r.spawn(ctx, 1); err != nil {
		return out, err
	}
	c, err := enqueue.New(ctx, r.st.redis.URL)
	if err != nil {
		return out, err
	}
	defer c.Close()

	// B sends all along.
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	sendCtx, stopSends := context.WithCancel(ctx)
	var sendErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; sendCtx.Err() == nil; i++ {
			ref := fmt.Sprintf("b-%d", i)
			at, err := sendOne(sendCtx, c, ref, false, b)
			if err != nil {
				if sendCtx.Err() == nil {
					sendErr = err
				}
				return
			}
			mu.Lock()
			sentAt[ref] = at
			mu.Unlock()
			r.mu.Lock()
			r.expect["b"]++
			r.mu.Unlock()
			if sleep(sendCtx, p.coolSends) != nil {
				return
			}
		}
	}()
	defer func() { stopSends(); wg.Wait() }()

	if ok, err := r.waitDelivered(ctx, "a", 10, 60*time.Second); err != nil || !ok {
		return out, fmt.Errorf("A: only %d deliveries before the 429 (%v)", r.tally.delivered("a"), err)
	}
	in.armed.Store(true)
	var t429 time.Time
	select {
	case t429 = <-in.done:
	case <-time.After(30 * time.Second):
		return out, errors.New("A made no call within 30s of arming the 429")
	case <-ctx.Done():
		return out, ctx.Err()
	}
	h.logf("cooldown: %s: 429 served to A", mode)
	insp := asynq.NewInspectorFromRedisClient(r.st.redis.Client())
	end := t429.Add(p.coolPeriod)
	var samples []int
	var always map[string]bool // A's tasks active in every sample so far
	for time.Now().Before(end) {
		active, err := insp.ListActiveTasks(string(tasks.LaneBulk), asynq.PageSize(1000))
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			return out, fmt.Errorf("list active tasks: %w", err)
		}
		n, now := 0, map[string]bool{}
		for _, t := range active {
			if strings.HasPrefix(t.ID, a+":") {
				n++
				if always == nil || always[t.ID] {
					now[t.ID] = true
				}
			}
		}
		always = now
		samples = append(samples, n)
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return out, err
		}
	}
	stopSends()
	wg.Wait()
	if sendErr != nil {
		return out, fmt.Errorf("B's send: %w", sendErr)
	}
	if err := sleep(ctx, time.Second); err != nil {
		return out, err
	}
	out.throughout = len(always)
	for _, n := range samples {
		out.held = max(out.held, float64(n))
		out.mean += float64(n) / float64(len(samples))
	}
	var lat []time.Duration
	for ref, at := range sentAt {
		if at.Before(t429) || at.After(end) {
			continue
		}
		out.sent++
		if got, ok := r.tally.firstDelivery(ref); ok {
			out.got++
			lat = append(lat, got.Sub(at))
		}
	}
	if out.got == out.sent && out.sent > 0 {
		out.p99 = ms(percentile(lat, 99))
	}
	calls := byTime(r.st.lsq.Calls())
	for _, t := range keyTimes(calls, r.keyIDs[a]) {
		if t.After(t429) {
			out.aCalls++
		}
	}
	if out.archived, out.retried, out.states, err = taskCounts(insp, a); err != nil {
		return out, err
	}
	out.checks = r.check(calls)
	h.logf("cooldown: %s: A %d calls, workers held max %.0f mean %.1f (%d throughout), B %d/%d, archived %d, retried %d, %s, %+v",
		mode, out.aCalls, out.held, out.mean, out.throughout, out.got, out.sent, out.archived, out.retried, out.states, out.checks)
	return out, nil
}

// taskCounts reads the archived tasks of both queues, how many tasks of
// the account have a failure counted, and where the bulk tasks are.
func taskCounts(insp *asynq.Inspector, account string) (archived, retried int, states string, err error) {
	for _, q := range []string{string(tasks.LaneTransactional), string(tasks.LaneBulk)} {
		info, ierr := insp.GetQueueInfo(q)
		if errors.Is(ierr, asynq.ErrQueueNotFound) {
			continue
		}
		if ierr != nil {
			return 0, 0, "", fmt.Errorf("queue %s: %w", q, ierr)
		}
		archived += info.Archived
		if q == string(tasks.LaneBulk) {
			states = fmt.Sprintf("%d in their group, %d pending, %d active, %d deferred (retry set), %d archived, %d done",
				info.Aggregating, info.Pending, info.Active, info.Retry, info.Archived, info.Completed)
		}
		lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			insp.ListPendingTasks, insp.ListActiveTasks, insp.ListRetryTasks, insp.ListArchivedTasks, insp.ListScheduledTasks}
		for _, list := range lists {
			for page := 1; ; page++ {
				ts, lerr := list(q, asynq.PageSize(1000), asynq.Page(page))
				if lerr != nil {
					return 0, 0, "", fmt.Errorf("queue %s: %w", q, lerr)
				}
				for _, t := range ts {
					if strings.HasPrefix(t.ID, account+":") && t.Retried > 0 {
						retried++
					}
				}
				if len(ts) < 1000 {
					break
				}
			}
		}
	}
	return archived, retried, states, nil
}
