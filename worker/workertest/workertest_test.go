package workertest_test

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/leadsquared/leadsquaredtest"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker/workertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const userID = "2f5508b5-f7ed-11ea-b39f-122cab85b441"

func system(msg string) leadsquared.SystemNotification {
	return leadsquared.SystemNotification{Type: "Lead", ToUser: userID, CardContents: leadsquared.CardContents{Message: msg}}
}

func TestHarness_Delivers(t *testing.T) {
	t.Parallel()
	h := workertest.Start(t, workertest.Config{})
	ctx := t.Context()
	if _, err := h.Client.SendSystem(ctx, system("New lead assigned"), enqueue.WithRef("lead-42")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Client.SendPush(ctx, leadsquared.PushNotification{UserId: userID, Title: "Hot lead", Content: "Call now"},
		enqueue.WithRef("push-7"), enqueue.Bulk()); err != nil {
		t.Fatal(err)
	}
	st := h.WaitDelivered(t, tasks.DefaultAccount, "lead-42")
	if st.MessageID == "" || st.Attempts != 0 {
		t.Errorf("lead-42: MessageID %q, %d failed attempts; want a MessageID and none", st.MessageID, st.Attempts)
	}
	h.WaitDelivered(t, tasks.DefaultAccount, "push-7")
	if got := h.LeadSquared.Stats().PerRef; got["lead-42"] != 1 || got["push-7"] != 1 {
		t.Errorf("LeadSquared received %v, want lead-42 and push-7 once each", got)
	}
}

func TestHarness_RetriesAndArchives(t *testing.T) {
	t.Parallel()
	h := workertest.Start(t, workertest.Config{LeadSquared: leadsquaredtest.Config{
		Faults: leadsquaredtest.Faults{Scripts: []leadsquaredtest.Script{
			{Ref: "flaky", FirstN: 1, Status: 500}, {Ref: "refused", FirstN: 1, Status: 400}}},
	}})
	for _, ref := range []string{"flaky", "refused"} {
		if _, err := h.Client.SendSystem(t.Context(), system("New lead "+ref), enqueue.WithRef(ref)); err != nil {
			t.Fatal(err)
		}
	}
	if st := h.WaitDelivered(t, tasks.DefaultAccount, "flaky"); st.Attempts != 1 {
		t.Errorf("flaky: %d failed attempts, want 1 (the 500)", st.Attempts)
	}
	st := h.WaitArchived(t, tasks.DefaultAccount, "refused")
	if !strings.Contains(st.LastError, "400") {
		t.Errorf("refused: last error %q, want LeadSquared's 400", st.LastError)
	}
	if n := h.LeadSquared.Stats().ByStatus[400]; n != 1 {
		t.Errorf("refused: %d calls answered 400, want exactly 1", n)
	}
}

// The same harness on a real Redis (a private redis-server, or REDIS_URL).
func TestHarness_RedisAddr(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	h := workertest.Start(t, workertest.Config{RedisAddr: r.Addr})
	if h.Redis != nil {
		t.Error("Harness.Redis is set, want nil with Config.RedisAddr")
	}
	ref := "real-" + t.Name()
	if _, err := h.Client.SendSystem(t.Context(), system("On a real Redis"), enqueue.WithRef(ref)); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, tasks.DefaultAccount, ref)
}
