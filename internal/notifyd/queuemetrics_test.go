package notifyd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func TestStart_MetricsShowQueuesAndDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)

	// Before anything is enqueued, the lanes have a dead-letter series of 0.
	got := metricLines(t, b.base, "lsqd_dead_letters{")
	want := []string{`lsqd_dead_letters{queue="bulk"} 0`, `lsqd_dead_letters{queue="transactional"} 0`}
	if !slices.Equal(got, want) {
		t.Errorf("before any task: %q, want %q", got, want)
	}

	// Two tasks scheduled an hour ahead, so the workers leave them alone;
	// one of them is then archived, as a dead letter is.
	client := asynq.NewClientFromRedisClient(b.proc.Redis)
	insp := asynq.NewInspectorFromRedisClient(b.proc.Redis)
	for _, ref := range []string{"a", "b"} {
		task, err := tasks.NewPushTask(tasks.PushPayload{Meta: tasks.Meta{Ref: ref, Account: "default", Lane: tasks.LaneBulk}},
			asynq.ProcessIn(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	if err := insp.ArchiveTask(string(tasks.LaneBulk), tasks.TaskID("default", "a")); err != nil {
		t.Fatalf("archive: %v", err)
	}

	got = metricLines(t, b.base, "lsqd_dead_letters{")
	want = []string{`lsqd_dead_letters{queue="bulk"} 1`, `lsqd_dead_letters{queue="transactional"} 0`}
	if !slices.Equal(got, want) {
		t.Errorf("after one dead letter: %q, want %q", got, want)
	}
	for _, line := range []string{
		`asynq_queue_size{queue="bulk"} 2`,
		`asynq_tasks_enqueued_total{queue="bulk",state="archived"} 1`,
		`asynq_tasks_enqueued_total{queue="bulk",state="scheduled"} 1`,
		`asynq_queue_paused_total{queue="bulk"} 0`,
	} {
		name := line[:strings.IndexByte(line, '{')]
		if !slices.Contains(metricLines(t, b.base, name+"{"), line) {
			t.Errorf("/metrics lacks %s; it has %q", line, metricLines(t, b.base, name))
		}
	}
	for _, name := range []string{"asynq_queue_latency_seconds", "asynq_queue_memory_usage_approx_bytes",
		"asynq_tasks_processed_total", "asynq_tasks_failed_total", "lsqd_account_halted", "lsqd_rate_limit_calls",
		"lsqd_operation_halted"} {
		if len(metricLines(t, b.base, "# TYPE "+name+" ")) != 1 {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	// Dead letters asynq dropped past its archive cap, whose records the
	// workers keep, are counted.
	if got := metricLines(t, b.base, "lsqd_dead_letters_dropped "); !slices.Equal(got, []string{"lsqd_dead_letters_dropped 0"}) {
		t.Errorf("before any drop: %q", got)
	}
	for _, id := range []string{"default:x", "default:y"} {
		if err := b.proc.Redis.ZAdd(t.Context(), keys.DeadLettersDropped, redis.Z{Score: 1, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := metricLines(t, b.base, "lsqd_dead_letters_dropped "); !slices.Equal(got, []string{"lsqd_dead_letters_dropped 2"}) {
		t.Errorf("after 2 drops: %q", got)
	}
}

// The campaign registry is exported: campaigns by state, and the counts of
// the live ones.
func TestStart_MetricsShowCampaigns(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	reg := campaign.New(b.proc.Redis, 0)
	ctx := t.Context()
	for _, name := range []string{"spring", "autumn"} {
		if err := reg.Start(ctx, "default", name, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Add(ctx, "default", "spring", 5, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Change(ctx, "default", "autumn", campaign.OpCancel, ""); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`lsqd_campaigns{state="running"} 1`,
		`lsqd_campaigns{state="cancelled"} 1`,
		`lsqd_campaign_notifications{account="default",campaign="spring",count="total",state="running"} 5`,
		`lsqd_campaign_notifications{account="default",campaign="spring",count="pending",state="running"} 5`,
	} {
		name := line[:strings.IndexByte(line, '{')]
		if !slices.Contains(metricLines(t, b.base, name+"{"), line) {
			t.Errorf("/metrics lacks %s; it has %q", line, metricLines(t, b.base, name+"{"))
		}
	}
	if got := metricLines(t, b.base, `lsqd_campaign_notifications{account="default",campaign="autumn"`); len(got) != 0 {
		t.Errorf("an ended campaign's counts are exported: %q", got)
	}
}
