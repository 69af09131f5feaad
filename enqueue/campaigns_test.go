package enqueue_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

func namedLines(prefix string, n int) io.Reader {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, sysLine+"\n", fmt.Sprintf("%s-%d", prefix, i))
	}
	return strings.NewReader(sb.String())
}

// A campaign's life without workers: registered with its counts, its name
// taken while it runs, paused and resumed, cancelled with every waiting
// notification recorded cancelled and its ref freed for a corrected run.
func TestInspector_CampaignLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rep, err := b.client.Campaign(b.ctx, namedLines("l", 12), enqueue.CampaignOptions{Name: "spring", Weight: 2})
	if err != nil || rep.Enqueued != 12 {
		t.Fatalf("campaign: %+v, %v", rep, err)
	}
	info, err := b.control.CampaignStatus(b.ctx, "", "spring")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != enqueue.CampaignRunning || info.Counts.Total != 12 || info.Counts.Pending != 12 || info.Enqueuing || info.Weight != 2 {
		t.Errorf("status after enqueue: %+v", info)
	}

	_, err = b.client.Campaign(b.ctx, namedLines("other", 1), enqueue.CampaignOptions{Name: "spring"})
	if !errors.Is(err, enqueue.ErrCampaignExists) || !strings.Contains(err.Error(), `"spring"`) {
		t.Errorf("a second running campaign of the name: %v, want ErrCampaignExists naming it", err)
	}

	for _, step := range []struct {
		do   func() (enqueue.CampaignInfo, error)
		want string
	}{
		{func() (enqueue.CampaignInfo, error) { return b.control.PauseCampaign(b.ctx, "", "spring") }, enqueue.CampaignPaused},
		{func() (enqueue.CampaignInfo, error) { return b.control.PauseCampaign(b.ctx, "", "spring") }, enqueue.CampaignPaused},
		{func() (enqueue.CampaignInfo, error) { return b.control.ResumeCampaign(b.ctx, "", "spring") }, enqueue.CampaignRunning},
	} {
		info, err := step.do()
		if err != nil || info.State != step.want {
			t.Fatalf("state %q, %v; want %s", info.State, err, step.want)
		}
	}
	if ok, _ := b.rdb.SIsMember(b.ctx, "lsqd:{bulk}:stopped", "default/spring").Result(); ok {
		t.Error("a resumed campaign's group is still stopped")
	}

	info, err = b.control.CancelCampaign(b.ctx, "", "spring")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != enqueue.CampaignCancelled || info.Counts.Cancelled != 12 || info.Counts.Pending != 0 || info.EndedAt.IsZero() {
		t.Errorf("status after cancel: %+v", info)
	}
	if n := b.taskCount(t, "bulk"); n != 0 {
		t.Errorf("%d bulk tasks left after the cancel, want 0", n)
	}
	if _, err := b.control.PauseCampaign(b.ctx, "", "spring"); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("pause of a cancelled campaign: %v, want an error naming its state", err)
	}

	evs, err := events.Range(b.ctx, b.rdb, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[tasks.EventType]int{}
	for _, ev := range evs {
		got[ev.Type]++
		if ev.Type == tasks.EventCancelled && (ev.Ref == "" || ev.Campaign != "spring" || ev.Kind != tasks.KindSystem) {
			t.Errorf("cancelled event %+v", ev)
		}
	}
	want := map[tasks.EventType]int{tasks.EventCampaignStarted: 1, tasks.EventCampaignPaused: 1,
		tasks.EventCampaignResumed: 1, tasks.EventCampaignCancelled: 1, tasks.EventCancelled: 12}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", got, want)
	}

	rep, err = b.client.Campaign(b.ctx, namedLines("l", 12), enqueue.CampaignOptions{Name: "spring"})
	if err != nil || rep.Enqueued != 12 || rep.Duplicates != 0 {
		t.Errorf("the same refs after the cancel: %+v, %v; want all 12 enqueued again", rep, err)
	}
	list, err := b.control.Campaigns(b.ctx, "")
	if err != nil || len(list) != 1 || list[0].State != enqueue.CampaignRunning || list[0].Counts.Total != 12 {
		t.Errorf("list: %+v, %v", list, err)
	}
	if _, err := b.control.CampaignStatus(b.ctx, "", "autumn"); !errors.Is(err, enqueue.ErrCampaignNotFound) || !strings.Contains(err.Error(), "autumn") {
		t.Errorf("unknown campaign: %v, want ErrCampaignNotFound naming it", err)
	}
}
