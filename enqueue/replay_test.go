package enqueue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// fastRetries runs h with immediate retries, forwarded every 50 ms.
func fastRetries(t *testing.T, b *testBundle, h asynq.HandlerFunc) *worker {
	t.Helper()
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{
		Concurrency: 1, Queues: map[string]int{"transactional": 1}, LogLevel: asynq.FatalLevel,
		ShutdownTimeout: 2 * time.Second, DelayedTaskCheckInterval: 50 * time.Millisecond, TaskCheckInterval: 20 * time.Millisecond,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 0 },
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	w := &worker{srv: srv}
	t.Cleanup(w.stop)
	return w
}

// A replayed dead letter starts afresh: its whole retry budget, no last
// error. One transient failure after the replay is retried, not archived
// again at once (asynq's RunTask alone keeps the spent count).
func TestClient_ReplayIsAFreshStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.client.SendPush(b.ctx, pushBody("Hot lead"), enqueue.WithRef("r1")); err != nil {
		t.Fatal(err)
	}
	transient := errors.New("leadsquared push: HTTP 500 (transient)")
	w := fastRetries(t, b, func(context.Context, *asynq.Task) error { return transient })
	b.waitState(t, "default", "r1", "archived")
	w.stop()
	if info := b.task(t, "transactional", "default", "r1"); info.Retried != info.MaxRetry || info.MaxRetry == 0 {
		t.Fatalf("dead letter: retried %d of %d, want every retry spent", info.Retried, info.MaxRetry)
	}

	if n, err := b.control.ReplayDeadLetters(b.ctx, "default:r1"); n != 1 || err != nil {
		t.Fatalf("replay: %d, %v", n, err)
	}
	info := b.task(t, "transactional", "default", "r1")
	if info.State != asynq.TaskStatePending || info.Retried != 0 || info.LastErr != "" || !info.LastFailedAt.IsZero() {
		t.Fatalf("replayed: %s, retried %d, last error %q at %v; want pending, afresh", info.State, info.Retried, info.LastErr, info.LastFailedAt)
	}
	if info.MaxRetry != 10 || string(info.Payload) == "" {
		t.Fatalf("replayed task lost its options or payload: %+v", info)
	}

	var runs atomic.Int32
	fastRetries(t, b, func(context.Context, *asynq.Task) error {
		if runs.Add(1) == 1 {
			return transient // one transient 500 after the replay
		}
		return nil
	})
	testutil.Eventually(t, 10*time.Second, func() bool {
		info, err := b.inspector.GetTaskInfo("transactional", "default:r1")
		return err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived)
	}, "the replayed task never settled")
	info = b.task(t, "transactional", "default", "r1")
	if info.State != asynq.TaskStateCompleted || info.Retried != 1 {
		t.Errorf("after one transient failure: %s, retried %d; want completed after 1 retry", info.State, info.Retried)
	}
}
