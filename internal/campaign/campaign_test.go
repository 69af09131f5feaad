package campaign_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func setup(t *testing.T) (*campaign.Registry, *redis.Client) {
	t.Helper()
	rdb := testutil.StartRedis(t).Client()
	return campaign.New(rdb, 0), rdb
}

func outcome(count, ref string, failed bool) campaign.Outcome {
	typ := map[string]tasks.EventType{"delivered": tasks.EventDelivered, "dead_lettered": tasks.EventDeadLettered,
		"expired": tasks.EventExpired}[count]
	return campaign.Outcome{Count: count, Failed: failed, Event: tasks.Event{Type: typ, At: time.Now(),
		Account: "acme", Campaign: "spring", Ref: ref}}
}

// A campaign completes once its producer sealed it and every notification
// reached a final outcome, whichever comes last; a retry counts as retrying
// until its final outcome.
func TestRegistry_CountsAndCompletion(t *testing.T) {
	t.Parallel()
	reg, rdb := setup(t)
	ctx := t.Context()
	if err := reg.Start(ctx, "acme", "spring", 1); err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(ctx, "acme", "spring", 1); !errors.Is(err, campaign.ErrExists) {
		t.Fatalf("second start: %v, want ErrExists", err)
	}
	if _, err := reg.Add(ctx, "acme", "spring", 3, false); err != nil {
		t.Fatal(err)
	}
	for _, o := range []campaign.Outcome{outcome("delivered", "a", false), outcome("retrying", "b", false),
		outcome("dead_lettered", "b", true), outcome("expired", "c", false)} {
		if err := reg.Record(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := reg.Get(ctx, "acme", "spring")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != campaign.Running || rec.Delivered != 1 || rec.DeadLettered != 1 || rec.Expired != 1 || rec.Retrying != 0 || rec.Pending() != 0 {
		t.Errorf("before the seal: %+v, want running with every count 1 and none retrying", rec)
	}
	if st, err := reg.Add(ctx, "acme", "spring", 0, true); err != nil || st != campaign.Done {
		t.Fatalf("seal: %q, %v; want done", st, err)
	}
	if err := reg.Start(ctx, "acme", "spring", 1); err != nil {
		t.Errorf("a done campaign's name again: %v, want a new run", err)
	}
	evs, err := events.Range(ctx, rdb, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []tasks.EventType
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	want := []tasks.EventType{tasks.EventCampaignStarted, tasks.EventDelivered, tasks.EventDeadLettered,
		tasks.EventExpired, tasks.EventCampaignCompleted, tasks.EventCampaignStarted}
	if len(types) != len(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
}

// Pause, resume and cancel move the campaign between its states and stop or
// restart its group in the dispatch scheduler; an ended campaign does not move.
func TestRegistry_Change(t *testing.T) {
	t.Parallel()
	reg, rdb := setup(t)
	ctx := t.Context()
	if _, _, err := reg.Change(ctx, "acme", "nope", campaign.OpPause, ""); !errors.Is(err, campaign.ErrNotFound) {
		t.Fatalf("pause of an unknown campaign: %v", err)
	}
	if err := reg.Start(ctx, "acme", "spring", 1); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		op      string
		state   campaign.State
		changed bool
		stopped bool
	}{
		{campaign.OpPause, campaign.Paused, true, true},
		{campaign.OpPause, campaign.Paused, false, true},
		{campaign.OpResume, campaign.Running, true, false},
		{campaign.OpCancel, campaign.Cancelled, true, true},
		{campaign.OpResume, campaign.Cancelled, false, true},
	} {
		st, changed, err := reg.Change(ctx, "acme", "spring", step.op, "")
		stopped, _ := rdb.SIsMember(ctx, "lsqd:{bulk}:stopped", "acme/spring").Result()
		if err != nil || st != step.state || changed != step.changed || stopped != step.stopped {
			t.Errorf("%s: %s changed=%v stopped=%v, %v; want %s changed=%v stopped=%v",
				step.op, st, changed, stopped, err, step.state, step.changed, step.stopped)
		}
	}
}
