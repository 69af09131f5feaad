package redisconn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/redisconn"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// A campaign drains on a 3-master Redis Cluster through redis-cluster://
// with two worker servers, under the limit; then the producer's calls that
// read across the Cluster work: status, stats, duplicates, dead letters.
func TestCluster_Drain(t *testing.T) {
	if testing.Short() {
		t.Skip("a Redis Cluster: about 8 s")
	}
	t.Parallel()
	cl := testutil.StartCluster(t, 3)
	b := setupDrain(t, cl.URL, sandbox.Script{Ref: "cluster-7", FirstN: 1, Status: 400})
	if b.conn.Kind != redisconn.Cluster {
		t.Fatalf("kind %s", b.conn.Kind)
	}
	b.startWorker(t, 4)
	b.startWorker(t, 4)
	const n = 40
	b.campaign(t, "cluster", n)
	st := b.waitDelivered(t, n-1, 30*time.Second)
	checkLimit(t, st)
	if len(st.DuplicateRefs) != 0 {
		t.Errorf("duplicates: %v", st.DuplicateRefs)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The lanes live on different nodes ({transactional}, {bulk}), as do
	// asynq:queues and the account's keys.
	t.Logf("nodes: asynq:{bulk} %s, asynq:{transactional} %s, asynq:queues %s, lsqd:{default} %s",
		cl.NodeOf("asynq:{bulk}:pending").Addr, cl.NodeOf("asynq:{transactional}:pending").Addr,
		cl.NodeOf("asynq:queues").Addr, cl.NodeOf(keys.Slots(tasks.DefaultAccount)).Addr)
	var dl []enqueue.DeadLetter
	testutil.Eventually(t, 10*time.Second, func() bool {
		dl, _ = b.control.DeadLetters(ctx, 0)
		return len(dl) == 1
	}, "dead letters: %+v", dl)
	if dl[0].Ref != "cluster-7" {
		t.Errorf("dead letter %+v, want cluster-7", dl[0])
	}
	if s, err := b.client.Status(ctx, tasks.DefaultAccount, "cluster-3"); err != nil || s.State != "completed" {
		t.Errorf("status of a delivered ref: %+v, %v", s, err)
	}
	res, err := b.client.SendSystem(ctx, leadsquared.SystemNotification{Type: "Lead", ToUser: "2f5508b5-f7ed-11ea-b39f-000000000003",
		CardContents: leadsquared.CardContents{Message: "again"}}, enqueue.WithRef("cluster-3"))
	if err != nil || !res.Duplicate {
		t.Errorf("a delivered ref sent again: %+v, %v; want a duplicate", res, err)
	}
	stats, err := b.control.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stats.Queues {
		if q.Queue == string(tasks.LaneBulk) && (q.Archived != 1 || q.Pending != 0) {
			t.Errorf("bulk lane: %+v", q)
		}
	}
	if purged, err := b.control.PurgeAllDeadLetters(ctx); err != nil || purged != 1 {
		t.Errorf("purge: %d, %v", purged, err)
	}
}

// asynq v0.26.0 on Redis Cluster: every operation notifyd, notifyctl and
// asynqmon use works, because asynq's multi-key scripts only touch keys of
// one queue (one {queue} hash tag) and its global keys (asynq:queues,
// asynq:servers, asynq:workers) are read with single-key commands. This
// test pins that: a future asynq that breaks one fails here.
func TestCluster_AsynqOperations(t *testing.T) {
	if testing.Short() {
		t.Skip("a Redis Cluster: about 4 s")
	}
	t.Parallel()
	cl := testutil.StartCluster(t, 3)
	conn, err := redisconn.Parse(cl.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(conn.Queue)
	defer client.Close()
	insp := asynq.NewInspector(conn.Queue)
	defer insp.Close()
	if _, ok := conn.Queue.MakeRedisClient().(*redis.ClusterClient); !ok {
		t.Fatal("asynqmon needs a *redis.ClusterClient to show the Cluster")
	}
	qs := []string{string(tasks.LaneTransactional), string(tasks.LaneBulk), "other"}
	ops := []struct {
		name string
		do   func(q string) error
	}{
		{"Enqueue", func(q string) error {
			_, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("a"))
			return err
		}},
		{"EnqueueUnique", func(q string) error {
			_, err := client.Enqueue(asynq.NewTask("t", []byte("u")), asynq.Queue(q), asynq.Unique(time.Minute))
			return err
		}},
		{"EnqueueScheduled", func(q string) error {
			_, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.TaskID("s"), asynq.ProcessIn(time.Hour))
			return err
		}},
		{"EnqueueGroup", func(q string) error {
			_, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.Group("g"))
			return err
		}},
		{"Queues", func(string) error { _, err := insp.Queues(); return err }},
		{"GetQueueInfo", func(q string) error { _, err := insp.GetQueueInfo(q); return err }},
		{"History", func(q string) error { _, err := insp.History(q, 2); return err }},
		{"ListPendingTasks", func(q string) error { _, err := insp.ListPendingTasks(q); return err }},
		{"ListScheduledTasks", func(q string) error { _, err := insp.ListScheduledTasks(q); return err }},
		{"ListAggregatingTasks", func(q string) error { _, err := insp.ListAggregatingTasks(q, "g"); return err }},
		{"Groups", func(q string) error { _, err := insp.Groups(q); return err }},
		{"GetTaskInfo", func(q string) error { _, err := insp.GetTaskInfo(q, "a"); return err }},
		{"ArchiveTask", func(q string) error { return insp.ArchiveTask(q, "a") }},
		{"ListArchivedTasks", func(q string) error { _, err := insp.ListArchivedTasks(q); return err }},
		{"RunTask", func(q string) error { return insp.RunTask(q, "a") }},
		{"ArchiveAllPendingTasks", func(q string) error { _, err := insp.ArchiveAllPendingTasks(q); return err }},
		{"RunAllArchivedTasks", func(q string) error { _, err := insp.RunAllArchivedTasks(q); return err }},
		{"DeleteTask", func(q string) error { return insp.DeleteTask(q, "s") }},
		{"DeleteAllPendingTasks", func(q string) error { _, err := insp.DeleteAllPendingTasks(q); return err }},
		{"PauseQueue", func(q string) error { return insp.PauseQueue(q) }},
		{"UnpauseQueue", func(q string) error { return insp.UnpauseQueue(q) }},
		{"Servers", func(string) error { _, err := insp.Servers(); return err }},
		{"SchedulerEntries", func(string) error { _, err := insp.SchedulerEntries(); return err }},
		{"ClusterKeySlot", func(q string) error { _, err := insp.ClusterKeySlot(q); return err }},
		{"ClusterNodes", func(q string) error { _, err := insp.ClusterNodes(q); return err }},
		{"CancelProcessing", func(string) error { return insp.CancelProcessing("none") }},
	}
	for _, q := range qs {
		for _, op := range ops {
			if err := op.do(q); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				t.Errorf("%s(%s) on Cluster: %v", op.name, q, err)
			}
		}
	}
	if err := insp.DeleteQueue("other", true); err != nil {
		t.Errorf("DeleteQueue on Cluster: %v", err)
	}
}
