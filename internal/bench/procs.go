package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// workerProc is a worker process: the notifybench binary re-executed in its
// hidden worker mode (see worker.go).
type workerProc struct {
	Kind  workerKind
	Name  string
	Log   string
	stats string // http://addr/stats

	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

var procSeq atomic.Int64

// ownedEnv lists the variables the workers read: the harness sets them, and
// never passes on the caller's.
var ownedEnv = []string{"REDIS_URL", "LSQ_", "NOTIFYD_", "LOG_", "BENCH_"}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range ownedEnv {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// spawn starts a worker process of the given kind with env added to a clean
// environment, and returns once its workers run (its stats endpoint answers).
func (h *harness) spawn(ctx context.Context, kind workerKind, env ...string) (*workerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := procSeq.Add(1)
	w := &workerProc{Kind: kind, Name: fmt.Sprintf("%s-%d", kind, n), exited: make(chan struct{}),
		stats: "http://127.0.0.1:" + strconv.Itoa(port) + "/stats"}
	w.Log = filepath.Join(h.dir, w.Name+".log")
	logf, err := os.Create(w.Log)
	if err != nil {
		return nil, err
	}
	w.cmd = exec.Command(h.self, workerArg, string(kind))
	w.cmd.Env = append(append(cleanEnv(), env...), envStatsAddr+"=127.0.0.1:"+strconv.Itoa(port))
	if h.opt.profile != "" {
		w.cmd.Env = append(w.cmd.Env, envCPUProfile+"="+filepath.Join(h.opt.profile, w.Name+".pprof"))
	}
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	w.cmd.SysProcAttr = childAttr()
	if err := w.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start worker %s: %w", w.Name, err)
	}
	go func() { _ = w.cmd.Wait(); _ = logf.Close(); close(w.exited) }()
	h.track(w)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := w.Stats(ctx); err == nil {
			return w, nil
		}
		select {
		case <-w.exited:
			return nil, fmt.Errorf("worker %s exited at start: %s", w.Name, tailFile(w.Log, 800))
		case <-ctx.Done():
			w.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.Stop()
			return nil, fmt.Errorf("worker %s did not start within 30s: %s", w.Name, tailFile(w.Log, 800))
		}
	}
}

// spawnN starts n workers of a kind at once.
func (h *harness) spawnN(ctx context.Context, n int, kind workerKind, env ...string) ([]*workerProc, error) {
	out := make([]*workerProc, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); out[i], errs[i] = h.spawn(ctx, kind, env...) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			stopAll(out)
			return nil, err
		}
	}
	return out, nil
}

// workerStats is what a worker process reports on its stats endpoint.
type workerStats struct {
	// Commands counts the Redis commands the process sent (each command of
	// a pipeline counts); RoundTrips counts the requests (a pipeline is one).
	Commands   int64 `json:"commands"`
	RoundTrips int64 `json:"round_trips"`
	// Handled counts handler runs and Limited the runs a baseline's own
	// limiter refused (RateLimitError): the retry churn.
	Handled int64 `json:"handled"`
	Limited int64 `json:"limited"`
}

// Stats reads the worker's counters.
func (w *workerProc) Stats(ctx context.Context) (workerStats, error) {
	var st workerStats
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.stats, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// sumStats adds up the counters of several workers.
func sumStats(ctx context.Context, ws []*workerProc) (workerStats, error) {
	var sum workerStats
	for _, w := range ws {
		st, err := w.Stats(ctx)
		if err != nil {
			return sum, fmt.Errorf("worker %s: %w", w.Name, err)
		}
		sum.Commands += st.Commands
		sum.RoundTrips += st.RoundTrips
		sum.Handled += st.Handled
		sum.Limited += st.Limited
	}
	return sum, nil
}

// RSS reads the process's resident set size (VmRSS) in bytes.
func (w *workerProc) RSS() (int64, error) { return w.statusBytes("VmRSS") }

// PeakRSS reads the largest resident set size the process has had (VmHWM) in bytes.
func (w *workerProc) PeakRSS() (int64, error) { return w.statusBytes("VmHWM") }

// statusBytes reads a kB field of /proc/PID/status, in bytes.
func (w *workerProc) statusBytes(field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(w.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, w.cmd.Process.Pid)
}

// Stop asks the worker to shut down (SIGTERM) and kills it if it has not
// exited within 5 s. Safe to call twice.
func (w *workerProc) Stop() {
	if w == nil {
		return
	}
	w.once.Do(func() {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.exited:
		case <-time.After(5 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	})
}

// stopAll stops workers in parallel.
func stopAll(ws []*workerProc) {
	var wg sync.WaitGroup
	for _, w := range ws {
		if w != nil {
			wg.Add(1)
			go func() { defer wg.Done(); w.Stop() }()
		}
	}
	wg.Wait()
}
