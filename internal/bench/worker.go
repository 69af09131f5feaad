package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/notifyd"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// workerArg is the hidden first argument that runs notifybench as a worker
// process instead of the harness.
const workerArg = "__worker"

// workerKind names what a worker process runs.
type workerKind string

const (
	// kindNotifyd is the project: internal/notifyd configured from the
	// environment exactly as the notifyd binary is.
	kindNotifyd workerKind = "notifyd"
	// kindRecipe is asynq's documented per-process rate-limit recipe: a
	// golang.org/x/time/rate limiter in the handler, which returns a
	// RateLimitError when the limiter says no; Config.IsFailure excludes that
	// error and RetryDelayFunc returns its RetryIn.
	kindRecipe workerKind = "recipe"
	// kindPlain is a plain asynq handler making the same LeadSquared call,
	// with asynq's defaults and no limiter.
	kindPlain workerKind = "plain"
)

// Environment of the baseline workers (besides REDIS_URL, LSQ_ACCESS_KEY,
// LSQ_SECRET_KEY, LSQ_API_BASE_URL and NOTIFYD_CONCURRENCY, read as notifyd
// reads them).
const (
	// envRecipeRate is the recipe's per-process limiter, "N/duration": a
	// token bucket of N tokens refilled at N per duration.
	envRecipeRate = "BENCH_RECIPE_RATE"
	// envRetryIn bounds the recipe's RetryIn, drawn uniformly below it (the
	// wiki draws 0-9 s for a 10/s limiter); a 429 from LeadSquared retries
	// after this much.
	envRetryIn = "BENCH_RETRY_IN"
	// envStatsAddr is where a worker serves its counters.
	envStatsAddr = "BENCH_STATS_ADDR"
	// envCPUProfile, when set, is where a worker writes its CPU profile.
	envCPUProfile = "BENCH_CPUPROFILE"
)

// runWorker runs a worker process until SIGTERM or SIGINT.
func runWorker(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "notifybench %s: want one kind (notifyd, recipe or plain)\n", workerArg)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if path := os.Getenv(envCPUProfile); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
		}
	}
	c := &counter{}
	var stopWorkers func()
	var err error
	switch workerKind(args[0]) {
	case kindNotifyd:
		stopWorkers, err = startProject(ctx, c, stderr)
	case kindRecipe, kindPlain:
		stopWorkers, err = startBaseline(workerKind(args[0]), c)
	default:
		err = fmt.Errorf("unknown worker kind %q", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "notifybench worker: %v\n", err)
		return 2
	}
	defer stopWorkers()
	l, err := net.Listen("tcp", os.Getenv(envStatsAddr))
	if err != nil {
		fmt.Fprintf(stderr, "notifybench worker: stats listener: %v\n", err)
		return 2
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	<-ctx.Done()
	_ = srv.Close()
	return 0
}

// counter counts a worker process's Redis commands (a go-redis hook on
// every client the workers use) and its handler runs, and serves them.
type counter struct {
	commands, trips, handled, limited atomic.Int64
}

func (c *counter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(workerStats{Commands: c.commands.Load(), RoundTrips: c.trips.Load(),
		Handled: c.handled.Load(), Limited: c.limited.Load()})
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.commands.Add(1)
		c.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.commands.Add(int64(len(cmds)))
		c.trips.Add(1)
		return next(ctx, cmds)
	}
}

// client returns a go-redis client of url with the counting hook.
func (c *counter) client(url string) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	rc := redis.NewClient(o)
	rc.AddHook(c)
	return rc, nil
}

// connOpt hands a prepared client to asynq.NewServer, which then owns it.
type connOpt struct{ c redis.UniversalClient }

func (o connOpt) MakeRedisClient() any { return o.c }

// startProject starts internal/notifyd from the environment, as the notifyd
// binary does, with the workers' Redis clients swapped for counted ones.
func startProject(ctx context.Context, c *counter, stderr io.Writer) (func(), error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	var swapErr error
	opts := notifyd.Options{Worker: func(w *worker.Config) {
		q, err1 := c.client(cfg.RedisURL)
		r, err2 := c.client(cfg.RedisURL)
		if swapErr = errors.Join(err1, err2); swapErr == nil {
			w.Queue, w.Redis = connOpt{q}, r
		}
	}}
	p, err := notifyd.Start(ctx, cfg, notifyd.NewLogger(cfg, stderr), opts)
	if err != nil {
		return nil, err
	}
	if swapErr != nil {
		p.Stop()
		return nil, swapErr
	}
	return p.Stop, nil
}

// startBaseline starts an asynq server with the recipe's or the plain
// handler, and releases the bulk tasks from their groups (worker.ReleaseAll).
func startBaseline(kind workerKind, c *counter) (func(), error) {
	base := os.Getenv(config.EnvAPIBaseURL)
	lc, err := leadsquared.NewClient(leadsquared.Config{BaseURL: base,
		AccessKey: os.Getenv(config.EnvAccessKey), SecretKey: os.Getenv(config.EnvSecretKey)})
	if err != nil {
		return nil, err
	}
	conc, _ := strconv.Atoi(os.Getenv(config.EnvConcurrency))
	rc, err := c.client(os.Getenv(config.EnvRedisURL))
	if err != nil {
		return nil, err
	}
	retryIn, err := time.ParseDuration(cmpOr(os.Getenv(envRetryIn), "5s"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envRetryIn, err)
	}
	h := &baseHandler{client: lc, count: c, retryIn: retryIn}
	cfg := asynq.Config{Concurrency: max(conc, 1), Queues: tasks.Queues, StrictPriority: true,
		LogLevel: asynq.WarnLevel}
	if kind == kindRecipe {
		calls, window, err := parseRate(os.Getenv(envRecipeRate))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envRecipeRate, err)
		}
		// As the wiki's recipe: a token bucket with the limit as its burst.
		h.lim = rate.NewLimiter(rate.Limit(calls/window.Seconds()), max(int(calls), 1))
		cfg.IsFailure = func(err error) bool { return !isRateLimitError(err) }
		cfg.RetryDelayFunc = retryDelay
		// The project's poll intervals (worker.Config defaults), so that
		// only the way of limiting differs.
		cfg.TaskCheckInterval = 150 * time.Millisecond
		cfg.DelayedTaskCheckInterval = time.Second
	}
	srv := asynq.NewServer(connOpt{rc}, cfg)
	if err := srv.Start(h); err != nil {
		return nil, err
	}
	// No dispatch scheduler runs here: bulk tasks leave their groups at
	// once, in one FIFO line, as they did before groups existed.
	// (Not counted with the handler's commands: the release stands in for
	// the producer-side FIFO the baseline had.)
	ro, err := redis.ParseURL(os.Getenv(config.EnvRedisURL))
	if err != nil {
		return nil, err
	}
	rel := redis.NewClient(ro)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			_, _ = worker.ReleaseAll(ctx, rel)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done; _ = rel.Close(); srv.Shutdown() }, nil
}

// rateLimitError is the recipe's RateLimitError.
type rateLimitError struct{ RetryIn time.Duration }

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("rate limited (retry in %v)", e.RetryIn)
}

func isRateLimitError(err error) bool {
	var e *rateLimitError
	return errors.As(err, &e)
}

func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	var e *rateLimitError
	if errors.As(err, &e) {
		return e.RetryIn
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// baseHandler makes the same LeadSquared call as the project's handler,
// from the same payload, without the project's limiter, refs or results.
type baseHandler struct {
	client  *leadsquared.Client
	lim     *rate.Limiter // nil: plain
	retryIn time.Duration
	count   *counter
}

func (h *baseHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	h.count.handled.Add(1)
	if h.lim != nil && !h.lim.Allow() {
		h.count.limited.Add(1)
		return &rateLimitError{RetryIn: time.Duration(rand.Int64N(int64(h.retryIn)))}
	}
	kind, ok := tasks.KindOf(t.Type())
	if !ok {
		return fmt.Errorf("unknown task type %q: %w", t.Type(), asynq.SkipRetry)
	}
	var err error
	if kind == tasks.KindPush {
		var p tasks.PushPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		_, err = h.client.SendPush(leadsquared.WithRequestID(ctx, p.Ref), p.Body)
	} else {
		var p tasks.SystemPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		_, err = h.client.SendSystem(leadsquared.WithRequestID(ctx, p.Ref), p.Body)
	}
	switch leadsquared.Classify(err) {
	case leadsquared.KindRateLimited:
		// Not in the recipe, which has no answer to LeadSquared's own 429:
		// the kindest reading waits and does not count a failure.
		if h.lim == nil {
			return err
		}
		return &rateLimitError{RetryIn: h.retryIn}
	case leadsquared.KindPermanent:
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

// parseRate reads "N/duration", e.g. 25/5s; N may have decimals (a limit
// split among processes).
func parseRate(s string) (float64, time.Duration, error) {
	n, d, ok := strings.Cut(s, "/")
	calls, err1 := strconv.ParseFloat(n, 64)
	window, err2 := time.ParseDuration(d)
	if !ok || err1 != nil || err2 != nil || !(calls > 0) || window <= 0 {
		return 0, 0, fmt.Errorf("%q is not N/duration such as 25/5s", s)
	}
	return calls, window, nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
