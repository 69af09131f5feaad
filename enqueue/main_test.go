package enqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const guid = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

type testBundle struct {
	ctx       context.Context
	client    *enqueue.Client
	control   *enqueue.Inspector
	redis     *testutil.Redis
	rdb       *redis.Client
	inspector *asynq.Inspector
}

// setup gives the test a private redis-server and a Client on it.
func setup(t *testing.T, opts ...testutil.RedisOption) *testBundle {
	t.Helper()
	if os.Getenv("REDIS_URL") != "" {
		t.Skip("needs a private redis-server (its queues are asserted whole); unset REDIS_URL")
	}
	r := testutil.StartRedis(t, opts...)
	c, err := enqueue.New(t.Context(), r.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctl, err := enqueue.NewInspector(t.Context(), r.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	rdb := r.Client()
	return &testBundle{ctx: t.Context(), client: c, control: ctl, redis: r, rdb: rdb, inspector: asynq.NewInspectorFromRedisClient(rdb)}
}

func systemBody(msg string) leadsquared.SystemNotification {
	return leadsquared.SystemNotification{Type: "Lead", ToUser: guid,
		CardContents: leadsquared.CardContents{Message: msg}}
}

func pushBody(title string) leadsquared.PushNotification {
	return leadsquared.PushNotification{Title: title, Content: "Call now"}
}

// task returns the asynq task of a ref, failing the test when it is missing.
func (b *testBundle) task(t *testing.T, queue, account, ref string) *asynq.TaskInfo {
	t.Helper()
	info, err := b.inspector.GetTaskInfo(queue, tasks.TaskID(account, ref))
	if err != nil {
		t.Fatalf("task %s:%s in %s: %v", account, ref, queue, err)
	}
	return info
}

// taskCount counts the tasks of a queue in every state.
func (b *testBundle) taskCount(t *testing.T, queue string) int {
	t.Helper()
	info, err := b.inspector.GetQueueInfo(queue)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return 0
	}
	if err != nil {
		queues, _ := b.inspector.Queues()
		for _, q := range queues {
			if q == queue {
				t.Fatalf("queue %s: %v", queue, err)
			}
		}
		return 0
	}
	return info.Size + info.Completed
}

// entry returns a ref registry entry's value and TTL ("" when missing).
func (b *testBundle) entry(t *testing.T, account, ref string) (string, time.Duration) {
	t.Helper()
	key := "lsqd:{" + account + "}:ref:" + ref
	v, err := b.rdb.Get(b.ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return v, b.rdb.PTTL(b.ctx, key).Val()
}

func decodeSystem(t *testing.T, payload []byte) tasks.SystemPayload {
	t.Helper()
	var p tasks.SystemPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("decode system payload: %v\n%s", err, payload)
	}
	return p
}

// worker is a tiny asynq server on the test's Redis, for tasks that must be
// active, completed or archived. It stands in for notifyd's dispatch
// scheduler too: it releases every bulk task from its group at once.
type worker struct {
	srv  *asynq.Server
	once sync.Once
	done chan struct{}
}

func (w *worker) stop() {
	w.once.Do(func() {
		if w.done != nil {
			close(w.done)
		}
		w.srv.Shutdown()
	})
}

// release runs every grouped (aggregating) bulk task until done is closed.
func release(ins *asynq.Inspector, done <-chan struct{}) {
	q := string(tasks.LaneBulk)
	for {
		groups, _ := ins.Groups(q)
		for _, g := range groups {
			ts, _ := ins.ListAggregatingTasks(q, g.Group)
			for _, t := range ts {
				_ = ins.RunTask(q, t.ID)
			}
		}
		select {
		case <-done:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func startWorker(t *testing.T, b *testBundle, h asynq.HandlerFunc) *worker {
	t.Helper()
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{
		Concurrency: 2, Queues: tasks.Queues, LogLevel: asynq.FatalLevel,
		ShutdownTimeout: 2 * time.Second,
		RetryDelayFunc:  func(int, error, *asynq.Task) time.Duration { return time.Hour },
	})
	if err := srv.Start(h); err != nil {
		t.Fatal(err)
	}
	w := &worker{srv: srv, done: make(chan struct{})}
	go release(asynq.NewInspectorFromRedisClient(b.rdb), w.done)
	t.Cleanup(w.stop)
	return w
}

// archive makes a task archived with a reason, as a worker does.
func archive(reason string) asynq.HandlerFunc {
	return func(context.Context, *asynq.Task) error {
		return fmt.Errorf("%s: %w", reason, asynq.SkipRetry)
	}
}

func testutilAOF() testutil.RedisOption { return testutil.WithAOF() }
