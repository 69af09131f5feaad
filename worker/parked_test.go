package worker_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
	"github.com/lsqdispatch/lsqdispatch/worker"
)

// A halt defers its tasks for the probe interval; when it ends (here: a
// restart with the fault fixed, whose first probe passes) they come back at
// once, not when their deferral runs out.
func TestServer_HaltsEndBringsItsTasksBackAtOnce(t *testing.T) {
	t.Parallel()
	const probe = 30 * time.Second // each held task's deferral
	slowProbe := func(c *worker.Config) { c.ProbeInterval = probe }
	cases := []struct {
		name   string
		broken func(b *serverBundle) *leadsquared.Client
		lane   tasks.Lane
		halted func(s *worker.Server) bool
	}{
		{"kind halt: wrong system path", func(b *serverBundle) *leadsquared.Client {
			c, err := leadsquared.NewClient(leadsquared.Config{BaseURL: b.url, AccessKey: accessKey, SecretKey: secretKey,
				Timeout: 2 * time.Second, SystemNotificationPath: "/v2/Converse.svc/Placeholder"})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, tasks.LaneBulk, func(s *worker.Server) bool { return len(s.HaltedKinds()) == 1 }},
		{"account halt: wrong keys", func(b *serverBundle) *leadsquared.Client {
			return b.sender(t, "wrong-secret-key-0001")
		}, tasks.LaneTransactional, func(s *worker.Server) bool { return len(s.Halted()) == 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupServer(t, sandbox.Config{Limit: -1})
			refs := []string{"a", "b", "c", "d", "e"}
			for _, ref := range refs {
				b.enqueueSystem(t, ref, tc.lane)
			}
			first := b.start(t, tc.broken(b), fast, slowProbe)
			testutil.Eventually(t, 10*time.Second, func() bool { return tc.halted(first) }, "never halted")
			for _, ref := range refs {
				b.waitState(t, tc.lane, ref, asynq.TaskStateRetry) // deferred for the probe interval
			}
			first.Shutdown()

			restarted := time.Now()
			b.start(t, b.sender(t, secretKey), fast, slowProbe)
			for _, ref := range refs {
				b.waitState(t, tc.lane, ref, asynq.TaskStateCompleted)
			}
			if took := time.Since(restarted); took > probe/3 {
				t.Errorf("the held tasks were delivered %s after the fixed restart; want at once, well before their %s deferral ran out",
					took.Round(time.Millisecond), probe)
			}
			if st := b.sandbox.Stats(); len(st.DuplicateRefs) > 0 || st.Accepted != len(refs) {
				t.Errorf("%d accepted, duplicates %v; want each of %d once", st.Accepted, st.DuplicateRefs, len(refs))
			}
		})
	}
}
