package demo

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/config"
	"github.com/lsqdispatch/lsqdispatch/internal/notifyd"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// Defaults of Options' zero fields.
const (
	DefaultSize        = 200
	DefaultPools       = 3
	DefaultConcurrency = 8
	// DefaultTransactional is how many transactional notifications are sent
	// while the campaign drains.
	DefaultTransactional = 5
	// DefaultInterval is how often a progress line is printed when the
	// output is no terminal.
	DefaultInterval = 2 * time.Second
)

// Options configure a demo. Zero values mean the documented defaults.
type Options struct {
	// Size is the number of campaign lines (default 200; at 25 calls per
	// 5 s, 200 take about 40 s).
	Size int
	// Transactional is how many transactional notifications are sent during
	// the drain (default 5; negative: none).
	Transactional int
	// Addr is where the first pool serves the UI, /metrics and health
	// (default config.DefaultHTTPAddr); a port of 0 picks a free one.
	Addr string
	// UI is the UI's access control; off loopback it needs a user and a
	// password, as notifyd's does.
	UI config.UI
	// Pools is the number of worker pools, each as one notifyd process would
	// run (default 3); Concurrency is the workers of each (default 8).
	Pools, Concurrency int
	// Out receives the progress and the summary (default os.Stdout).
	Out io.Writer
	// Terminal draws a progress bar on Out instead of printing lines.
	Terminal bool
	// Width is the terminal's width in columns, for the bar (default 80).
	Width int
	// Interval is how often a progress line is printed (default 2s).
	Interval time.Duration
	// Log receives notifyd's logs, JSON lines (default: a new file in the
	// temporary directory, named by LogPath).
	Log io.Writer
}

func (o Options) withDefaults() Options {
	o.Size = cmp.Or(o.Size, DefaultSize)
	if o.Transactional == 0 {
		o.Transactional = DefaultTransactional
	}
	o.Transactional = max(o.Transactional, 0)
	o.Addr = cmp.Or(o.Addr, config.DefaultHTTPAddr)
	o.Pools = cmp.Or(o.Pools, DefaultPools)
	o.Concurrency = cmp.Or(o.Concurrency, DefaultConcurrency)
	o.Interval = cmp.Or(o.Interval, DefaultInterval)
	o.Width = cmp.Or(o.Width, 80)
	if o.Out == nil {
		o.Out = os.Stdout
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Size < 1 {
		errs = append(errs, fmt.Errorf("size %d: want at least 1 notification", o.Size))
	}
	if o.Pools < 1 || o.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("pools %d of %d workers: want at least 1 of 1", o.Pools, o.Concurrency))
	}
	return errors.Join(errs...)
}

// Demo is a running demo: embedded Redis, sandbox, worker pools and the
// producer. Start it, Run it, Close it.
type Demo struct {
	opts     Options
	campaign *campaign
	redis    *miniredis.Miniredis
	sandbox  *sandbox.Server
	lsqHTTP  *http.Server
	lsqURL   string
	pools    []*notifyd.Process
	client   *enqueue.Client
	queues   *enqueue.Inspector // the progress's queue sizes
	logFile  *os.File
	logPath  string
	calls    *callLog
	closed   sync.Once
}

// Start starts the embedded Redis, the sandbox and the worker pools. The
// pools verify the generated keys with the sandbox, as notifyd does.
func Start(ctx context.Context, o Options) (_ *Demo, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d := &Demo{opts: o, campaign: newCampaign(o.Size), calls: newCallLog(sandbox.DefaultWindow)}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if o.Log == nil {
		if d.logFile, err = os.CreateTemp("", "notifyd-demo-*.log"); err != nil {
			return nil, fmt.Errorf("demo: log file: %w", err)
		}
		d.logPath = d.logFile.Name()
		o.Log = d.logFile
	}
	log := zerolog.New(o.Log).Level(zerolog.InfoLevel).With().Timestamp().Logger()

	// Redis: miniredis's TTLs run down only when told to follow the clock.
	d.redis = miniredis.NewMiniRedis()
	d.redis.ClockTTL(true)
	if err := d.redis.Start(); err != nil {
		return nil, fmt.Errorf("demo: start the embedded Redis: %w", err)
	}
	redisURL := "redis://" + d.redis.Addr() + "/0"

	// LeadSquared: the sandbox with generated keys, its real limit, and faults.
	access, secret := "demo-"+randomHex(12), randomHex(20)
	d.sandbox, err = sandbox.New(sandbox.Config{
		AccessKey: access, SecretKey: secret,
		Latency: 60 * time.Millisecond,
		Faults:  sandbox.Faults{ErrorRate: 0.03, Scripts: d.campaign.scripts()},
		Seed:    time.Now().UnixNano(),
		OnCall:  d.calls.record,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: sandbox: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: sandbox: %w", err)
	}
	d.lsqURL = "http://" + l.Addr().String()
	d.lsqHTTP = &http.Server{Handler: d.sandbox, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.lsqHTTP.Serve(l) }()

	// The workers: pools as separate notifyd processes would run them.
	account := config.Account{Name: tasks.DefaultAccount, BaseURL: d.lsqURL,
		AccessKey: access, SecretKey: secret, Policy: worker.DefaultPolicy}
	for i := range o.Pools {
		cfg := &config.Config{RedisURL: redisURL, Accounts: []config.Account{account},
			Concurrency: o.Concurrency, ShutdownTimeout: 15 * time.Second, UI: o.UI,
			LogLevel: zerolog.InfoLevel, LogFormat: "json"}
		if i == 0 {
			cfg.HTTPAddr = o.Addr
		}
		p, err := notifyd.Start(ctx, cfg, log.With().Int("pool", i+1).Logger(), notifyd.Options{
			UI: notifyd.DefaultUI,
			Worker: func(w *worker.Config) {
				// Short retries, so that the flaky notifications settle
				// within the demo rather than minutes later.
				w.Backoff = worker.Backoff{Initial: 500 * time.Millisecond, Max: 4 * time.Second}
			},
		})
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("demo: start notifyd (UI on %s; choose another with --addr): %w", o.Addr, err)
			}
			return nil, fmt.Errorf("demo: start worker pool %d: %w", i+1, err)
		}
		d.pools = append(d.pools, p)
	}
	if d.client, err = enqueue.New(ctx, redisURL); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if d.queues, err = enqueue.NewInspector(ctx, redisURL); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return d, nil
}

// Addr is the address of the UI, /metrics and health, host:port.
func (d *Demo) Addr() string {
	if len(d.pools) == 0 {
		return ""
	}
	return d.pools[0].Addr()
}

// LogPath is the file notifyd's logs go to, or "" when Options.Log was set.
func (d *Demo) LogPath() string { return d.logPath }

// Close stops the pools (in-flight calls finish), the sandbox and the
// embedded Redis. Safe to call more than once.
func (d *Demo) Close() {
	d.closed.Do(func() {
		var wg sync.WaitGroup
		for _, p := range d.pools {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop() }()
		}
		wg.Wait()
		if d.client != nil {
			_ = d.client.Close()
		}
		if d.queues != nil {
			_ = d.queues.Close()
		}
		if d.sandbox != nil {
			d.sandbox.Close()
		}
		if d.lsqHTTP != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = d.lsqHTTP.Shutdown(ctx)
			cancel()
		}
		if d.redis != nil {
			d.redis.Close()
		}
		if d.logFile != nil {
			_ = d.logFile.Close()
		}
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
