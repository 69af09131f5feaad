package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/events"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// A 60-line campaign at 25/5 s over 3 notifyd × 8 workers, steered with
// notifyctl: paused (and one process restarted while paused), resumed,
// cancelled. No call for it from 1 s after the pause while paused; calls
// again within 2 s of the resume; none from 1 s after the cancel; delivered
// + cancelled = 60, each ref called at most once, the counts equal what the
// sandbox recorded, each delivery has one delivered event with its
// MessageID, and the same refs enqueue again after the cancel.
func TestCampaigns_PauseResumeCancel(t *testing.T) {
	t.Parallel()
	s := startSchedStack(t, 25, 5*time.Second)
	for range 3 {
		s.startNotifyd(t, 8)
	}
	lines, refs := campaignLines("C-", 60)
	file := filepath.Join(t.TempDir(), "promo.jsonl")
	if err := os.WriteFile(file, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCtl(t, s.redis.URL, "campaign", file, "--name", "promo"); code != 0 || !strings.Contains(out, "promo") {
		t.Fatalf("notifyctl campaign: exit %d\n%s", code, out)
	}
	if code, out := runCtl(t, s.redis.URL, "campaign", file, "--name", "promo"); code != 1 || !strings.Contains(out, "promo") {
		t.Errorf("the name of a running campaign again: exit %d, want 1 naming it\n%s", code, out)
	}
	s.waitCalls(t, "C-", 8, 20*time.Second)

	pausedAt := s.ctl(t, 0, "campaign", "pause", "promo")
	// While paused, one process is restarted: the pause is in Redis, not in it.
	s.workers[0].terminate(t, 20*time.Second)
	s.workers = s.workers[1:]
	s.startNotifyd(t, 8)
	time.Sleep(4 * time.Second) // an absence of calls is observed over a span
	resumedAt := s.ctl(t, 0, "campaign", "resume", "promo")
	during := between(accepted(s.calls(t), "C-"), pausedAt.Add(time.Second), resumedAt)

	s.waitCalls(t, "C-", len(accepted(s.calls(t), "C-"))+1, 10*time.Second)
	var firstAfter time.Time
	for _, c := range accepted(s.calls(t), "C-") {
		if c.Time.After(resumedAt) {
			firstAfter = c.Time
			break
		}
	}
	s.waitCalls(t, "C-", len(accepted(s.calls(t), "C-"))+5, 10*time.Second)
	cancelledAt := s.ctl(t, 0, "campaign", "cancel", "promo")
	time.Sleep(3 * time.Second)
	calls := accepted(s.calls(t), "C-")
	after := between(calls, cancelledAt.Add(time.Second), time.Now())

	var info enqueue.CampaignInfo
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, out := runCtl(t, s.redis.URL, "campaign", "status", "promo", "--json")
		info = enqueue.CampaignInfo{}
		_ = json.Unmarshal([]byte(out), &info)
		return info.Counts.Pending == 0 && info.Counts.Total == 60
	}, "the cancelled campaign's counts settle")
	st := s.stats(t)
	t.Logf("paused %s after the first call; calls from 1 s after the pause while paused: %d; first call %s after the resume; calls from 1 s after the cancel: %d; status %+v; sandbox: %d refs, %d duplicates",
		pausedAt.Sub(calls[0].Time).Round(time.Millisecond), during, firstAfter.Sub(resumedAt).Round(time.Millisecond),
		after, info.Counts, len(st.PerRef), len(st.DuplicateRefs))
	if during != 0 || after != 0 {
		t.Errorf("calls while paused %d, after the cancel %d: want none", during, after)
	}
	if firstAfter.IsZero() || firstAfter.Sub(resumedAt) > 2*time.Second {
		t.Errorf("first call %s after the resume, want within 2 s", firstAfter.Sub(resumedAt))
	}
	if info.State != enqueue.CampaignCancelled || info.Counts.Delivered+info.Counts.Cancelled != 60 ||
		info.Counts.Delivered != len(st.PerRef) || len(st.DuplicateRefs) != 0 {
		t.Errorf("status %s %+v against %d refs the sandbox accepted (%d twice): want delivered + cancelled = 60 and delivered = accepted",
			info.State, info.Counts, len(st.PerRef), len(st.DuplicateRefs))
	}
	s.checkDeliveredEvents(t, "promo", st.PerRef)

	rep, err := s.enq.Campaign(context.Background(), strings.NewReader(string(lines)), enqueue.CampaignOptions{Name: "promo", TempDir: t.TempDir()})
	if err != nil || rep.Enqueued != info.Counts.Cancelled || rep.Enqueued+rep.Duplicates != len(refs) {
		t.Errorf("the same refs after the cancel: %+v, %v; want the %d cancelled enqueued again", rep, err, info.Counts.Cancelled)
	}
	if code, out := runCtl(t, s.redis.URL, "campaign", "pause", "no-such"); code != 1 || !strings.Contains(out, "no-such") {
		t.Errorf("pause of an unknown campaign: exit %d, want 1 naming it\n%s", code, out)
	}
	if code, _ := runCtl(t, "redis://"+addr(t), "campaign", "status", "promo"); code != 2 {
		t.Errorf("status with Redis down: exit %d, want 2", code)
	}
}

// ctl runs notifyctl and fails the test unless it exits with code; it
// returns when notifyctl returned.
func (s *schedStack) ctl(t *testing.T, code int, args ...string) time.Time {
	t.Helper()
	if got, out := runCtl(t, s.redis.URL, args...); got != code {
		t.Fatalf("notifyctl %s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, out)
	}
	return time.Now()
}

// waitCalls waits until the sandbox accepted n calls of refs with prefix.
func (s *schedStack) waitCalls(t *testing.T, prefix string, n int, timeout time.Duration) {
	t.Helper()
	testutil.Eventually(t, timeout, func() bool { return len(accepted(s.calls(t), prefix)) >= n }, "%d calls of %s…", n, prefix)
}

// checkDeliveredEvents checks that each ref the sandbox accepted has one
// delivered event of the campaign, with a MessageID for system notifications.
func (s *schedStack) checkDeliveredEvents(t *testing.T, name string, perRef map[string]int) {
	t.Helper()
	rdb := s.redis.Client()
	evs, err := events.Range(context.Background(), rdb, "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range evs {
		if ev.Type != tasks.EventDelivered || ev.Campaign != name {
			continue
		}
		seen[ev.Ref]++
		if ev.Kind == tasks.KindSystem && ev.MessageID == "" {
			t.Errorf("delivered event of %s without a MessageID: %+v", ev.Ref, ev)
		}
	}
	for ref := range perRef {
		if seen[ref] != 1 {
			t.Errorf("ref %s: %d delivered events, want 1", ref, seen[ref])
		}
	}
	if len(seen) != len(perRef) {
		t.Errorf("%d refs with a delivered event, %d accepted by the sandbox", len(seen), len(perRef))
	}
}
