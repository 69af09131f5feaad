package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// TestReliability_LeadSquaredFaults drains campaigns while LeadSquared (the
// sandbox) misbehaves: 30% of answers 500, bursts of 429, slow answers and
// calls never answered, and an outage. Every valid notification must be
// delivered, only real 400s archived, retries spaced as configured, and the
// cool-down after a 429 honoured by every process.
func TestReliability_LeadSquaredFaults(t *testing.T) {
	t.Parallel()
	runTogether(t, scenario{"ServerErrors", testServerErrors}, scenario{"RateLimitBurst", testRateLimitBurst},
		scenario{"SlowAndUnanswered", testSlowAndUnanswered}, scenario{"Outage", testLeadSquaredOutage})
}

// testServerErrors: 30% of calls answered 500 for the whole drain, a
// transactional ref answered 500 three times, and two refs answered 400.
func testServerErrors(t *testing.T) {
	n := 150
	if longRun() {
		n = 1000
	}
	bad := []string{"errs-17", "errs-101"}
	const flaky = "errs-flaky"
	args := []string{"--error-rate", "0.3", "--script", flaky + ":3:500"}
	for _, r := range bad {
		args = append(args, "--script", r+":1:400")
	}
	s := startStack(t, stackConfig{SandboxArgs: args})
	refs := s.campaign(t, "errs", n)
	// The transactional lane, so that its retries do not queue behind the
	// campaign: their spacing is the backoff's.
	if _, err := s.enq.SendSystem(context.Background(), leadsquared.SystemNotification{Type: "Task",
		CardContents: leadsquared.CardContents{Message: "flaky"}, ToUser: guid(7)}, enqueue.WithRef(flaky)); err != nil {
		t.Fatal(err)
	}
	var valid []string
	for _, r := range append(refs, flaky) {
		if !slices.Contains(bad, r) {
			valid = append(valid, r)
		}
	}
	start := time.Now()
	st := s.waitDelivered(t, valid, 4*time.Minute)
	drain := time.Since(start)

	calls := s.calls(t)
	var flakyAt []time.Time
	for _, c := range calls {
		if c.Ref == flaky {
			flakyAt = append(flakyAt, c.Time)
		}
	}
	var gaps []string
	for i := 1; i < len(flakyAt) && i <= 3; i++ {
		gap := flakyAt[i].Sub(flakyAt[i-1])
		want := time.Second << (i - 1)
		gaps = append(gaps, gap.Round(time.Millisecond).String())
		// Never before the backoff's minimum (-30%): worker.Backoff rounds
		// the due time up to the whole second asynq keeps, so this holds
		// however loaded the machine. How late a retry may come is the
		// schedule's upper bound (worker's TestBackoff_Delay) plus the
		// rounding, the forwarder and a free worker, which a loaded machine
		// stretches: here the retries only have to come, before
		// waitDelivered's deadline above.
		if lo := want * 7 / 10; gap < lo {
			t.Errorf("retry %d of %s came %s after the previous call; want at least %s (%s -30%%)", i, flaky, gap, lo, want)
		}
	}
	if len(flakyAt) < 4 {
		t.Errorf("%s: %d calls, want at least 4 (3 × 500, then a success)", flaky, len(flakyAt))
	}
	dead := s.waitDead(t, len(bad), 10*time.Second)
	t.Logf("%d notifications + 1 transactional, 30%% answered 500: all %d valid delivered in %.1fs; calls %d (%d × 500), dead letters %v, duplicates %d, max in window %d, 429s %d; %s's retry gaps %v",
		n, len(valid), drain.Seconds(), st.Total, st.ByStatus[500], dead, len(st.DuplicateRefs), st.MaxInWindow, st.RateLimited, flaky, gaps)
	if want := slices.Sorted(slices.Values(bad)); !slices.Equal(dead, want) {
		t.Errorf("dead letters %v, want exactly the 400s %v", dead, want)
	}
	for _, r := range bad {
		if got := countCalls(calls, r); got != 1 {
			t.Errorf("400 ref %s: %d calls, want 1", r, got)
		}
	}
	if len(st.DuplicateRefs) > 0 {
		t.Errorf("delivered more than once: %v", st.DuplicateRefs)
	}
	s.checkLimitHeld(t, st)
}

// testRateLimitBurst: while three processes drain, LeadSquared answers the
// next 6 calls with 429 and Retry-After: 2 s, whatever the window holds.
func testRateLimitBurst(t *testing.T) {
	n, burst := 200, 6
	if longRun() {
		n, burst = 800, 20
	}
	const retryAfter = 2 * time.Second
	s := startStack(t, stackConfig{Workers: 3})
	refs := s.campaign(t, "burst", n)
	s.waitCount(t, n/5, time.Minute)
	s.setFaults(t, fmt.Sprintf(`{"Burst429":%d,"RetryAfter":%q}`, burst, retryAfter))
	st := s.waitDelivered(t, refs, 3*time.Minute)
	calls := s.calls(t)

	// After a 429 at T, the process that got it starts the cool-down
	// (max(window, Retry-After) = 2 s) in Redis within a millisecond or
	// two; only calls whose slot was claimed before that may still arrive.
	const inFlight = 100 * time.Millisecond
	cool := max(relWindow, retryAfter)
	var limited []relCall
	var graced, violations int
	var silences []time.Duration
	for _, c := range calls {
		if c.Status == 429 {
			limited = append(limited, c)
		}
	}
	for _, r := range limited {
		next := time.Duration(-1)
		for _, c := range calls {
			d := c.Time.Sub(r.Time)
			if c.Seq == r.Seq || d < 0 {
				continue
			}
			if d <= inFlight {
				graced++
				continue
			}
			if next < 0 || d < next {
				next = d
			}
			if d < cool {
				violations++
				t.Errorf("a call (ref %s, status %d) arrived %s after a 429, within the %s cool-down", c.Ref, c.Status, d.Round(time.Millisecond), cool)
			}
		}
		if next >= 0 {
			silences = append(silences, next.Round(time.Millisecond))
		}
	}
	var notBurst int
	for _, c := range limited {
		if c.Fault != "burst429" {
			notBurst++
		}
	}
	t.Logf("%d notifications, 3 processes, a burst of %d × 429 with Retry-After %s: all delivered; 429s %d (%d not from the burst), calls arriving after each 429 (beyond %s in flight): %v; in-flight calls %d; duplicates %d; max in window %d",
		n, burst, retryAfter, len(limited), notBurst, inFlight, silences, graced, len(st.DuplicateRefs), st.MaxInWindow)
	if len(limited) != burst || notBurst != 0 {
		t.Errorf("%d answers 429 (%d beyond the injected burst), want exactly the %d injected", len(limited), notBurst, burst)
	}
	if st.MaxInWindow > relLimit {
		t.Errorf("max %d calls in a window, limit %d", st.MaxInWindow, relLimit)
	}
	if len(st.DuplicateRefs) > 0 {
		t.Errorf("delivered more than once: %v", st.DuplicateRefs)
	}
	// A 429 is deferred, not failed: it spends no retry (and nothing else
	// failed in this drain).
	for _, r := range refs {
		info, err := s.insp.GetTaskInfo(string(tasks.LaneBulk), tasks.TaskID(tasks.DefaultAccount, r))
		if err != nil {
			t.Errorf("task of %s: %v", r, err)
		} else if info.Retried != 0 {
			t.Errorf("%s spent %d retries; a 429 must spend none", r, info.Retried)
		}
	}
	if dead := s.deadRefs(t); len(dead) > 0 {
		t.Errorf("dead letters %v, want none", dead)
	}
}

// testSlowAndUnanswered: 20% of calls answered after 3 s, 3% never answered
// (delivered, then held until the client gives up: 10 s, leadsquared's
// default timeout).
func testSlowAndUnanswered(t *testing.T) {
	n := 150
	if longRun() {
		n = 600
	}
	s := startStack(t, stackConfig{SandboxArgs: []string{"--slow-rate", "0.2", "--slow-delay", "3s", "--timeout-rate", "0.03"}})
	refs := s.campaign(t, "slow", n)
	start := time.Now()
	st := s.waitDelivered(t, refs, 3*time.Minute)
	drain := time.Since(start)
	// A held call is recorded when its client leaves.
	testutil.Eventually(t, 15*time.Second, func() bool { return s.stats(t).Held == 0 }, "calls still held")
	st = s.stats(t)
	calls := s.calls(t)
	held := map[string]bool{}
	var slow int
	var holds []time.Duration
	for _, c := range calls {
		switch c.Fault {
		case "timeout":
			held[c.Ref] = true
			holds = append(holds, c.Latency.Round(10*time.Millisecond))
			if c.Latency < 9*time.Second || c.Latency > 12*time.Second || !c.Abandoned {
				t.Errorf("unanswered call of %s: the client left after %s (abandoned %v), want ~10s, leadsquared's default timeout", c.Ref, c.Latency, c.Abandoned)
			}
		case "slow":
			slow++
		}
	}
	t.Logf("%d notifications, %d answered after 3 s, %d never answered (client gave up after %v): all delivered in %.1fs; duplicates %d %v; max in window %d; 429s %d",
		n, slow, len(held), holds, drain.Seconds(), len(st.DuplicateRefs), st.DuplicateRefs, st.MaxInWindow, st.RateLimited)
	// An unanswered call was delivered; its retry delivers it again: at
	// least once. Nothing else may be duplicated.
	for _, r := range st.DuplicateRefs {
		if !held[r] {
			t.Errorf("%s delivered %d times without an unanswered call", r, st.PerRef[r])
		}
	}
	s.checkLimitHeld(t, st)
	if dead := s.deadRefs(t); len(dead) > 0 {
		t.Errorf("dead letters %v, want none", dead)
	}
}

// testLeadSquaredOutage: every call answered 503 (an HTML page, as from a
// load balancer) for 10 s, 60 s in the long variant, in the middle of a drain.
func testLeadSquaredOutage(t *testing.T) {
	n, outage := 300, 10*time.Second
	if longRun() {
		n, outage = 1500, time.Minute
	}
	s := startStack(t, stackConfig{})
	refs := s.campaign(t, "lsqout", n)
	s.waitCount(t, n/6, time.Minute)
	s.setFaults(t, `{"Outage":true}`)
	time.Sleep(outage)
	s.setFaults(t, `{}`)
	over := time.Now()
	st := s.waitDelivered(t, refs, outage+3*time.Minute)
	// The spent retries: the most any task needed.
	maxRetried := 0
	for _, r := range refs {
		if info, err := s.insp.GetTaskInfo(string(tasks.LaneBulk), tasks.TaskID(tasks.DefaultAccount, r)); err == nil {
			maxRetried = max(maxRetried, info.Retried)
		}
	}
	t.Logf("%d notifications, LeadSquared down %s: all delivered, the last %.1fs after it came back; %d × 503; a task spent at most %d of its %d retries; duplicates %d; max in window %d; 429s %d",
		n, outage, st.LastAccepted.Sub(over).Seconds(), st.ByStatus[503], maxRetried, tasks.DefaultMaxRetry, len(st.DuplicateRefs), st.MaxInWindow, st.RateLimited)
	s.checkLimitHeld(t, st)
	if len(st.DuplicateRefs) > 0 {
		t.Errorf("delivered more than once: %v", st.DuplicateRefs)
	}
	if dead := s.deadRefs(t); len(dead) > 0 {
		t.Errorf("dead letters %v, want none", dead)
	}
}

// TestReliability_CredentialsFault starts notifyd with a secret key the
// sandbox refuses (401), then restarts the sandbox with that key, as when an
// operator fixes the keys at LeadSquared. Dispatch must halt, archive nothing,
// and resume by itself at the next probe (every 30 s, not configurable from
// the environment). Long only: the quick, in-process variant is
// worker.TestServer_CredentialsFaultHaltsThenResumes.
func TestReliability_CredentialsFault(t *testing.T) {
	if !longRun() {
		t.Skip("waits for notifyd's 30 s probe: set LSQD_LONG=1 (the in-process variant is worker.TestServer_CredentialsFaultHaltsThenResumes)")
	}
	t.Parallel()
	const wrong = "e2e-reliability-rotated-secret-5e2a"
	s := startStack(t, stackConfig{Secret: wrong})
	refs := s.campaign(t, "creds", 50)
	for i, w := range s.workers {
		testutil.Eventually(t, 10*time.Second, func() bool { return w.readyz() == 503 }, "notifyd %d ready with refused keys", i)
	}
	time.Sleep(5 * time.Second)
	st := s.stats(t)
	if len(st.PerRef) != 0 || st.ByStatus[401] == 0 {
		t.Fatalf("with refused keys: %d delivered, %d × 401; want none delivered and some 401s", len(st.PerRef), st.ByStatus[401])
	}
	refused := st.ByStatus[401]

	// The keys start working: the sandbox now accepts notifyd's secret.
	if code := s.sandbox.terminate(t, 10*time.Second); code != 0 {
		t.Fatalf("lsq-sandbox exit %d", code)
	}
	s.startSandbox(t, relAccess, wrong)
	fixed := time.Now()
	st = s.waitDelivered(t, refs, 2*time.Minute+30*time.Second)
	resumed := st.FirstAccepted.Sub(fixed)
	for i, w := range s.workers {
		testutil.Eventually(t, 35*time.Second, func() bool { return w.readyz() == 200 }, "notifyd %d not ready after the keys were fixed", i)
	}
	dead := s.deadRefs(t)
	t.Logf("keys refused: %d × 401 before the fix, nothing delivered; fixed at LeadSquared: first delivery %.1fs later, all %d delivered %.1fs later; dead letters %d; duplicates %d; max in window %d; 429s %d",
		refused, resumed.Seconds(), len(refs), st.LastAccepted.Sub(fixed).Seconds(), len(dead), len(st.DuplicateRefs), st.MaxInWindow, st.RateLimited)
	if len(dead) > 0 {
		t.Errorf("a credentials fault archived %v", dead)
	}
	// The probe runs every 30 s; deferred tasks wait one probe interval.
	if resumed > 65*time.Second {
		t.Errorf("dispatch resumed %.1fs after the keys were fixed, want within two probe intervals (60 s)", resumed.Seconds())
	}
	s.checkLimitHeld(t, st)
	if strings.Contains(s.workers[0].out.String(), wrong) {
		t.Errorf("notifyd's log holds the secret key")
	}
}
