package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
)

// The keys of the single-account scenarios (the sandbox accepts only these).
const (
	benchAccess = "bench-access-key-0001"
	benchSecret = "bench-secret-key-0001"
)

// stack is one run's private Redis and sandbox.
type stack struct {
	h     *harness
	dir   string
	redis *redisServer
	lsq   *lsq
}

// newStack starts a private redis-server and a sandbox with cfg (keys
// benchAccess/benchSecret unless cfg leaves both keys out on purpose with
// anyKeys).
func (h *harness) newStack(ctx context.Context, name string, cfg sandbox.Config, anyKeys bool, wrap func(http.Handler) http.Handler) (*stack, error) {
	dir, err := h.subdir(name)
	if err != nil {
		return nil, err
	}
	s := &stack{h: h, dir: dir}
	if s.redis, err = startRedis(ctx, dir); err != nil {
		return nil, err
	}
	h.trackRedis(s.redis)
	if !anyKeys {
		cfg.AccessKey, cfg.SecretKey = benchAccess, benchSecret
	}
	cfg.MaxCalls = max(cfg.MaxCalls, 300_000)
	if s.lsq, err = startLSQ(cfg, wrap); err != nil {
		s.redis.Stop()
		return nil, err
	}
	return s, nil
}

// close stops the sandbox and Redis (workers are stopped by their runs);
// with --keep it first saves the calls.
func (s *stack) close() {
	if s.h.opt.keep {
		if b, err := json.Marshal(s.lsq.Calls()); err == nil {
			_ = os.WriteFile(filepath.Join(s.dir, "calls.json"), b, 0o600)
		}
	}
	s.lsq.Close()
	s.redis.Stop()
}

// workerEnv is a worker's environment: notifyd's variables, which the
// baselines read too.
type workerEnv struct {
	rate        string        // LSQ_RATE_LIMIT, e.g. 25/5s
	margin      time.Duration // LSQ_RATE_MARGIN
	concurrency int
	accounts    string // LSQ_ACCOUNTS_FILE instead of the default keys
	recipeRate  string // the recipe's per-process limiter
	retryIn     time.Duration
}

func (s *stack) env(e workerEnv) []string {
	out := []string{
		"REDIS_URL=" + s.redis.URL,
		"LSQ_API_BASE_URL=" + s.lsq.URL,
		"NOTIFYD_CONCURRENCY=" + strconv.Itoa(e.concurrency),
		"NOTIFYD_HTTP_ADDR=off",
		"NOTIFYD_SHUTDOWN_TIMEOUT=15s", // above the call timeout (10s) and the result's write
		"LOG_LEVEL=warn",
	}
	if e.accounts != "" {
		out = append(out, "LSQ_ACCOUNTS_FILE="+e.accounts)
	} else {
		out = append(out, "LSQ_ACCESS_KEY="+benchAccess, "LSQ_SECRET_KEY="+benchSecret)
	}
	if e.rate != "" {
		out = append(out, "LSQ_RATE_LIMIT="+e.rate)
	}
	if e.margin > 0 {
		out = append(out, "LSQ_RATE_MARGIN="+e.margin.String())
	}
	if e.recipeRate != "" {
		out = append(out, envRecipeRate+"="+e.recipeRate)
	}
	if e.retryIn > 0 {
		out = append(out, envRetryIn+"="+e.retryIn.String())
	}
	return out
}

// snapshot is the Redis and worker counters at one moment.
type snapshot struct {
	at       time.Time
	info     redisInfo
	workers  workerStats
	accepted int
	limited  int
}

func (s *stack) snapshot(ctx context.Context, ws []*workerProc) (snapshot, error) {
	st := s.lsq.Stats()
	snap := snapshot{at: time.Now(), accepted: st.Accepted, limited: st.RateLimited}
	var err error
	if snap.info, err = s.redis.info(ctx); err != nil {
		return snap, err
	}
	snap.workers, err = sumStats(ctx, ws)
	return snap, err
}

// cost is what the deliveries between two snapshots cost.
type cost struct {
	delivered   int
	rateLimited int
	// per delivery:
	commands    float64 // INFO commandstats (Lua's commands included)
	clientCmds  float64 // commands the workers sent
	roundTrips  float64
	handlerRuns float64
	redisCPU    time.Duration
	byCommand   map[string]float64
	elapsed     time.Duration
}

func costBetween(a, b snapshot) (cost, error) {
	c := cost{delivered: b.accepted - a.accepted, rateLimited: b.limited - a.limited, elapsed: b.at.Sub(a.at)}
	if c.delivered <= 0 {
		return c, fmt.Errorf("nothing was delivered in %s", c.elapsed.Round(time.Millisecond))
	}
	d := float64(c.delivered)
	c.commands = float64(b.info.TotalCommands()-a.info.TotalCommands()) / d
	c.clientCmds = float64(b.workers.Commands-a.workers.Commands) / d
	c.roundTrips = float64(b.workers.RoundTrips-a.workers.RoundTrips) / d
	c.handlerRuns = float64(b.workers.Handled-a.workers.Handled) / d
	c.redisCPU = (b.info.CPU - a.info.CPU) / time.Duration(c.delivered)
	c.byCommand = map[string]float64{}
	for k, v := range b.info.Sub(a.info) {
		c.byCommand[k] = float64(v) / d
	}
	return c, nil
}

// measureCost waits until warm deliveries were made, then measures the cost
// of the deliveries made in period.
func (s *stack) measureCost(ctx context.Context, ws []*workerProc, warm int, period time.Duration) (cost, error) {
	if _, err := s.waitDeliveries(ctx, warm, 60*time.Second); err != nil {
		return cost{}, err
	}
	a, err := s.snapshot(ctx, ws)
	if err != nil {
		return cost{}, err
	}
	if err := sleep(ctx, period); err != nil {
		return cost{}, err
	}
	b, err := s.snapshot(ctx, ws)
	if err != nil {
		return cost{}, err
	}
	return costBetween(a, b)
}

// waitDeliveries waits until the sandbox accepted n notifications (retries
// of one ref included), or timeout.
func (s *stack) waitDeliveries(ctx context.Context, n int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got := s.lsq.acceptedCount()
		if got >= n {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("only %d of %d deliveries within %s", got, n, timeout)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return got, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
