// Package workertest runs the worker in a test, in the manner of httptest: a
// worker.Server on an embedded Redis (miniredis) that delivers to a local
// LeadSquared (leadsquaredtest), and an enqueue.Client on the same Redis. A
// test enqueues a notification as a producer does and sees it delivered,
// retried or dead-lettered end to end, with no Redis or LeadSquared to run.
//
// # Use
//
//	h := workertest.Start(t, workertest.Config{})
//	res, err := h.Client.SendSystem(ctx, notification, enqueue.WithRef("lead-42"))
//	st := h.WaitDelivered(t, tasks.DefaultAccount, "lead-42") // the MessageID, attempts, …
//	calls := h.LeadSquared.Calls()                            // what LeadSquared received
//
// Faults of the local LeadSquared (Config.LeadSquared.Faults, or
// h.LeadSquared.SetFaults) make calls fail: a scripted 400 dead-letters the
// notification ([Harness.WaitArchived]), a 500 is retried.
//
// # Timing
//
// The harness's worker polls and forwards fast, and its backoff is short,
// but asynq keeps a retry's due time in whole seconds: a retried
// notification takes about a second per retry. The account's limit is the
// local LeadSquared's (25 calls per 5 s unless configured), and the worker
// paces calls window/limit apart: set a higher Limit for a test that sends
// many.
//
// miniredis runs asynq's and the limiter's Lua scripts (through
// gopher-lua). Set Config.RedisAddr to run on a real Redis instead.
package workertest

import (
	"cmp"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// Config configures a Harness. Zero values mean the documented defaults.
type Config struct {
	// LeadSquared configures the local LeadSquared (default: leadsquaredtest's
	// defaults: generated keys, 25 calls per sliding 5 s).
	LeadSquared leadsquaredtest.Config
	// RedisAddr is a Redis server (host:port) whose database 0 the test may
	// write to (default: a new miniredis, closed when the test ends).
	RedisAddr string
	// Timeout bounds WaitDelivered and WaitArchived (default 15s).
	Timeout time.Duration
	// Worker, when set, adjusts the worker's configuration before it
	// starts, e.g. its Concurrency or Backoff.
	Worker func(*worker.Config)
}

// Harness is a running worker, its Redis and its LeadSquared.
type Harness struct {
	// RedisURL is the Redis the worker takes tasks from, for enqueue.New.
	RedisURL string
	// Redis is the embedded Redis (nil when Config.RedisAddr was set).
	Redis *miniredis.Miniredis
	// LeadSquared is the local LeadSquared the worker calls, with its
	// Stats, Calls and SetFaults.
	LeadSquared *leadsquaredtest.Server
	// Server is the running worker, for Halted and Ready.
	Server *worker.Server
	// Client enqueues to the worker's Redis.
	Client *enqueue.Client

	timeout time.Duration
}

// Start starts a Harness for the account tasks.DefaultAccount; everything
// stops when tb ends: the worker first (its in-flight calls finish), then
// LeadSquared and Redis.
func Start(tb testing.TB, cfg Config) *Harness {
	tb.Helper()
	h := &Harness{timeout: cmp.Or(cfg.Timeout, 15*time.Second)}
	addr := cfg.RedisAddr
	if addr == "" {
		h.Redis = miniredis.NewMiniRedis()
		h.Redis.ClockTTL(true) // TTLs run down with the wall clock
		if err := h.Redis.Start(); err != nil {
			tb.Fatalf("workertest: start miniredis: %v", err)
		}
		tb.Cleanup(h.Redis.Close)
		addr = h.Redis.Addr()
	}
	h.RedisURL = "redis://" + addr + "/0"

	h.LeadSquared = leadsquaredtest.Start(tb, cfg.LeadSquared)
	sender, err := h.LeadSquared.Client()
	if err != nil {
		tb.Fatalf("workertest: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { _ = rdb.Close() })

	limit := worker.Rate{Calls: cmp.Or(cfg.LeadSquared.Limit, sandbox.DefaultLimit),
		Window: cmp.Or(cfg.LeadSquared.Window, sandbox.DefaultWindow)}
	if limit.Calls < 0 { // the local LeadSquared has no limit
		limit = worker.Rate{Calls: 1000, Window: time.Second}
	}
	wcfg := worker.Config{
		Queue:    asynq.RedisClientOpt{Addr: addr},
		Redis:    rdb,
		Accounts: []worker.Account{{Name: tasks.DefaultAccount, Sender: sender, Policy: worker.Policy{Rate: limit, Margin: 10 * time.Millisecond}}},
		// Fast polls and short retries: a test waits for seconds, not minutes.
		Concurrency: 4, ShutdownTimeout: 12 * time.Second, ProbeInterval: 200 * time.Millisecond,
		TaskCheckInterval: 20 * time.Millisecond, ForwardInterval: 100 * time.Millisecond,
		Backoff: worker.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
		Logger:  zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.WarnLevel),
	}
	if cfg.Worker != nil {
		cfg.Worker(&wcfg)
	}
	if h.Server, err = worker.New(wcfg); err != nil {
		tb.Fatalf("workertest: %v", err)
	}
	if err := h.Server.Start(); err != nil {
		tb.Fatalf("workertest: %v", err)
	}
	tb.Cleanup(h.Server.Shutdown)

	if h.Client, err = enqueue.New(tb.Context(), h.RedisURL); err != nil {
		tb.Fatalf("workertest: %v", err)
	}
	tb.Cleanup(func() { _ = h.Client.Close() })
	return h
}

// WaitDelivered waits until the worker has delivered the notification of
// ref and returns its status (the MessageID of a system notification among
// it). It fails the test when the notification is dead-lettered instead, or
// is not delivered within the timeout.
func (h *Harness) WaitDelivered(tb testing.TB, account, ref string) enqueue.StatusInfo {
	tb.Helper()
	st := h.wait(tb, account, ref)
	if st.State != enqueue.StateCompleted {
		tb.Fatalf("workertest: ref %q of account %q was dead-lettered, not delivered: %s", ref, account, st.LastError)
	}
	return st
}

// WaitArchived waits until the worker has dead-lettered the notification of
// ref and returns its status (LastError says why). It fails the test when
// the notification is delivered instead, or not dead-lettered within the
// timeout.
func (h *Harness) WaitArchived(tb testing.TB, account, ref string) enqueue.StatusInfo {
	tb.Helper()
	st := h.wait(tb, account, ref)
	if st.State != asynq.TaskStateArchived.String() {
		tb.Fatalf("workertest: ref %q of account %q was delivered, not dead-lettered", ref, account)
	}
	return st
}

// wait polls the notification's status until it is completed or archived.
func (h *Harness) wait(tb testing.TB, account, ref string) enqueue.StatusInfo {
	tb.Helper()
	deadline := time.Now().Add(h.timeout)
	for {
		st, err := h.Client.Status(tb.Context(), account, ref)
		switch {
		case errors.Is(err, enqueue.ErrNotFound):
			tb.Fatalf("workertest: ref %q of account %q was never enqueued", ref, account)
		case err != nil:
			tb.Fatalf("workertest: %v", err)
		case st.State == enqueue.StateCompleted || st.State == asynq.TaskStateArchived.String():
			return st
		case time.Now().After(deadline):
			tb.Fatalf("workertest: ref %q of account %q still %s after %s (attempts %d, last error %q)",
				ref, account, st.State, h.timeout, st.Attempts, st.LastError)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
