package enqueuetest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/enqueue/enqueuetest"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

const guid = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

var system = leadsquared.SystemNotification{Type: "Lead", ToUser: guid,
	CardContents: leadsquared.CardContents{Message: "New lead"}}

func TestRequireEnqueued(t *testing.T) {
	t.Parallel()
	c, _ := enqueuetest.NewClient(t)
	ctx := t.Context()
	if _, err := c.SendSystem(ctx, system, enqueue.WithRef("lead-42")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendPush(ctx, leadsquared.PushNotification{Title: "t", Content: "c"}, enqueue.WithRef("p"), enqueue.Bulk()); err != nil {
		t.Fatal(err)
	}
	e := enqueuetest.RequireEnqueued(t, c, tasks.DefaultAccount, "lead-42")
	if e.System == nil || e.Push != nil || e.System.CardContents.Message != "New lead" || e.Meta.Ref != "lead-42" ||
		e.State != "pending" || e.System.ExternalSource.ExternalReferenceId != "lead-42" {
		t.Errorf("system: %+v", e)
	}
	p := enqueuetest.RequireEnqueued(t, c, tasks.DefaultAccount, "p")
	if p.Push == nil || p.Push.Title != "t" || p.Meta.Lane != tasks.LaneBulk {
		t.Errorf("push: %+v", p)
	}
	enqueuetest.RequireNotEnqueued(t, c, tasks.DefaultAccount, "other")
}

// TestMiniredis runs the producer's operations on miniredis, to show which
// of them importers' tests can rely on there.
func TestMiniredis(t *testing.T) {
	t.Parallel()
	c, m := enqueuetest.NewClient(t)
	ctx := t.Context()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ctl := enqueuetest.NewInspector(t, m)

	res, err := c.SendSystem(ctx, system, enqueue.WithRef("a"))
	if err != nil || res.Duplicate {
		t.Fatalf("send: %+v, %v", res, err)
	}
	if res, err := c.SendSystem(ctx, system, enqueue.WithRef("a"), enqueue.Bulk()); err != nil || !res.Duplicate || res.State != "pending" {
		t.Errorf("duplicate: %+v, %v", res, err)
	}
	if res, err := c.SendSystem(ctx, system, enqueue.WithRef("later"), enqueue.In(time.Hour)); err != nil || res.State != "scheduled" {
		t.Errorf("scheduled: %+v, %v", res, err)
	}
	if err := insp.DeleteTask("transactional", "default:a"); err != nil {
		t.Fatal(err)
	}
	if res, err := c.SendSystem(ctx, system, enqueue.WithRef("a")); err != nil || res.Duplicate {
		t.Errorf("stale takeover: %+v, %v", res, err)
	}

	rep, err := c.Campaign(ctx, strings.NewReader(`{"type":"push","ref":"c1","body":{"Title":"t","Content":"c"}}
{"type":"push","ref":"c1","body":{"Title":"t","Content":"c"}}
`), enqueue.CampaignOptions{})
	if err != nil || rep.Enqueued != 1 || rep.Duplicates != 1 {
		t.Errorf("campaign: %+v, %v", rep, err)
	}

	if err := ctl.Cancel(ctx, "default", "later"); err != nil {
		t.Errorf("cancel: %v", err)
	}
	st, err := ctl.Stats(ctx)
	if err != nil || st.Queues[0].Pending != 1 || st.Queues[1].Pending != 1 {
		t.Errorf("stats: %+v, %v", st, err)
	}

	if err := insp.ArchiveTask("bulk", "default:c1"); err != nil {
		t.Fatal(err)
	}
	if dl, err := ctl.DeadLetters(ctx, 0); err != nil || len(dl) != 1 || dl[0].ID != "default:c1" {
		t.Errorf("dead letters: %+v, %v", dl, err)
	}
	if n, err := ctl.ReplayDeadLetters(ctx, "default:c1"); n != 1 || err != nil {
		t.Errorf("replay: %d, %v", n, err)
	}
	_ = insp.ArchiveTask("bulk", "default:c1")
	if n, err := ctl.PurgeAllDeadLetters(ctx); n != 1 || err != nil {
		t.Errorf("purge all: %d, %v", n, err)
	}
	enqueuetest.RequireNotEnqueued(t, c, "default", "c1")
	if _, err := c.Status(ctx, "default", "c1"); !errors.Is(err, enqueue.ErrNotFound) {
		t.Errorf("status after purge: %v", err)
	}
}
