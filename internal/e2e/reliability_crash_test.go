package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// asynq's fixed timings that bound the recovery of a killed worker's tasks
// (asynq v0.26.0: internal/rdb LeaseDuration, recoverer.go, server.go).
const (
	asynqLease            = 30 * time.Second // a task's lease, extended by the heartbeat every 5 s
	asynqRecoverCutoff    = 30 * time.Second // the recoverer takes tasks whose lease expired this long ago
	asynqRecoverInterval  = time.Minute      // how often each server's recoverer runs (and once at start)
	asynqHeartbeatPeriod  = 5 * time.Second
	notifydForwardAndPoll = 3 * time.Second // first retry's backoff (1 s ±30%) + forwarder (1 s) + slack
)

// TestReliability_WorkerCrash kills one of three notifyd processes with
// SIGKILL mid-drain. Every notification must still be delivered, only the
// tasks the killed process held may be delivered twice, and the limit must
// hold throughout.
//
// The killed process's tasks stay in asynq's active set until their lease
// (30 s) has been expired for 30 s and a recoverer runs (every minute in each
// server, and once when a server starts): 55 to 120 s after the kill. The
// long variant waits for that in real time. The quick variant does what a
// supervisor does, restarting a notifyd, after moving the orphans' lease
// expiries 31 s into the past: that is, it fast-forwards asynq's clock and
// runs the real recoverer, instead of waiting a minute.
func TestReliability_WorkerCrash(t *testing.T) {
	t.Parallel()
	n, conc := 300, 8
	if longRun() {
		n = 1500
	}
	// 500 ms of latency keeps about 4 calls per process in flight, so that
	// the kill catches some mid-call.
	s := startStack(t, stackConfig{Workers: 3, Concurrency: conc, SandboxArgs: []string{"--latency", "500ms"}})
	rdb := s.redis.Client()
	ctx := context.Background()
	refs := s.campaign(t, "crash", n)
	byID := map[string]string{}
	for _, r := range refs {
		byID[tasks.TaskID(tasks.DefaultAccount, r)] = r
	}

	s.waitCount(t, n/3, 2*time.Minute)
	victim := s.workers[0]
	killedAt := time.Now()
	victim.kill(t)
	t.Logf("killed notifyd pid %d at %s, after %d deliveries", victim.cmd.Process.Pid, killedAt.Format(time.TimeOnly), len(s.stats(t).PerRef))

	// The victim's tasks are those whose lease was last extended before the
	// kill: once the survivors' heartbeat has run, theirs end later.
	waitSurvivorsBeat(t, rdb, victim.cmd.Process.Pid, killedAt)
	orphans := orphanedTasks(t, rdb, killedAt)
	t.Logf("the killed process held %d tasks (NOTIFYD_CONCURRENCY %d): %v", len(orphans), conc, orphans)
	if len(orphans) > conc {
		t.Errorf("%d tasks orphaned by one process with %d workers", len(orphans), conc)
	}

	// The survivors drain everything else.
	var rest []string
	isOrphan := map[string]bool{}
	for _, id := range orphans {
		isOrphan[byID[id]] = true
	}
	for _, r := range refs {
		if !isOrphan[r] {
			rest = append(rest, r)
		}
	}
	s.waitDelivered(t, rest, 3*time.Minute)
	drainedAt := time.Now()

	if !longRun() {
		// Fast-forward: the orphans' leases expired 31 s ago, and a
		// replacement process's recoverer runs as it starts.
		for _, id := range orphans {
			if err := rdb.ZAddXX(ctx, "asynq:{bulk}:lease", redis.Z{Score: float64(time.Now().Add(-asynqRecoverCutoff - time.Second).Unix()), Member: id}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		s.startNotifyd(t)
	}
	// Worst case: the lease runs 30 s from its last extension, the
	// recoverer waits 30 s more and runs once a minute; then the first
	// retry's backoff and the forwarder.
	deadline := asynqLease + asynqRecoverCutoff + asynqRecoverInterval + notifydForwardAndPoll + 10*time.Second
	if !longRun() {
		deadline = 30 * time.Second
	}
	st := s.waitDelivered(t, refs, time.Until(killedAt.Add(deadline)))
	recovered := time.Since(killedAt)

	dups := st.DuplicateRefs
	t.Logf("%d notifications, all delivered; %d duplicates %v; %d orphans recovered %.1fs after the kill (the rest drained %.1fs after it); calls %d, max in window %d, 429s %d",
		n, len(dups), dups, len(orphans), recovered.Seconds(), drainedAt.Sub(killedAt).Seconds(), st.Total, st.MaxInWindow, st.RateLimited)
	if len(dups) > conc {
		t.Errorf("%d refs delivered twice, more than the killed process's %d workers", len(dups), conc)
	}
	for _, r := range dups {
		if !isOrphan[r] {
			t.Errorf("ref %s delivered %d times, but the killed process did not hold it", r, st.PerRef[r])
		}
	}
	s.checkLimitHeld(t, st)

	// The survivors kept the limit full while they had work: the dead
	// process's bookings left no hole longer than one slot (2 paces, and
	// 100 ms for the timers of the processes and the sandbox).
	pace := time.Duration(float64(time.Second) / relRate())
	var survivors []relCall
	for _, c := range s.calls(t) {
		if c.Counted && c.Time.After(killedAt) && c.Time.Before(drainedAt) {
			survivors = append(survivors, c)
		}
	}
	gap, at := maxGap(survivors)
	t.Logf("between the kill and the drain: %d calls, %.3f of the limit used, longest gap %s at %s (pace %s)",
		len(survivors), used(survivors, pace), gap.Round(time.Millisecond), at.Format("15:04:05.000"), pace.Round(time.Millisecond))
	if gap > 2*pace+100*time.Millisecond {
		t.Errorf("a gap of %s between calls after the kill, want ≤ 2 paces (%s)", gap, 2*pace)
	}
	// asynq's recoverer hands an orphan back as a lease that ran out, which
	// is no failure: its retry budget is whole.
	for _, id := range orphans {
		if info, err := s.insp.GetTaskInfo(string(tasks.LaneBulk), id); err == nil && info.Retried != 0 {
			t.Errorf("orphan %s was recovered with %d retries spent, want 0", id, info.Retried)
		}
	}
	if longRun() && recovered < asynqLease {
		t.Errorf("orphans recovered %.1fs after the kill: sooner than asynq's lease, so they were not orphans", recovered.Seconds())
	}
}

// waitSurvivorsBeat waits until every asynq server but the killed
// process's has had a heartbeat since the kill and extended the leases of
// the tasks it holds: from then on, a lease that ends by killedAt plus the
// lease is the killed process's.
//
// A heartbeat (asynq v0.26.0 heartbeat.go) scores its server in
// asynq:servers with its time plus two periods (whole seconds), rewrites
// asynq:workers:{host:pid:sid} with the tasks the server holds, then
// extends those tasks' leases.
func waitSurvivorsBeat(t *testing.T, rdb *redis.Client, victimPID int, killedAt time.Time) {
	t.Helper()
	ctx := context.Background()
	since := float64(killedAt.Unix() + int64(2*asynqHeartbeatPeriod/time.Second))
	limit := float64(killedAt.Add(asynqLease).Unix())
	testutil.Eventually(t, 4*asynqHeartbeatPeriod, func() bool {
		servers, err := rdb.ZRangeWithScores(ctx, "asynq:servers", 0, -1).Result()
		if err != nil {
			return false
		}
		for _, z := range servers {
			id := strings.TrimPrefix(z.Member.(string), "asynq:servers:") // {host:pid:sid}
			if parts := strings.Split(strings.Trim(id, "{}"), ":"); len(parts) >= 3 && parts[len(parts)-2] == strconv.Itoa(victimPID) {
				continue
			}
			if z.Score <= since {
				return false // no heartbeat since the kill yet
			}
			held, err := rdb.HKeys(ctx, "asynq:workers:"+id).Result()
			if err != nil {
				return false
			}
			for _, task := range held {
				lease, err := rdb.ZScore(ctx, "asynq:{bulk}:lease", task).Result()
				if err == nil && lease <= limit {
					return false // the heartbeat has not extended it yet
				}
			}
		}
		return true
	}, "the surviving servers' heartbeat since the kill")
}

// orphanedTasks returns the ids of the active bulk tasks whose lease ends
// no later than asynq's lease after killedAt: the killed process's.
func orphanedTasks(t *testing.T, rdb *redis.Client, killedAt time.Time) []string {
	t.Helper()
	limit := killedAt.Add(asynqLease).Unix()
	ids, err := rdb.ZRangeByScore(context.Background(), "asynq:{bulk}:lease",
		&redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(limit, 10)}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
