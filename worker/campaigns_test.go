package worker

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/internal/campaign"
	"github.com/lsqdispatch/lsqdispatch/internal/keys"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func campaignTask(t *testing.T, ref string) *asynq.Task {
	t.Helper()
	task, err := tasks.NewPushTask(tasks.PushPayload{
		Meta: tasks.Meta{Ref: ref, Account: tasks.DefaultAccount, Lane: tasks.LaneBulk, Campaign: "spring"},
		Body: leadsquared.PushNotification{UserId: fuzzGUID, Title: "Sale", Content: "50% off"}})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// A task of a paused campaign is handed back without a call or a spent
// retry; one of a cancelled campaign completes without a call, counted
// cancelled, its ref freed.
func TestHandler_StoppedCampaign(t *testing.T) {
	t.Parallel()
	b := setupHandler(t, unlimited, &scriptedSender{})
	ctx := context.Background()
	reg := campaign.New(b.rdb, 0)
	if err := reg.Start(ctx, tasks.DefaultAccount, "spring", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(ctx, tasks.DefaultAccount, "spring", 2, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Change(ctx, tasks.DefaultAccount, "spring", campaign.OpPause, ""); err != nil {
		t.Fatal(err)
	}
	err := b.srv.handler.ProcessTask(ctx, campaignTask(t, "p1"))
	if IsFailure(err) || outcomeOf(err) != OutcomePaused {
		t.Fatalf("paused campaign's task: %v (outcome %s), want a hand-back", err, outcomeOf(err))
	}

	if _, _, err := reg.Change(ctx, tasks.DefaultAccount, "spring", campaign.OpCancel, ""); err != nil {
		t.Fatal(err)
	}
	b.srv.handler.camps.states = map[string]cachedState{} // not wait for the cache
	b.rdb.Set(ctx, keys.Ref(tasks.DefaultAccount, "c1"), "bulk", 0)
	task := campaignTask(t, "c1")
	if err := b.srv.handler.ProcessTask(ctx, task); err != nil {
		t.Fatalf("cancelled campaign's task: %v, want completed", err)
	}
	if n := b.sender.count("push"); n != 0 {
		t.Errorf("%d calls for a stopped campaign, want 0", n)
	}
	rec, _ := reg.Get(ctx, tasks.DefaultAccount, "spring")
	if rec.Cancelled != 1 {
		t.Errorf("cancelled count %d, want 1", rec.Cancelled)
	}
	if n := b.rdb.Exists(ctx, keys.Ref(tasks.DefaultAccount, "c1")).Val(); n != 0 {
		t.Error("the cancelled notification's ref is still claimed")
	}
}
