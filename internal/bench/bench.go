package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/internal/cmdline"
)

// Main runs notifybench with args (without the program name) and returns
// its exit code. Its help goes to stderr, as before.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == workerArg {
		return runWorker(args[1:], stderr)
	}
	var o options
	var only string
	cmd := &cobra.Command{
		Use:   "notifybench [flags]",
		Short: "Measure lsqdispatch against its baselines",
		Long: `notifybench measures lsqdispatch against its baselines and writes a Markdown table.

It starts its own redis-server (a free loopback port, no persistence) and
LeadSquared sandbox, and re-executes itself for worker processes; it stops
them all at exit, also on Ctrl-C. It never uses REDIS_URL or a shared Redis.

Exit codes: 0 done; 1 the harness failed (a scenario could not run); 2 usage;
3 a target was missed under --strict.` + cmdline.Environment(),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected arguments %q", args)
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error { return cmdline.Exit(run(o, only, args, stdout, stderr), nil) },
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.quick, "quick", false, "tiny sizes and scaled windows, under a minute: a smoke test; targets are not asserted")
	fs.StringVar(&o.out, "out", "", "also write the Markdown table to `FILE.md` (stdout always gets it)")
	fs.StringVar(&o.json, "json", "", "write the figures as JSON to `FILE`")
	fs.StringVar(&only, "only", "", "run only these scenarios, comma-separated: "+strings.Join(scenarioIDs(), ","))
	fs.DurationVar(&o.timeout, "timeout", 0, "bound the whole run (default 2m quick, 60m full)")
	fs.BoolVar(&o.strict, "strict", false, "exit 3 when a target is missed (full mode only)")
	fs.BoolVarP(&o.verbose, "v", "v", false, "log progress to stderr")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (worker logs, each run's calls as calls.json) and print its path")
	fs.StringVar(&o.profile, "profile", "", "write each worker process's CPU profile into this `directory`")
	fs.DurationVar(&o.window, "window", 0, "the scaled window of scenarios 1, 2 and 8 (default 1s; LeadSquared's is 5s)")
	fs.DurationVar(&o.margin, "margin", 0, "LSQ_RATE_MARGIN in those scenarios (default: the window / 50, as 100ms is of 5s)")
	cmdline.KeepGoFlagSyntax(cmd)
	return cmdline.Execute(context.Background(), cmd, args, stderr, stderr, nil)
}

// run is notifybench once its flags are read; args are the command line,
// for the report.
func run(o options, only string, args []string, stdout, stderr io.Writer) int {
	if only != "" {
		o.only = map[string]bool{}
		known := map[string]bool{}
		for _, id := range scenarioIDs() {
			known[id] = true
		}
		for _, id := range strings.Split(only, ",") {
			id = strings.TrimSpace(id)
			if !known[id] {
				fmt.Fprintf(stderr, "notifybench: unknown scenario %q (known: %s)\n", id, strings.Join(scenarioIDs(), ","))
				return 2
			}
			o.only[id] = true
		}
	}
	if o.timeout == 0 {
		o.timeout = 60 * time.Minute
		if o.quick {
			o.timeout = 2 * time.Minute
		}
	}
	o.command = "notifybench " + strings.Join(args, " ")

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	h, err := newHarness(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "notifybench: %v\n", err)
		return 1
	}
	defer h.cleanup()
	// The first SIGINT or SIGTERM stops the run (each scenario stops its
	// processes as it unwinds); a second kills everything at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		fmt.Fprintln(stderr, "notifybench: interrupted: stopping the workers and redis-server (again to kill at once)")
		cancel()
		if _, ok := <-sigs; ok {
			h.cleanup()
			os.Exit(130)
		}
	}()

	rep := h.run(ctx)
	var errs []error
	if err := rep.WriteMarkdown(stdout); err != nil {
		errs = append(errs, err)
	}
	if o.out != "" {
		errs = append(errs, writeFile(o.out, rep.WriteMarkdown))
	}
	if o.json != "" {
		errs = append(errs, writeFile(o.json, rep.WriteJSON))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "notifybench: %v\n", err)
		return 1
	}
	failed := false
	for _, s := range rep.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(stderr, "notifybench: scenario %s (%s) failed: %s\n", s.ID, s.Title, s.Error)
			failed = true
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "notifybench: stopped: %v\n", context.Cause(ctx))
		failed = true
	}
	if failed {
		return 1
	}
	if missed := rep.missed(); len(missed) > 0 && !o.quick {
		fmt.Fprintf(stderr, "notifybench: targets missed:\n  %s\n", strings.Join(missed, "\n  "))
		if o.strict {
			return 3
		}
	}
	return 0
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

type options struct {
	quick, strict, verbose bool
	keep                   bool
	profile                string
	window, margin         time.Duration
	out, json              string
	only                   map[string]bool
	timeout                time.Duration
	command                string
}

// harness runs the scenarios and owns every process it starts.
type harness struct {
	opt   options
	plan  plan
	dir   string
	self  string
	log   io.Writer
	start time.Time

	mu      sync.Mutex
	workers []*workerProc
	redises []*redisServer
	closed  bool
}

func newHarness(o options, stderr io.Writer) (*harness, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find my own binary to run workers: %w", err)
	}
	dir, err := os.MkdirTemp("", "notifybench-")
	if err != nil {
		return nil, err
	}
	p := newPlan(o.quick)
	if o.window > 0 {
		p.window, p.margin = o.window, o.window/50
	}
	if o.margin > 0 {
		p.margin = o.margin
	}
	h := &harness{opt: o, plan: p, dir: dir, self: self, log: io.Discard, start: time.Now()}
	if o.verbose {
		h.log = stderr
	}
	return h, nil
}

// logf logs progress (with -v).
func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "[%6.1fs] "+format+"\n", append([]any{time.Since(h.start).Seconds()}, args...)...)
}

func (h *harness) track(w *workerProc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.workers = append(h.workers, w)
}

func (h *harness) trackRedis(r *redisServer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redises = append(h.redises, r)
}

// cleanup kills every process still running and removes the temp dir.
func (h *harness) cleanup() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	ws, rs := h.workers, h.redises
	h.mu.Unlock()
	for _, w := range ws {
		if w.cmd.Process != nil {
			_ = w.cmd.Process.Kill()
		}
	}
	for _, r := range rs {
		r.Stop()
	}
	if h.opt.keep {
		fmt.Fprintf(h.log, "notifybench: kept %s\n", h.dir)
		return
	}
	_ = os.RemoveAll(h.dir)
}

// run runs the selected scenarios in order. In quick mode it runs them in
// two lanes at once (each lane in order), then the solo ones alone: the
// figures are indicative there, and CI's minute is short.
func (h *harness) run(ctx context.Context) *Report {
	mode := "full"
	if h.opt.quick {
		mode = "quick"
	}
	rep := &Report{Mode: mode, Started: h.start, Machine: machine(), Command: h.opt.command}
	var selected []scenario
	for _, s := range scenarios {
		if h.opt.only == nil && h.opt.quick && quickSkip[s.id] {
			continue
		}
		if h.opt.only == nil || h.opt.only[s.id] {
			selected = append(selected, s)
		}
	}
	results := make([]*Result, len(selected))
	runOne := func(i int) {
		s := selected[i]
		if ctx.Err() != nil {
			return
		}
		res := &Result{ID: s.num, Title: s.title}
		h.logf("scenario %s (%s): start", s.num, s.id)
		t0 := time.Now()
		if err := s.run(ctx, h, res); err != nil {
			res.Error = err.Error()
		}
		res.Duration = time.Since(t0).Round(100 * time.Millisecond).String()
		h.logf("scenario %s (%s): done in %s %s", s.num, s.id, res.Duration, res.Error)
		results[i] = res
	}
	if !h.opt.quick {
		for i := range selected {
			runOne(i)
		}
	} else {
		lanes := map[int][]int{}
		var solo []int
		for i, s := range selected {
			if s.lane < 0 {
				solo = append(solo, i)
			} else {
				lanes[s.lane] = append(lanes[s.lane], i)
			}
		}
		var wg sync.WaitGroup
		for _, lane := range lanes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, i := range lane {
					runOne(i)
				}
			}()
		}
		wg.Wait()
		for _, i := range solo {
			runOne(i)
		}
	}
	for _, r := range results {
		if r != nil {
			rep.Scenarios = append(rep.Scenarios, r)
		}
	}
	rep.Duration = time.Since(h.start).Round(time.Second).String()
	rep.Machine.LoadEnd = loadAvg()
	return rep
}

// scenario is one benchmark.
type scenario struct {
	id, num, title string
	run            func(ctx context.Context, h *harness, res *Result) error
	// lane groups the scenarios quick mode runs one after the other, beside
	// the other lanes; -1 runs alone, after them.
	lane int
}

var scenarios = []scenario{
	{"limit", "1", "Limit held", limitHeld, 0},
	{"rediscost", "2", "Redis cost", redisCost, 1},
	{"priority", "3", "Priority", priority, 1},
	{"idle", "4", "Idle latency", idleLatency, 1},
	{"enqueue", "5", "Enqueue", enqueueRate, 1},
	{"footprint", "6", "Footprint", footprint, 1},
	{"overhead", "7", "Overhead, limit lifted", overhead, -1},
	{"scale", "8a", "Scale: backlog size", scale, 1},
	{"accounts", "8b", "Scale: many accounts", manyAccounts, 0},
	{"sched-burst", "9a", "Scheduling: another account's batch", schedBurst, 2},
	{"sched-campaigns", "9b", "Scheduling: a later campaign", schedCampaigns, 2},
	{"sched-stops", "9c", "Scheduling: clean stops mid-drain", schedStops, 2},
	{"sched-kill", "9d", "Scheduling: kill -9 mid-drain", schedKill, 2},
	{"sched-accounts", "9e", "Scheduling: many Lite accounts", schedManyAccounts, 2},
	{"sched-cooldown", "9f", "Scheduling: a 1 h cool-down", schedCooldown, 2},
}

func scenarioIDs() []string {
	out := make([]string, len(scenarios))
	for i, s := range scenarios {
		out[i] = s.id
	}
	return out
}

// each runs fn for every item: at once in quick mode, where the figures
// are indicative and time is short, else one after the other, so that runs
// never share the CPU.
func each[T any](h *harness, items []T, fn func(T) error) error {
	if !h.opt.quick {
		var errs []error
		for _, it := range items {
			errs = append(errs, fn(it))
		}
		return errors.Join(errs...)
	}
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(it) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pair runs fn for the project's side and for the baseline's, at once or one
// after the other as each does, and returns both results; err joins both
// errors.
func pair[K, T any](h *harness, project, baseline K, fn func(K) (T, error)) (p, b T, err error) {
	err = each(h, []bool{true, false}, func(isProject bool) error {
		var e error
		if isProject {
			p, e = fn(project)
		} else {
			b, e = fn(baseline)
		}
		return e
	})
	return p, b, err
}

// subdir makes a fresh directory under the harness's temp dir.
func (h *harness) subdir(name string) (string, error) {
	return os.MkdirTemp(h.dir, filepath.Base(name)+"-")
}
