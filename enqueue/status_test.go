package enqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// deliver is a handler that records a tasks.Result, as the worker does.
func deliver(ctx context.Context, t *asynq.Task) error {
	data, _ := json.Marshal(tasks.Result{MessageID: "msg-" + t.ResultWriter().TaskID(), DeliveredAt: time.Now(), Attempt: 1})
	_, err := t.ResultWriter().Write(data)
	return err
}

func (b *testBundle) waitState(t *testing.T, account, ref, state string) enqueue.StatusInfo {
	t.Helper()
	var st enqueue.StatusInfo
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, _ = b.client.Status(b.ctx, account, ref)
		return st.State == state
	}, "ref %s: state %q, want %q", ref, st.State, state)
	return st
}

func TestClient_Status(t *testing.T) {
	t.Parallel()

	t.Run("PendingAndScheduled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		at := time.Now().Add(time.Hour).Truncate(time.Second)
		_, _ = b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("p"), enqueue.WithCampaign("c1"))
		_, _ = b.client.SendPush(b.ctx, pushBody("b"), enqueue.WithRef("s"), enqueue.At(at), enqueue.Bulk())
		st, err := b.client.Status(b.ctx, "default", "p")
		if err != nil || st.State != "pending" || st.Kind != tasks.KindSystem || st.Queue != "transactional" ||
			st.MaxRetry != tasks.DefaultMaxRetry || st.Campaign != "c1" || st.EnqueuedAt.IsZero() || decodeSystem(t, st.Payload).Ref != "p" {
			t.Errorf("pending: %+v, %v", st, err)
		}
		st, err = b.client.Status(b.ctx, "default", "s")
		if err != nil || st.State != "scheduled" || st.Kind != tasks.KindPush || st.Lane != tasks.LaneBulk || !st.NextProcessAt.Equal(at) {
			t.Errorf("scheduled: %+v, %v", st, err)
		}
	})

	t.Run("CompletedWithMessageID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, _ = b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("done"))
		startWorker(t, b, deliver)
		st := b.waitState(t, "default", "done", "completed")
		if st.MessageID != "msg-default:done" || st.Result.Attempt != 1 || st.CompletedAt.IsZero() {
			t.Errorf("completed: %+v", st)
		}
	})

	t.Run("ArchivedWithLastError", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, _ = b.client.SendPush(b.ctx, pushBody("a"), enqueue.WithRef("dead"))
		startWorker(t, b, archive("LeadSquared refused the notification (MXInvalidInputException)"))
		st := b.waitState(t, "default", "dead", "archived")
		if !strings.Contains(st.LastError, "MXInvalidInputException") || st.LastFailedAt.IsZero() {
			t.Errorf("archived: %+v", st)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.Status(b.ctx, "default", "nope")
		if !errors.Is(err, enqueue.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
		// A stale entry (no task, no TTL) is as good as none.
		_ = b.rdb.Set(b.ctx, "lsqd:{default}:ref:stale", "bulk", 0).Err()
		if _, err := b.client.Status(b.ctx, "default", "stale"); !errors.Is(err, enqueue.ErrNotFound) {
			t.Errorf("stale entry: err = %v, want ErrNotFound", err)
		}
		// A delivered ref whose task asynq dropped is still known.
		_ = b.rdb.Set(b.ctx, "lsqd:{default}:ref:gone", "bulk", time.Hour).Err()
		if st, err := b.client.Status(b.ctx, "default", "gone"); err != nil || st.State != "completed" {
			t.Errorf("delivered, task gone: %+v, %v", st, err)
		}
		if _, err := b.client.Status(b.ctx, "default", ""); err == nil || !strings.Contains(err.Error(), "ref: required") {
			t.Errorf("empty ref: %v", err)
		}
	})
}

func TestClient_Cancel(t *testing.T) {
	t.Parallel()

	t.Run("PendingThenRefIsFree", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, _ = b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("x"), enqueue.In(time.Hour))
		if err := b.control.Cancel(b.ctx, "default", "x"); err != nil {
			t.Fatal(err)
		}
		if n := b.taskCount(t, "transactional"); n != 0 {
			t.Errorf("%d tasks left", n)
		}
		if v, _ := b.entry(t, "default", "x"); v != "" {
			t.Errorf("entry left: %q", v)
		}
		if res, err := b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("x")); err != nil || res.Duplicate {
			t.Errorf("send after cancel: %+v, %v", res, err)
		}
		if err := b.control.Cancel(b.ctx, "default", "unknown"); !errors.Is(err, enqueue.ErrNotFound) {
			t.Errorf("cancel unknown: %v", err)
		}
	})

	t.Run("ActiveAndCompletedRefuse", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		release := make(chan struct{})
		startWorker(t, b, func(ctx context.Context, task *asynq.Task) error {
			if strings.HasSuffix(task.ResultWriter().TaskID(), ":slow") {
				<-release
			}
			return deliver(ctx, task)
		})
		_, _ = b.client.SendPush(b.ctx, pushBody("a"), enqueue.WithRef("slow"))
		_, _ = b.client.SendPush(b.ctx, pushBody("a"), enqueue.WithRef("fast"))
		b.waitState(t, "default", "slow", "active")
		if err := b.control.Cancel(b.ctx, "default", "slow"); !errors.Is(err, enqueue.ErrActive) {
			t.Errorf("cancel active: %v, want ErrActive", err)
		}
		close(release)
		b.waitState(t, "default", "fast", "completed")
		if err := b.control.Cancel(b.ctx, "default", "fast"); !errors.Is(err, enqueue.ErrCompleted) {
			t.Errorf("cancel completed: %v, want ErrCompleted", err)
		}
		b.waitState(t, "default", "slow", "completed")
	})
}

func TestClient_Stats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, err := b.control.Stats(b.ctx)
	if err != nil || len(st.Queues) != 2 || st.Queues[0].Queue != "transactional" || st.Queues[1].Size != 0 {
		t.Fatalf("empty Redis: %+v, %v", st, err)
	}
	_, _ = b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("1"))
	_, _ = b.client.SendSystem(b.ctx, systemBody("a"), enqueue.WithRef("2"), enqueue.In(time.Hour))
	_, _ = b.client.SendPush(b.ctx, pushBody("a"), enqueue.WithRef("3"), enqueue.Bulk())
	_ = b.rdb.Set(b.ctx, "lsqd:{acme}:halt", "LeadSquared refused the keys (401)", 0).Err()
	_ = b.rdb.Set(b.ctx, "lsqd:{acme}:haltx", "not a halt key", 0).Err()
	st, err = b.control.Stats(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, bulk := st.Queues[0], st.Queues[1]
	if tx.Pending != 1 || tx.Scheduled != 1 || tx.Size != 2 || bulk.Pending != 1 || bulk.Queue != "bulk" {
		t.Errorf("queues: %+v", st.Queues)
	}
	if len(st.Halted) != 1 || st.Halted[0] != (enqueue.HaltedAccount{Account: "acme", Reason: "LeadSquared refused the keys (401)"}) {
		t.Errorf("halted: %+v", st.Halted)
	}
}

func TestClient_CancelDeadOrGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _ = b.client.SendPush(b.ctx, pushBody("a"), enqueue.WithRef("dead"), enqueue.Bulk())
	if err := b.inspector.ArchiveTask("bulk", "default:dead"); err != nil {
		t.Fatal(err)
	}
	if err := b.control.Cancel(b.ctx, "default", "dead"); err != nil {
		t.Errorf("cancel an archived task: %v", err)
	}
	// Archived, then deleted from asynq: the ref keeps its archived retention.
	_ = b.rdb.Set(b.ctx, "lsqd:{default}:ref:gone", "bulk", tasks.ArchivedRetention).Err()
	if st, err := b.client.Status(b.ctx, "default", "gone"); err != nil || st.State != "archived" {
		t.Errorf("status: %+v, %v", st, err)
	}
	if err := b.control.Cancel(b.ctx, "default", "gone"); err != nil {
		t.Errorf("cancel a gone dead letter: %v", err)
	}
	if v, _ := b.entry(t, "default", "gone"); v != "" {
		t.Error("its ref is still claimed")
	}
	// Another producer is enqueuing it right now.
	_ = b.rdb.Set(b.ctx, "lsqd:{default}:ref:busy", "bulk", 30*time.Second).Err()
	if err := b.control.Cancel(b.ctx, "default", "busy"); err == nil || !strings.Contains(err.Error(), "enqueuing it right now") {
		t.Errorf("cancel while enqueuing: %v", err)
	}
}
