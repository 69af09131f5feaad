package worker_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// asynq keeps at most 10,000 archived tasks a queue (in v0.26.0 a new one
// past that drops the oldest, task and payload, so 9,999 stay). The test
// makes the cap small: it fills the bulk archive with 9,997 fillers dated an
// hour ahead, so that only two places are left and asynq's own trimming
// drops the 3 oldest of 5 real dead letters. None may vanish: every record
// stays (dlq list, status), the dropped ones are marked and their refs freed.
func TestServer_DeadLettersOutliveAsynqsArchiveCap(t *testing.T) {
	t.Parallel()
	refs := []string{"dl-1", "dl-2", "dl-3", "dl-4", "dl-5"}
	var scripts []sandbox.Script
	for _, r := range refs {
		scripts = append(scripts, sandbox.Script{Ref: r, FirstN: 1, Status: 400})
	}
	b := setupServer(t, sandbox.Config{Limit: -1, Faults: sandbox.Faults{Scripts: scripts}})
	ctx := context.Background()

	const fillers = 9_997
	for i := range fillers {
		if _, err := b.client.Enqueue(asynq.NewTask("filler", nil), asynq.Queue(string(tasks.LaneBulk)),
			asynq.TaskID("filler-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.insp.ArchiveAllPendingTasks(string(tasks.LaneBulk)); err != nil || n != fillers {
		t.Fatalf("archive the fillers: %d, %v", n, err)
	}
	later := make([]redis.Z, fillers)
	for i := range later {
		later[i] = redis.Z{Score: float64(time.Now().Add(time.Hour).Unix()), Member: "filler-" + strconv.Itoa(i)}
	}
	if err := b.rdb.ZAddXX(ctx, "asynq:{bulk}:archived", later...).Err(); err != nil {
		t.Fatal(err)
	}

	for _, r := range refs {
		b.enqueueSystem(t, r, tasks.LaneBulk)
		_ = b.rdb.Set(ctx, keys.Ref(tasks.DefaultAccount, r), string(tasks.LaneBulk), 0).Err() // as the producer does
	}
	b.start(t, b.sender(t, secretKey), fast, func(c *worker.Config) { c.DeadLetterSweepInterval = 100 * time.Millisecond })
	var records, marked int64
	for deadline := time.Now().Add(20 * time.Second); ; {
		records, marked = b.rdb.HLen(ctx, keys.DeadLetters).Val(), b.rdb.ZCard(ctx, keys.DeadLettersDropped).Val()
		if records == 5 && marked == 3 {
			break
		}
		if time.Now().After(deadline) {
			for _, r := range refs {
				id := tasks.TaskID(tasks.DefaultAccount, r)
				t.Logf("%s: record %v, dropped %v, task state %q, in archive %v", r,
					b.rdb.HExists(ctx, keys.DeadLetters, id).Val(), b.rdb.ZScore(ctx, keys.DeadLettersDropped, id).Err() == nil,
					b.rdb.HGet(ctx, "asynq:{bulk}:t:"+id, "state").Val(), b.rdb.ZScore(ctx, "asynq:{bulk}:archived", id).Err() == nil)
			}
			t.Fatalf("want 5 records, 3 of them dropped; have %d, %d", records, marked)
		}
		time.Sleep(20 * time.Millisecond) // polling
	}
	t.Logf("records %d, dropped %d, archive %d", records, marked, b.rdb.ZCard(ctx, "asynq:{bulk}:archived").Val())

	enq, err := enqueue.NewInspector(ctx, "redis://"+b.redis.Addr+"/0")
	if err != nil {
		t.Fatal(err)
	}
	defer enq.Close()
	prod, err := enqueue.New(ctx, "redis://"+b.redis.Addr+"/0")
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	all, err := enq.DeadLetters(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	var listed, dropped []string
	for _, d := range all {
		if !strings.HasPrefix(d.Ref, "dl-") {
			continue
		}
		listed = append(listed, d.Ref)
		if d.Dropped {
			dropped = append(dropped, d.Ref)
			if d.Kind != tasks.KindSystem || !strings.Contains(d.LastError, "LeadSquared refused") || d.LastFailedAt.IsZero() {
				t.Errorf("dropped dead letter's record: %+v", d)
			}
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, refs) || len(dropped) != 3 {
		t.Fatalf("dlq list shows %v (dropped %v), want all 5 with 3 dropped", listed, dropped)
	}
	if n, err := enq.DroppedDeadLetters(ctx); n != 3 || err != nil {
		t.Errorf("DroppedDeadLetters: %d, %v", n, err)
	}
	for _, r := range refs {
		st, err := prod.Status(ctx, tasks.DefaultAccount, r)
		if err != nil || st.State != "archived" {
			t.Errorf("status of %s: %+v, %v; want archived", r, st, err)
		}
		free := b.rdb.Exists(ctx, keys.Ref(tasks.DefaultAccount, r)).Val() == 0
		if st.Dropped != free {
			t.Errorf("%s: dropped %v, ref free %v; want the refs of the dropped ones freed, the others kept", r, st.Dropped, free)
		}
	}

	gone := dropped[0]
	if _, err := enq.ReplayDeadLetters(ctx, tasks.TaskID(tasks.DefaultAccount, gone)); !errors.Is(err, enqueue.ErrDropped) {
		t.Errorf("replay of a dropped dead letter: %v, want ErrDropped", err)
	}
	res, err := prod.SendSystem(ctx, leadsquared.SystemNotification{Type: "Lead", ToUser: userID,
		CardContents: leadsquared.CardContents{Message: "again"}}, enqueue.WithRef(dropped[1]), enqueue.Bulk())
	if err != nil || res.Duplicate {
		t.Errorf("send again a dropped dead letter's ref: %+v, %v; want a new notification", res, err)
	}
	if n, err := enq.PurgeDeadLetters(ctx, tasks.TaskID(tasks.DefaultAccount, gone)); n != 1 || err != nil {
		t.Errorf("purge of a dropped dead letter: %d, %v", n, err)
	}
	if b.rdb.HExists(ctx, keys.DeadLetters, tasks.TaskID(tasks.DefaultAccount, gone)).Val() {
		t.Error("the purged record is still there")
	}
}
