package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Queue is asynq's Redis connection (required).
	Queue asynq.RedisConnOpt
	// Redis is the client of the limiter, halts and refs (required); the same Redis as Queue.
	// New adds a dial hook to it, so that the limiter notices a failover;
	// go-redis does not synchronise AddHook with commands, so build the
	// Server before the client is in use.
	Redis redis.UniversalClient
	// Accounts are the LeadSquared accounts this process delivers for (at least one).
	Accounts []Account
	// Concurrency is the number of workers of this process, across both lanes (default 10).
	Concurrency int
	// ShutdownTimeout bounds a graceful shutdown (default 15s, or the
	// longest call timeout plus 5s when that is longer). It must exceed
	// every account's call timeout plus ResultWriteAllowance: asynq hands
	// back a task still running when it ends, and a call still in flight
	// would then be sent again.
	ShutdownTimeout time.Duration
	// ProbeInterval is how often a halted account's keys are probed (default 30s).
	ProbeInterval time.Duration
	// TaskCheckInterval is how often an idle worker polls the queues (default 150ms).
	TaskCheckInterval time.Duration
	// ForwardInterval is how often due scheduled and retry tasks are moved to their queue (default 1s).
	ForwardInterval time.Duration
	// Backoff is the retry schedule of transient failures.
	Backoff Backoff
	// Scheduler is how bulk work reaches the workers (default SchedulerFair).
	Scheduler Scheduler
	// DeadLetterSweepInterval is how often one process checks the
	// dead-letter records against asynq's archive (default 1m).
	DeadLetterSweepInterval time.Duration
	// ResendUnconfirmed retries a notification whose 2xx answer is not
	// LeadSquared's (a proxy rewrote it, it was cut short) as a transient
	// failure, at the risk of delivering it twice. Default false: it is
	// recorded as delivered_unconfirmed and not sent again.
	ResendUnconfirmed bool
	// EventsMaxLen caps the event stream, in entries (default
	// events.DefaultMaxLen, about a million).
	EventsMaxLen int64
	// Logger receives one line per attempt and the server's events.
	Logger zerolog.Logger
	// Metrics receives the server's metrics (default: unregistered).
	Metrics *Metrics
}

// Server runs the notification workers of one process.
type Server struct {
	cfg     Config
	asynq   *asynq.Server
	handler *handler
	halts   *halts
	kinds   *kindHalts
	dead    *deadLetters
	refs    *retention
	sched   *dispatcher
	stop    chan struct{}
	cancel  context.CancelFunc
	// schedCancel stops the dispatch scheduler, first at shutdown.
	schedCancel context.CancelFunc
	wg          sync.WaitGroup
	once        sync.Once
}

// New validates cfg and builds a Server; Start runs it.
func New(cfg Config) (*Server, error) {
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 10)
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, max(15*time.Second, longestCall(cfg.Accounts)+5*time.Second))
	cfg.ProbeInterval = cmp.Or(cfg.ProbeInterval, 30*time.Second)
	cfg.TaskCheckInterval = cmp.Or(cfg.TaskCheckInterval, 150*time.Millisecond)
	cfg.ForwardInterval = cmp.Or(cfg.ForwardInterval, time.Second)
	cfg.Scheduler = cmp.Or(cfg.Scheduler, SchedulerFair)
	cfg.DeadLetterSweepInterval = cmp.Or(cfg.DeadLetterSweepInterval, time.Minute)
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	accounts := make(map[string]*Account, len(cfg.Accounts))
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if a.Policy.Margin == 0 {
			a.Policy.Margin = DefaultPolicy.Margin
		}
		accounts[a.Name] = a
		cfg.Metrics.RateCalls.WithLabelValues(a.Name).Set(float64(a.Policy.Rate.Calls))
		cfg.Metrics.RateWindow.WithLabelValues(a.Name).Set(a.Policy.Rate.Window.Seconds())
		cfg.Metrics.Halted.WithLabelValues(a.Name).Set(0)
		// Counters start at 0, so that the first 429 shows in increase().
		cfg.Metrics.RateLimited.WithLabelValues(a.Name).Add(0)
		cfg.Metrics.Cooldowns.WithLabelValues(a.Name).Add(0)
	}
	s := &Server{cfg: cfg, stop: make(chan struct{})}
	limiter := NewLimiter(cfg.Redis)
	limiter.onSwitch = func(from, to string) {
		cfg.Logger.Warn().Str("from", from).Str("to", to).
			Msg("Redis server changed (a failover?): the limiter grants nothing for one window, whose last bookings may be lost")
	}
	limiter.watchServer(cfg.Redis)
	s.sched = newDispatcher(cfg.Redis, cfg.Logger, cfg.Metrics, cfg.Scheduler)
	if cfg.Scheduler == SchedulerFIFO {
		limiter.appendOnly, limiter.maxWait = true, nil
	} else {
		limiter.booked = s.sched.hold
		limiter.freed = func(account string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s.sched.wake(ctx, account)
		}
	}
	s.refs = newRetention(cfg.Redis, cfg.Logger)
	park := newParked(cfg.Redis, cfg.Logger, cfg.ProbeInterval)
	s.halts = &halts{rdb: cfg.Redis, log: cfg.Logger, metrics: cfg.Metrics, accounts: accounts,
		limiter: limiter, interval: cfg.ProbeInterval, halted: map[string]string{},
		resumed: func(ctx context.Context, account string) {
			s.sched.wake(ctx, account)
			park.unpark(ctx, account, parkAccount)
		}}
	s.dead = &deadLetters{rdb: cfg.Redis, log: cfg.Logger, interval: cfg.DeadLetterSweepInterval, now: time.Now}
	s.kinds = newKindHalts(cfg.Redis, cfg.Logger, cfg.Metrics, accounts, limiter, cfg.ProbeInterval)
	s.kinds.resumed = func(ctx context.Context, account string, kind tasks.Kind) { park.unpark(ctx, account, string(kind)) }
	s.handler = &handler{accounts: accounts, limiter: limiter, refs: s.refs, halts: s.halts, kinds: s.kinds, parked: park, dead: s.dead,
		sched: s.sched, camps: newCampaigns(campaign.New(cfg.Redis, cfg.EventsMaxLen)), rdb: cfg.Redis, log: cfg.Logger, metrics: cfg.Metrics, stop: s.stop,
		probe: cfg.ProbeInterval, now: time.Now, resendUnconfirmed: cfg.ResendUnconfirmed}
	s.asynq = asynq.NewServer(cfg.Queue, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   tasks.Queues,
		StrictPriority:           true,
		IsFailure:                IsFailure,
		RetryDelayFunc:           cfg.Backoff.RetryDelay(),
		ShutdownTimeout:          cfg.ShutdownTimeout,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: cfg.ForwardInterval,
		Logger:                   newAsynqLogger(cfg.Logger),
		LogLevel:                 asynq.WarnLevel,
	})
	return s, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Queue == nil {
		errs = append(errs, errors.New("worker: Queue (asynq's Redis connection) is required"))
	}
	if c.Redis == nil {
		errs = append(errs, errors.New("worker: Redis client is required"))
	}
	if len(c.Accounts) == 0 {
		errs = append(errs, errors.New("worker: at least one account is required (set LSQ_ACCESS_KEY and LSQ_SECRET_KEY)"))
	}
	seen := map[string]bool{}
	for _, a := range c.Accounts {
		if err := a.validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[a.Name] {
			errs = append(errs, fmt.Errorf("account %q is configured twice", a.Name))
		}
		seen[a.Name] = true
	}
	if c.Scheduler != SchedulerFair && c.Scheduler != SchedulerFIFO {
		errs = append(errs, fmt.Errorf("worker: scheduler %q is not %q or %q", c.Scheduler, SchedulerFair, SchedulerFIFO))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("worker: concurrency %d must be at least 1", c.Concurrency))
	}
	if call := longestCall(c.Accounts); c.ShutdownTimeout <= call+ResultWriteAllowance {
		errs = append(errs, fmt.Errorf("worker: shutdown timeout %s (NOTIFYD_SHUTDOWN_TIMEOUT) must exceed the LeadSquared call timeout %s plus %s to record the result, "+
			"or a clean stop hands back a task whose call is still in flight and it is sent twice: set NOTIFYD_SHUTDOWN_TIMEOUT to %s or more",
			c.ShutdownTimeout, call, ResultWriteAllowance, (call+ResultWriteAllowance+time.Second).Truncate(time.Second)))
	}
	return errors.Join(errs...)
}

// ResultWriteAllowance is the time a handler may take after its call
// returns, to record the delivery in Redis, before asynq's shutdown timeout
// may end: a healthy Redis takes milliseconds.
const ResultWriteAllowance = 500 * time.Millisecond

// longestCall is the longest call timeout of the accounts' senders: a
// Sender that has a Timeout method (as *leadsquared.Client does) says its
// own, any other is taken to use leadsquared.DefaultTimeout.
func longestCall(accounts []Account) time.Duration {
	var longest time.Duration
	for _, a := range accounts {
		d := leadsquared.DefaultTimeout
		if t, ok := a.Sender.(interface{ Timeout() time.Duration }); ok {
			d = t.Timeout()
		}
		longest = max(longest, d)
	}
	return longest
}

// Start starts the workers, the dispatch scheduler and the probers of
// halted accounts and kinds; it returns at once.
func (s *Server) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, a := range s.cfg.Accounts {
		if err := s.sched.setPace(ctx, a.Name, a.Policy); err != nil {
			cancel()
			return fmt.Errorf("start workers: record account %q's pace in Redis: %w", a.Name, err)
		}
	}
	if err := s.asynq.Start(s.handler); err != nil {
		cancel()
		return fmt.Errorf("start workers: %w", err)
	}
	sctx, scancel := context.WithCancel(ctx)
	s.schedCancel = scancel
	s.wg.Add(4)
	go func() { defer s.wg.Done(); s.halts.run(ctx) }()
	go func() { defer s.wg.Done(); s.kinds.run(ctx) }()
	go func() { defer s.wg.Done(); s.dead.run(ctx) }()
	go func() { defer s.wg.Done(); s.sched.run(sctx) }()
	return nil
}

// Shutdown stops taking tasks, hands back tasks still waiting for a slot
// (without calling LeadSquared), lets in-flight calls finish within the
// shutdown timeout, and returns. Safe to call more than once.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		// Order matters: stop releasing bulk work and fetching first, so no
		// new task starts; then release the waiters, whose tasks go back to
		// their queue; then wait for in-flight calls (asynq requeues what
		// outlives the timeout).
		if s.schedCancel != nil {
			s.schedCancel()
		}
		s.asynq.Stop()
		close(s.stop)
		s.asynq.Shutdown()
		if s.cancel != nil {
			s.cancel()
		}
		s.refs.close() // after the handlers: sends the refs' last TTLs
		s.wg.Wait()
	})
}

// Halted returns the accounts halted by a credentials or configuration fault,
// with their reasons.
func (s *Server) Halted() map[string]string { return s.halts.snapshot() }

// HaltedKinds returns the kinds of notification halted because LeadSquared
// answers 404 for their path: account -> kind ("system", "push") -> reason.
// The account's other kind keeps flowing.
func (s *Server) HaltedKinds() map[string]map[string]string { return s.kinds.snapshot() }

// Ready reports why the server cannot deliver now: Redis unreachable, an
// account halted, or a kind of notification halted (naming it). nil means
// ready.
func (s *Server) Ready(ctx context.Context) error {
	if err := s.cfg.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	var problems []string
	if halted := s.Halted(); len(halted) > 0 {
		names := make([]string, 0, len(halted))
		for n, r := range halted {
			names = append(names, fmt.Sprintf("%s (%s)", n, r))
		}
		sort.Strings(names)
		problems = append(problems, "halted by a credentials or configuration fault: "+strings.Join(names, ", "))
	}
	if kinds := s.HaltedKinds(); len(kinds) > 0 {
		var names []string
		for n, byKind := range kinds {
			for k, r := range byKind {
				names = append(names, fmt.Sprintf("%s notifications of %s (%s)", k, n, r))
			}
		}
		sort.Strings(names)
		problems = append(problems, "halted because LeadSquared answers 404 for their path: "+strings.Join(names, ", "))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// asynqLogger sends asynq's own messages to zerolog.
type asynqLogger struct{ l zerolog.Logger }

// asynqBurst is how many warnings and errors of asynq's are logged per
// asynqBurstPeriod; the rest of that period's are dropped. While Redis is
// down, asynq's forwarder, fetcher, heartbeat and janitor each log every
// second or faster; notifyd's own lines (a held task, /readyz) already say
// what is wrong, once.
const (
	asynqBurst       = 5
	asynqBurstPeriod = 10 * time.Second
)

func newAsynqLogger(l zerolog.Logger) asynqLogger {
	burst := func() zerolog.Sampler { return &zerolog.BurstSampler{Burst: asynqBurst, Period: asynqBurstPeriod} }
	return asynqLogger{l.Sample(zerolog.LevelSampler{WarnSampler: burst(), ErrorSampler: burst()})}
}

func (a asynqLogger) Debug(args ...any) {
	a.l.Debug().Str("component", "asynq").Msg(fmt.Sprint(args...))
}
func (a asynqLogger) Info(args ...any) { a.l.Info().Str("component", "asynq").Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any) { a.l.Warn().Str("component", "asynq").Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) {
	a.l.Error().Str("component", "asynq").Msg(fmt.Sprint(args...))
}
func (a asynqLogger) Fatal(args ...any) {
	a.l.Fatal().Str("component", "asynq").Msg(fmt.Sprint(args...))
}

// Verify asks LeadSquared whom each account's keys belong to, as notifyd
// does at start-up; each key check takes a slot of the account's limit. An account whose keys are refused (401, 403) or whose
// host is wrong (404) is halted at once, so that no task burns a call on it;
// other failures are returned for the caller to log.
func (s *Server) Verify(ctx context.Context) map[string]error {
	out := make(map[string]error, len(s.cfg.Accounts))
	for i := range s.cfg.Accounts {
		a := &s.cfg.Accounts[i]
		user, err := checkKeys(ctx, s.handler.limiter, a)
		switch leadsquared.Classify(err) {
		case leadsquared.KindCredentials, leadsquared.KindConfiguration:
			s.halts.halt(ctx, a.Name, err)
		case leadsquared.KindUnknown:
			if err == nil {
				s.cfg.Logger.Info().Str("account", a.Name).Str("user", user.Name).Str("role", user.Role).
					Str("api_host", user.APIHost()).Msg("LeadSquared accepts the account's keys")
			}
		}
		out[a.Name] = err
	}
	return out
}
