package cli_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// A delivery LeadSquared did not confirm (its 2xx body was not its JSON)
// shows as such in status, with the answer.
func TestRun_StatusShowsAnUnconfirmedDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check(t, b.run(t, "", "send", "push", "--title", "T", "--content", "C", "--ref", "u1"), 0, "*", "")
	const why = `leadsquared push: HTTP 200 (unconfirmed): HTTP 200, but the answer is not LeadSquared's`
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{Concurrency: 1, Queues: tasks.Queues, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		res, _ := json.Marshal(tasks.Result{DeliveredAt: time.Now(), Attempt: 1, Unconfirmed: why})
		_, err := task.ResultWriter().Write(res)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	testutil.Eventually(t, 10*time.Second, func() bool {
		info, err := b.inspector.GetTaskInfo("transactional", "default:u1")
		return err == nil && info.State == asynq.TaskStateCompleted
	}, "task never completed")

	got := b.run(t, "", "status", "u1")
	check(t, got, 0, "*", "")
	contains(t, "stdout", got.stdout, "completed\n", "unconfirmed, not sent again: "+why+"\n")
	got = b.run(t, "", "status", "u1", "--json")
	var j map[string]any
	if err := json.Unmarshal([]byte(got.stdout), &j); err != nil || j["unconfirmed"] != why {
		t.Errorf("--json: %v\n%s", err, got.stdout)
	}
}
