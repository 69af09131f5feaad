package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// The scheduling scenarios (9a-9f, issue 12) run notifyd with its dispatch
// scheduler (NOTIFYD_SCHEDULER=fair, the default: the project) beside the
// old single FIFO bulk line (NOTIFYD_SCHEDULER=fifo: the baseline), on the
// same backlog, the same accounts and the same events.
const (
	schedFair = "fair"
	schedFIFO = "fifo"
)

// quickSkip lists the scenarios a plain --quick run leaves out, to stay
// short: they need LeadSquared's real windows or asynq's lease to mean
// anything. --quick --only ID still runs them, scaled.
var quickSkip = map[string]bool{
	"sched-stops": true, "sched-kill": true, "sched-accounts": true, "sched-cooldown": true,
}

// schedPlan holds the sizes of the scheduling scenarios. Full mode runs at
// LeadSquared's real windows (25/5s, Lite 2/5s) and notifyd's default
// margin; quick mode scales the window 1:5 and every time with it.
type schedPlan struct {
	window, margin time.Duration
	// enterprise and lite are the calls per window of the two plans.
	enterprise, lite int

	burstA, burstB int           // 9a: A's backlog, B's burst
	burstDelay     time.Duration // 9a, 9b: the later enqueue comes this long after the first call
	campX, campY   int           // 9b

	liteLines, liteStopAfter int           // 9c: Lite, one process stopped and restarted
	liteRestart              time.Duration // after the stopped process exited
	oneLines, oneStopAfter   int           // 9c: 25/5s, one process stopped
	rollLines                int           // 9c: rolling stops
	rollStops                []int         // deliveries before each process's stop

	killLines, killAfter         int // 9d: 25/5s
	killLiteLines, killLiteAfter int // 9d: Lite
	killRestart                  time.Duration
	// orphanWait bounds the wait for a killed process's tasks after the
	// kill (0: do not wait).
	orphanWait time.Duration

	accounts     []int // 9e: how many Lite accounts
	accountLines int   // each account's backlog

	coolBacklog int           // 9f: the cooling account's queue
	coolPeriod  time.Duration // measured from the 429
	coolSends   time.Duration // the other account sends one notification this often
}

func newSchedPlan(quick bool) schedPlan {
	p := schedPlan{
		window: 5 * time.Second, margin: 100 * time.Millisecond,
		enterprise: 25, lite: 2,
		burstA: 150, burstB: 20, burstDelay: 3 * time.Second,
		campX: 150, campY: 20,
		liteLines: 24, liteStopAfter: 8, liteRestart: 3 * time.Second,
		oneLines: 200, oneStopAfter: 50,
		rollLines: 300, rollStops: []int{50, 120, 190},
		killLines: 300, killAfter: 75,
		killLiteLines: 24, killLiteAfter: 6,
		killRestart: 5 * time.Second,
		orphanWait:  150 * time.Second,
		accounts:    []int{20, 200}, accountLines: 12,
		coolBacklog: 1000, coolPeriod: 20 * time.Second, coolSends: 250 * time.Millisecond,
	}
	if quick {
		p.window, p.margin = time.Second, 20*time.Millisecond
		p.burstDelay = p.scaled(p.burstDelay)
		p.liteRestart = p.scaled(p.liteRestart)
		p.killRestart = p.scaled(p.killRestart)
		p.orphanWait = 0
		p.accounts, p.accountLines = []int{10, 40}, 8
		p.coolBacklog, p.coolPeriod, p.coolSends = 300, 4*time.Second, 50*time.Millisecond
	}
	return p
}

// scaled turns a time at LeadSquared's real 5 s window into the plan's.
func (p schedPlan) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(p.window) / float64(5*time.Second))
}

// span is the window notifyd keeps: the window plus the margin.
func (p schedPlan) span() time.Duration { return p.window + p.margin }

// pace is the least time between two calls of an account at calls per
// window: span/calls rounded up to the µs, as worker.Policy.Pace.
func (p schedPlan) pace(calls int) time.Duration {
	us := p.span().Microseconds()
	return time.Duration((us+int64(calls)-1)/int64(calls)) * time.Microsecond
}

// tolerance is how late after its slot the limiter lets a call go (half the
// margin, at least 5 ms: worker.NewLimiter): calls may arrive that much off
// their pace, so a gap is "at most k paces" when it is at most k paces plus
// this.
func (p schedPlan) tolerance() time.Duration { return max(p.margin/2, 5*time.Millisecond) }

// withinPaces reports whether a gap is at most k paces (and the tolerance).
func (p schedPlan) withinPaces(gap time.Duration, k, calls int) bool {
	return gap <= time.Duration(k)*p.pace(calls)+p.tolerance()
}

// rate is LSQ_RATE_LIMIT's form of calls per window.
func (p schedPlan) rate(calls int) string { return fmt.Sprintf("%d/%s", calls, p.window) }

// schedKeys are an account's keys in the scheduling scenarios (the sandbox
// accepts any pair and limits each access key on its own).
func schedKeys(account string) (access, secret string) {
	return "bench-sched-" + account + "-access", "bench-sched-" + account + "-secret"
}

// tally follows the sandbox's calls as they come (sandbox.Config.OnCall),
// cheaply, so that a run can wait for a part of its backlog.
type tally struct {
	mu       sync.Mutex
	first    map[string]time.Time // ref -> its first delivery's arrival
	byPrefix map[string]int       // distinct refs delivered, by ref prefix
	last     time.Time            // the latest delivery's arrival
}

func newTally() *tally {
	return &tally{first: map[string]time.Time{}, byPrefix: map[string]int{}}
}

func (t *tally) onCall(c sandbox.Call) {
	if !c.Accepted || c.Ref == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Time.After(t.last) {
		t.last = c.Time
	}
	if _, seen := t.first[c.Ref]; !seen {
		t.first[c.Ref] = c.Time
		t.byPrefix[refPrefix(c.Ref)]++
	}
}

// delivered counts the distinct refs delivered with the prefix, or all of
// them when prefix is "".
func (t *tally) delivered(prefix string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prefix == "" {
		return len(t.first)
	}
	return t.byPrefix[prefix]
}

// lastDelivery returns the latest delivery's arrival.
func (t *tally) lastDelivery() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// firstDelivery returns when a ref was first delivered.
func (t *tally) firstDelivery(ref string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.first[ref]
	return at, ok
}

// refPrefix is a ref up to its last '-': the batch it was enqueued with.
func refPrefix(ref string) string {
	if i := strings.LastIndexByte(ref, '-'); i > 0 {
		return ref[:i]
	}
	return ref
}

// schedRun is one run of a scheduling scenario: a private Redis, a sandbox
// that limits each access key on its own, an accounts file, and notifyd
// processes that can be stopped, killed and restarted.
type schedRun struct {
	h       *harness
	p       schedPlan
	mode    string
	st      *stack
	env     []string
	tally   *tally
	keyIDs  map[string]string // account -> the sandbox's KeyID
	expect  map[string]int    // ref prefix -> refs enqueued
	mu      sync.Mutex
	procs   []*workerProc
	started time.Time // the first process's start
}

// schedAccounts names n accounts of a run: a00, a01, … (a000… from 100).
func schedAccounts(n int) []string {
	out := make([]string, n)
	for i := range out {
		if n > 100 {
			out[i] = fmt.Sprintf("a%03d", i)
		} else {
			out[i] = accountName(i)
		}
	}
	return out
}

// newSchedRun starts the run's Redis and sandbox, and writes its accounts
// file: every account at calls per the plan's window, the plan's margin.
// wrap, when set, wraps the sandbox's handler; each of cfgs may change the
// sandbox's configuration.
func (h *harness) newSchedRun(ctx context.Context, name, mode string, accounts []string, calls, workers int,
	wrap func(http.Handler) http.Handler, cfgs ...func(*sandbox.Config)) (*schedRun, error) {
	p := newSchedPlan(h.opt.quick)
	r := &schedRun{h: h, p: p, mode: mode, tally: newTally(), keyIDs: map[string]string{}, expect: map[string]int{}}
	cfg := sandbox.Config{Limit: calls, Window: p.window, OnCall: r.tally.onCall}
	for _, f := range cfgs {
		f(&cfg)
	}
	st, err := h.newStack(ctx, name+"-"+mode, cfg, true, wrap)
	if err != nil {
		return nil, err
	}
	r.st = st
	var b strings.Builder
	b.WriteString("accounts:\n")
	for _, a := range accounts {
		ak, sk := schedKeys(a)
		fmt.Fprintf(&b, "  %s:\n    base_url: %s\n    access_key: %s\n    secret_key: %s\n    rate_limit: %s\n    rate_margin: %s\n",
			a, st.lsq.URL, ak, sk, p.rate(calls), p.margin)
		r.keyIDs[a] = sandboxKeyID(ak)
	}
	file := filepath.Join(st.dir, "accounts.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		st.close()
		return nil, err
	}
	r.env = append(st.env(workerEnv{accounts: file, concurrency: workers}), "NOTIFYD_SCHEDULER="+mode)
	return r, nil
}

// close stops the processes still running, then Redis and the sandbox.
func (r *schedRun) close() {
	r.mu.Lock()
	ps := append([]*workerProc(nil), r.procs...)
	r.mu.Unlock()
	stopAll(ps)
	r.st.close()
}

// campaign enqueues n lines with refs prefix-0… for the accounts in turn,
// as campaign name, and expects each delivered once.
func (r *schedRun) campaign(ctx context.Context, name, prefix string, n int, accounts ...string) error {
	c, err := enqueue.New(ctx, r.st.redis.URL)
	if err != nil {
		return err
	}
	defer c.Close()
	rep, err := c.Campaign(ctx, newAccountLines(prefix, n, accounts...), enqueue.CampaignOptions{Name: name, TempDir: r.st.dir})
	if err == nil && rep.Enqueued != n {
		err = fmt.Errorf("campaign %s enqueued %d of %d lines (%d duplicates, %d invalid)", name, rep.Enqueued, n, rep.Duplicates, rep.Invalid)
	}
	if err == nil {
		r.mu.Lock()
		r.expect[prefix] += n
		r.mu.Unlock()
	}
	return err
}

// spawn starts n notifyd processes with the run's environment.
func (r *schedRun) spawn(ctx context.Context, n int) error {
	ws, err := r.h.spawnN(ctx, n, kindNotifyd, r.env...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started.IsZero() {
		r.started = time.Now()
	}
	r.procs = append(r.procs, ws...)
	return nil
}

// proc returns the i-th process.
func (r *schedRun) proc(i int) *workerProc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.procs[i]
}

// stop sends the i-th process SIGTERM and waits for it to exit; it returns
// when it sent the signal.
func (r *schedRun) stop(i int) time.Time {
	at := time.Now()
	r.proc(i).Stop()
	return at
}

// kill kills the i-th process with SIGKILL, as kill -9 does.
func (r *schedRun) kill(i int) time.Time {
	at := time.Now()
	r.proc(i).Kill()
	return at
}

// restart starts a new process in the i-th one's place.
func (r *schedRun) restart(ctx context.Context, i int) error {
	w, err := r.h.spawn(ctx, kindNotifyd, r.env...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs[i] = w
	return nil
}

// waitFor polls cond every 20 ms until it holds, for at most timeout; it
// reports whether it held.
func (r *schedRun) waitFor(ctx context.Context, timeout time.Duration, cond func() bool) (bool, error) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return false, err
		}
	}
	return true, nil
}

// waitDelivered waits until n distinct refs with the prefix ("" any) were
// delivered, for at most timeout.
func (r *schedRun) waitDelivered(ctx context.Context, prefix string, n int, timeout time.Duration) (bool, error) {
	return r.waitFor(ctx, timeout, func() bool { return r.tally.delivered(prefix) >= n })
}

// expected is how many refs the run enqueued.
func (r *schedRun) expected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.expect {
		n += v
	}
	return n
}

// drainTime bounds a drain of n calls at calls per window by one account:
// half as long again, and 20 s for start-up.
func (p schedPlan) drainTime(n, calls int) time.Duration {
	return time.Duration(n)*p.pace(calls)*3/2 + 20*time.Second
}

// Kill kills the worker with SIGKILL, as kill -9 does, and waits for it to
// exit; a later Stop does nothing.
func (w *workerProc) Kill() {
	w.once.Do(func() {
		_ = w.cmd.Process.Kill()
		<-w.exited
	})
}
