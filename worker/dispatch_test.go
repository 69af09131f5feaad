package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// dispatchBundle is a private Redis, an asynq client on it, and a
// dispatcher on a simulated clock that the test advances.
type dispatchBundle struct {
	rdb   *redis.Client
	aq    *asynq.Client
	insp  *asynq.Inspector
	d     *dispatcher
	clock *simClock
	seq   int
}

func setupDispatch(t *testing.T) *dispatchBundle {
	t.Helper()
	r := testutil.StartRedis(t)
	rdb := r.Client()
	clock := &simClock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	d := newDispatcher(rdb, zerolog.Nop(), NewMetrics(nil), SchedulerFair)
	d.now = clock.Now
	b := &dispatchBundle{rdb: rdb, aq: asynq.NewClientFromRedisClient(rdb),
		insp: asynq.NewInspectorFromRedisClient(rdb), d: d, clock: clock}
	return b
}

// enqueue puts n bulk tasks of the account's campaign in their group, as
// the enqueue package does.
func (b *dispatchBundle) enqueue(t *testing.T, account, campaign string, n int) {
	t.Helper()
	for range n {
		b.seq++
		m := tasks.Meta{Ref: fmt.Sprintf("%s-%s-%d", account, campaign, b.seq), Account: account,
			Lane: tasks.LaneBulk, Campaign: campaign, EnqueuedAt: time.Now()}
		task, err := tasks.NewPushTask(tasks.PushPayload{Meta: m})
		if err != nil {
			t.Fatal(err)
		}
		info, err := b.aq.Enqueue(task)
		if err != nil || info.State != asynq.TaskStateAggregating {
			t.Fatalf("enqueue %s: %v (state %v), want it in its group", m.Ref, err, info)
		}
	}
}

// released pops what the dispatcher put in the bulk queue, as a worker
// would, and returns the group of each, in order.
func (b *dispatchBundle) released(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		id, err := b.rdb.RPop(context.Background(), asynqPending).Result()
		if err == redis.Nil {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		info, err := b.insp.GetTaskInfo(bulkQueue, id)
		if err != nil {
			t.Fatalf("released task %s: %v", id, err)
		}
		// The hash's group field is what asynq's forwarder reads: without it
		// a retry goes back to the queue, not to the group.
		group, _ := b.rdb.HGet(context.Background(), asynqTaskPrefix+id, "group").Result()
		if info.State != asynq.TaskStatePending || group != "" {
			t.Fatalf("released task %s: state %s group field %q, want pending and none", id, info.State, group)
		}
		var m tasks.Meta
		_ = json.Unmarshal(info.Payload, &m)
		out = append(out, tasks.Group(m.Account, m.Campaign))
		// Out of the list: asynq's own bookkeeping no longer sees it.
		_ = b.insp.DeleteTask(bulkQueue, id)
	}
}

// run ticks every step for d of simulated time and returns the groups of
// the released tasks in order.
func (b *dispatchBundle) run(t *testing.T, d, step time.Duration) []string {
	t.Helper()
	var out []string
	for end := b.clock.Now().Add(d); b.clock.Now().Before(end); b.clock.Advance(step) {
		if _, err := b.d.tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.released(t)...)
	}
	return out
}

func count(groups []string) map[string]int {
	n := map[string]int{}
	for _, g := range groups {
		n[g]++
	}
	return n
}

func TestDispatcher_ReleasesEachAccountAtItsPace(t *testing.T) {
	t.Parallel()
	b := setupDispatch(t)
	ctx := context.Background()
	lite := Policy{Rate: Rate{Calls: 2, Window: 5 * time.Second}, Margin: 100 * time.Millisecond}
	if err := b.d.setPace(ctx, "a", DefaultPolicy); err != nil {
		t.Fatal(err)
	}
	if err := b.d.setPace(ctx, "lite", lite); err != nil {
		t.Fatal(err)
	}
	b.enqueue(t, "a", "", 150)
	b.enqueue(t, "lite", "", 10)
	// 10.2 s: a is paced 204 ms apart (50 releases, and the first at once),
	// lite 2.55 s apart (4 releases, and the first), whatever a's backlog.
	got := count(b.run(t, 10200*time.Millisecond, 10*time.Millisecond))
	if got["a"] < 50 || got["a"] > 51 || got["lite"] < 4 || got["lite"] > 5 {
		t.Fatalf("released in 10.2 s: %v; want a 50-51 (25 per 5.1 s) and lite 4-5 (2 per 5.1 s)", got)
	}
}

func TestDispatcher_ALaterAccountIsNotBehindAnEarlierBacklog(t *testing.T) {
	t.Parallel()
	b := setupDispatch(t)
	b.enqueue(t, "a", "", 150)
	first := b.run(t, 3*time.Second, 10*time.Millisecond)
	b.enqueue(t, "b", "", 20)
	// From B's enqueue on, both accounts release at their own full pace.
	got := b.run(t, 204*time.Millisecond*20, 10*time.Millisecond)
	if n := count(got); n["b"] != 20 || n["a"] < 19 {
		t.Fatalf("in the 4.1 s after b enqueued 20: %v; want all of b's 20 and a at its pace (20)", n)
	}
	if got[0] != "b" && got[1] != "b" {
		t.Fatalf("b's first release came %dth, want at the first tick", strings.Index(strings.Join(got, ","), "b"))
	}
	if n := count(first); n["a"] < 14 {
		t.Fatalf("a released %d in its first 3 s, want about 15", n["a"])
	}
}

func TestDispatcher_SharesAnAccountBetweenCampaignsByWeight(t *testing.T) {
	t.Parallel()
	b := setupDispatch(t)
	ctx := context.Background()
	b.enqueue(t, "a", "x", 100)
	b.run(t, 2*time.Second, 10*time.Millisecond) // x alone: about 10
	b.enqueue(t, "a", "y", 100)
	if err := b.rdb.Set(ctx, keys.DispatchWeight(tasks.Group("a", "z")), 3, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	got := count(b.run(t, 204*time.Millisecond*20, 10*time.Millisecond))
	if got["a/x"] != 10 || got["a/y"] != 10 {
		t.Fatalf("x and y of weight 1, in 20 paces: %v; want 10 each", got)
	}
	b.enqueue(t, "a", "z", 100)
	got = count(b.run(t, 204*time.Millisecond*50, 10*time.Millisecond))
	if got["a/z"] < 29 || got["a/z"] > 31 || got["a/x"] < 9 || got["a/x"] > 11 || got["a/y"] < 9 || got["a/y"] > 11 {
		t.Fatalf("x, y of weight 1 and z of weight 3, in 50 paces: %v; want 10, 10, 30", got)
	}
}

func TestDispatcher_HoldAndWake(t *testing.T) {
	t.Parallel()
	b := setupDispatch(t)
	ctx := context.Background()
	b.enqueue(t, "a", "", 20)
	if got := b.run(t, 10*time.Millisecond, 10*time.Millisecond); len(got) != 1 {
		t.Fatalf("first tick released %d, want 1", len(got))
	}
	// A hold works on Redis's clock: the simulated clock stands still here.
	b.d.now = nil
	b.d.hold("a", time.Hour)
	if got := b.run(t, time.Second, 10*time.Millisecond); len(got) != 0 {
		t.Fatalf("released %d while the account is held for an hour", len(got))
	}
	b.d.wake(ctx, "a")
	if got := b.run(t, 10*time.Millisecond, 10*time.Millisecond); len(got) != 1 {
		t.Fatalf("released %d after the wake, want 1", len(got))
	}
}

func TestDispatcher_ForgetsEmptyGroupsAndSeesThemAgain(t *testing.T) {
	t.Parallel()
	b := setupDispatch(t)
	ctx := context.Background()
	b.enqueue(t, "a", "x", 2)
	b.run(t, time.Second, 10*time.Millisecond)
	if n := b.rdb.SCard(ctx, asynqGroups).Val() + b.rdb.SCard(ctx, keys.DispatchKnown).Val(); n != 0 {
		t.Fatalf("%d groups left after the group emptied", n)
	}
	b.enqueue(t, "a", "x", 1)
	if got := b.run(t, 300*time.Millisecond, 10*time.Millisecond); len(got) != 1 {
		t.Fatalf("released %v after the group came back, want its task", got)
	}
}

func TestDispatcher_FIFOReleasesEverythingInOrder(t *testing.T) {
	t.Parallel()
	b := setupDispatch(t)
	ctx := context.Background()
	b.d.mode = SchedulerFIFO
	b.enqueue(t, "a", "", 30)
	if _, err := b.d.tick(ctx); err != nil {
		t.Fatal(err)
	}
	b.enqueue(t, "b", "", 5)
	if _, err := b.d.tick(ctx); err != nil {
		t.Fatal(err)
	}
	n := b.rdb.LLen(ctx, asynqPending).Val()
	got := b.released(t)
	if n != 35 || count(got)["a"] != 30 || got[30] != "b" {
		t.Fatalf("FIFO released %d: %v; want a's 30, then b's 5", n, got)
	}
}
