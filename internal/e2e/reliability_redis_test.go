package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// TestReliability_RedisOutage stops the private redis-server for 10 s (45 s
// in the long variant: longer than asynq's 30 s lease) in the middle of a
// drain, then starts it again: from its append-only file (AOF), and without
// persistence, when Redis comes back empty.
//
// notifyd must stay up, report not-ready while Redis is down and ready once
// it is back, and resume by itself; producers must get errors while it is
// down; with AOF every notification enqueued before the outage must be
// delivered; and the resumption must not trip LeadSquared's limit. An
// outage shorter than the lease must cost nothing else: the tasks the
// workers hold wait for Redis in the handler (no duplicate, no wait for
// asynq's recoverer). A longer one may deliver the calls in flight at its
// start twice, at most one per worker.
func TestReliability_RedisOutage(t *testing.T) {
	t.Parallel()
	runTogether(t, scenario{"AOF", func(t *testing.T) { testRedisOutage(t, true) }},
		scenario{"NoPersistence", func(t *testing.T) { testRedisOutage(t, false) }})
}

func testRedisOutage(t *testing.T, aof bool) {
	// The long variant's outage outlasts asynq's lease (30 s): the tasks
	// the workers held then go through asynq's recoverer.
	n, outage := 400, 10*time.Second
	if longRun() {
		n, outage = 1500, 45*time.Second
	}
	var opts []testutil.RedisOption
	if aof {
		opts = append(opts, testutil.WithAOF())
	}
	s := startStack(t, stackConfig{Redis: opts, SandboxArgs: []string{"--latency", "100ms"}})
	ctx := context.Background()
	refs := s.campaign(t, "outage", n)
	s.waitCount(t, n/4, 2*time.Minute)
	s.redis.Stop()
	down := time.Now()
	atStop := s.stats(t)
	t.Logf("redis-server stopped after %d deliveries", len(atStop.PerRef))

	// Readiness turns 503 within the readiness probe's own timeout.
	for i, w := range s.workers {
		testutil.Eventually(t, 5*time.Second, func() bool { return w.readyz() == 503 },
			"notifyd %d /readyz still %d with Redis down", i, w.readyz())
	}
	notReadyAfter := time.Since(down)

	// Producers get errors, and nothing is half-enqueued.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := s.enq.SendSystem(sctx, leadsquared.SystemNotification{Type: "Lead",
		CardContents: leadsquared.CardContents{Message: "during the outage"}, ToUser: guid(1)}, enqueue.WithRef("during-outage"))
	cancel()
	if err == nil {
		t.Errorf("enqueue SendSystem with Redis down: no error")
	} else {
		t.Logf("enqueue SendSystem with Redis down: %v", err)
	}
	sctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	if c, err := enqueue.New(sctx, s.redis.URL); err == nil {
		c.Close()
		t.Errorf("enqueue.New with Redis down: no error")
	}
	cancel()
	if haveNotifyctl(t) {
		code, out := runCtl(t, s.redis.URL, "send", "system", "--to", guid(2), "--type", "Lead",
			"--message", "during the outage", "--ref", "ctl-during-outage")
		if code != 2 {
			t.Errorf("notifyctl send with Redis down: exit %d, want 2\n%s", code, out)
		}
	} else {
		t.Log("notifyctl is not built yet (./cmd/notifyctl has no main): its exit code is not checked")
	}

	time.Sleep(time.Until(down.Add(outage)))
	for i, w := range s.workers {
		if !w.alive() {
			t.Fatalf("notifyd %d exited during the Redis outage", i)
		}
		if code := w.readyz(); code != 503 {
			t.Errorf("notifyd %d /readyz %d at the end of the outage, want 503", i, code)
		}
	}
	atRestart := s.stats(t)
	s.redis.Restart()
	up := time.Now()
	for i, w := range s.workers {
		testutil.Eventually(t, 15*time.Second, func() bool { return w.readyz() == 200 },
			"notifyd %d not ready again after Redis came back", i)
	}
	readyAfter := time.Since(up)

	// New work is taken without a restart of notifyd.
	var fresh []string
	for i := range 5 {
		ref := "after-outage-" + strconv.Itoa(i)
		if _, err := s.enq.SendSystem(ctx, leadsquared.SystemNotification{Type: "Lead",
			CardContents: leadsquared.CardContents{Message: "after the outage"}, ToUser: guid(i)}, enqueue.WithRef(ref)); err != nil {
			t.Fatalf("SendSystem after the outage: %v", err)
		}
		fresh = append(fresh, ref)
	}
	s.waitDelivered(t, fresh, 30*time.Second)
	freshAfter := time.Since(up)

	var st relStats
	var lost []string
	if aof {
		// Tasks a worker held when Redis went away may need asynq's
		// recoverer (lease 30 s + cutoff 30 s + its one-minute period).
		st = s.waitDelivered(t, refs, asynqLease+asynqRecoverCutoff+asynqRecoverInterval+notifydForwardAndPoll+outage+20*time.Second)
	} else {
		// Redis came back empty: what it held is gone. Wait for the queues
		// to be idle and the workers to hold nothing, then count.
		testutil.Eventually(t, 30*time.Second, func() bool { return s.queuesIdle(t) }, "queues idle")
		idle, rdb := time.Now(), s.redis.Client()
		testutil.Eventually(t, 30*time.Second, func() bool { return s.workersIdleSince(t, rdb, idle) }, "workers idle")
		st = s.stats(t)
		lost = undelivered(st, refs)
	}
	recovered := st.LastAccepted.Sub(up)
	t.Logf("outage %s: %d of %d delivered before it, %d calls during it; /readyz 503 within %.1fs, 200 %.1fs after restart; new sends delivered %.1fs after restart (%d of them); last delivery %.1fs after restart",
		outage, len(atStop.PerRef), n, atRestart.Total-atStop.Total, notReadyAfter.Seconds(), readyAfter.Seconds(),
		freshAfter.Seconds(), len(fresh), recovered.Seconds())
	t.Logf("delivered %d of %d (lost %d), duplicates %d %v, max in window %d, 429s %d",
		n-len(lost), n, len(lost), len(st.DuplicateRefs), st.DuplicateRefs, st.MaxInWindow, st.RateLimited)
	s.checkLimitHeld(t, st)
	if conc := len(s.workers) * s.cfg.Concurrency; len(st.DuplicateRefs) > conc {
		t.Errorf("%d duplicates, more than the %d tasks the workers can hold", len(st.DuplicateRefs), conc)
	}
	if aof && len(lost) > 0 {
		t.Errorf("with AOF, %d notifications lost", len(lost))
	}
	if aof && outage < asynqLease-asynqHeartbeatPeriod {
		if len(st.DuplicateRefs) > 0 {
			t.Errorf("an outage shorter than asynq's lease delivered %v twice", st.DuplicateRefs)
		}
		// What was left drains at the limit; nothing waits for the recoverer.
		left := n - len(atRestart.PerRef)
		if want := time.Duration(float64(left)/relRate()*float64(time.Second)) + 15*time.Second; recovered > want {
			t.Errorf("the last delivery came %.1fs after Redis was back; %d left at the limit take %.1fs: some task waited for asynq's recoverer",
				recovered.Seconds(), left, want.Seconds()-15)
		}
	}
}
