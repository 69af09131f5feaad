// Package notifyd is the notifyd command: it runs the workers from the
// environment (see internal/config), serves health, readiness and metrics,
// forwards the events to a webhook when one is configured, and shuts down
// gracefully.
package notifyd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lsqdispatch/lsqdispatch/internal/cmdline"
	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// Commands are the sub-commands other packages add to notifyd (demo adds
// itself): each builds its command for one run, with the run's environment
// and streams.
var Commands []func(getenv config.Getenv, stdout, stderr io.Writer) *cobra.Command

// Run runs notifyd with args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	return cmdline.Execute(ctx, Command(getenv, stdout, stderr), args, stdout, stderr, nil)
}

// Command is notifyd's command line: the workers, check, version and the
// commands of Commands.
func Command(getenv config.Getenv, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "notifyd",
		Short: "Deliver LeadSquared notifications from Redis under one global rate limit",
		Long: `notifyd delivers LeadSquared notifications from Redis under one global rate limit.
Without a command it runs the workers, configured from the environment (see
the README's Configuration).

Exit codes: 0 done, 2 configuration or Redis error.` + cmdline.Environment(config.EnvVars...),
		Version: Version(),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdline.Exit(serve(cmd.Context(), getenv, stderr), nil)
		},
	}
	root.SetVersionTemplate("notifyd {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Verify Redis, the keys and the region of every account, then exit",
		Long: `check verifies Redis and, for every account, that LeadSquared accepts the keys
and that the region matches the keys' host, printing one line each.

Exit codes: 0 all good, 2 a check failed.` + cmdline.Environment(config.EnvVars...),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdline.Exit(check(cmd.Context(), getenv, stdout, stderr), nil)
		},
	}, &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "notifyd", Version()) },
	})
	for _, c := range Commands {
		root.AddCommand(c(getenv, stdout, stderr))
	}
	cmdline.KeepGoFlagSyntax(root)
	return root
}

// Version is the build's version (set with -ldflags on leadsquared.Version).
func Version() string { return leadsquaredVersion() }

// Process is one running notifyd: its workers, HTTP listener and events webhook.
type Process struct {
	Config   *config.Config
	Log      zerolog.Logger
	Redis    redis.UniversalClient
	Registry *prometheus.Registry
	Server   *worker.Server
	webhook  *events.Webhook // nil when off
	http     *http.Server
	listener net.Listener
	ui       http.Handler
	queue    asynq.RedisConnOpt // the workers' connection, which the UI shares
}

// Options adjust a Process beyond the environment (the demo and tests use them).
type Options struct {
	// Worker overrides worker settings after they are built from the config.
	Worker func(*worker.Config)
	// UI, when set, is mounted at /monitoring/ and /campaigns/ (uiPaths).
	UI func(p *Process) (http.Handler, error)
}

// Start builds and starts a notifyd process: the HTTP listener first, so that
// health and readiness answer at once, then the key check, then the workers.
func Start(ctx context.Context, cfg *config.Config, log zerolog.Logger, opts Options) (*Process, error) {
	p := &Process{Config: cfg, Log: log, Registry: prometheus.NewRegistry()}
	p.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	queue, rdb, err := redisClients(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	p.Redis, p.queue = rdb, queue
	registerQueueMetrics(p.Registry, rdb, log)
	wcfg := worker.Config{Queue: queue, Redis: rdb, Concurrency: cfg.Concurrency,
		ShutdownTimeout: cfg.ShutdownTimeout, Scheduler: cfg.Scheduler, ResendUnconfirmed: cfg.ResendUnconfirmed,
		EventsMaxLen: cfg.EventsMaxLen,
		Logger:       log, Metrics: worker.NewMetrics(p.Registry)}
	for _, a := range cfg.Accounts {
		c, err := a.Client()
		if err != nil {
			return nil, err
		}
		wcfg.Accounts = append(wcfg.Accounts, worker.Account{Name: a.Name, Sender: c, Policy: a.Policy})
	}
	if opts.Worker != nil {
		opts.Worker(&wcfg)
	}
	if p.Server, err = worker.New(wcfg); err != nil {
		return nil, err
	}
	if err := p.startHTTP(opts); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		log.Error().Err(err).Msg("Redis does not answer yet: notifyd keeps trying and reports not ready")
	}
	vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	for name, err := range p.Server.Verify(vctx) {
		if err != nil {
			log.Error().Str("account", name).Err(err).Msg("key check failed")
		}
	}
	cancel()
	if err := p.Server.Start(); err != nil {
		p.Stop()
		return nil, err
	}
	if err := p.startWebhook(); err != nil {
		p.Stop()
		return nil, err
	}
	log.Info().Int("concurrency", cfg.Concurrency).Int("accounts", len(cfg.Accounts)).
		Str("http", p.Addr()).Msg("notifyd started")
	return p, nil
}

// Addr is the HTTP listener's address, or "" when it is off.
func (p *Process) Addr() string {
	if p.listener == nil {
		return ""
	}
	return p.listener.Addr().String()
}

// Stop stops the events webhook (an event it was posting stays pending, to
// be posted again), shuts the workers down gracefully, then the HTTP
// listener.
func (p *Process) Stop() {
	if p.webhook != nil {
		p.webhook.Shutdown()
	}
	if p.Server != nil {
		p.Server.Shutdown()
	}
	if p.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = p.http.Shutdown(ctx)
		cancel()
	}
	if c, ok := p.ui.(io.Closer); ok {
		_ = c.Close()
	}
	if p.Redis != nil {
		_ = p.Redis.Close()
	}
}

func serve(ctx context.Context, getenv config.Getenv, stderr io.Writer) int {
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "notifyd: configuration:\n%s\n", indent(err))
		return 2
	}
	log := NewLogger(cfg, stderr)
	// Every line notifyd writes is zerolog's, in the chosen format.
	defer captureForeignLogs(log)()
	p, err := Start(ctx, cfg, log, Options{UI: DefaultUI})
	if err != nil {
		log.Error().Err(err).Msg("notifyd could not start")
		return 2
	}
	<-ctx.Done()
	log.Info().Int64("timeout_ms", cfg.ShutdownTimeout.Milliseconds()).Msg("shutting down: no new tasks; waiting tasks go back to their queue; in-flight calls finish")
	p.Stop()
	log.Info().Msg("notifyd stopped")
	return 0
}

// NewLogger returns notifyd's logger (JSON or console) at the configured level.
func NewLogger(cfg *config.Config, w io.Writer) zerolog.Logger {
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// redisClients builds asynq's connection and the go-redis client from one
// URL, in any form internal/redisconn accepts (redis, rediss, Sentinel, Cluster).
func redisClients(url string) (asynq.RedisConnOpt, redis.UniversalClient, error) {
	conn, err := redisconn.Parse(url)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", config.EnvRedisURL, err)
	}
	return conn.Queue, conn.Client(), nil
}

func indent(err error) string {
	var b []byte
	for _, line := range splitLines(err.Error()) {
		b = append(b, "  "+line+"\n"...)
	}
	return string(b[:max(len(b)-1, 0)])
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
