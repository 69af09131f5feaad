package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// The scheduling tests drive the dispatch scheduler (worker/dispatch.go)
// the way users shape work: accounts and campaigns enqueued one after
// another, stops and restarts in the middle of a drain, plans other than
// Enterprise, a long cool-down. Each runs real processes: a private
// redis-server, lsq-sandbox (which accepts any keys, each key with its own
// limit) and notifyd, at LeadSquared's own 25 per 5 s unless it says.

// schedStack is a redis-server, an lsq-sandbox that takes any keys, and
// notifyd processes configured with accounts "default" (keys a-…) and "b"
// (keys b-…), both at rate.
type schedStack struct {
	redis   *testutil.Redis
	sbURL   string
	env     []string
	workers []*notifyd
	enq     *enqueue.Client
	insp    *asynq.Inspector
}

// startSchedStack starts a stack whose sandbox allows limit calls per
// window to each key; notifyd gets no process until startNotifyd.
func startSchedStack(t *testing.T, limit int, window time.Duration, sandboxArgs ...string) *schedStack {
	t.Helper()
	s := &schedStack{redis: testutil.StartRedis(t)}
	sbAddr := addr(t)
	s.sbURL = "http://" + sbAddr
	startProc(t, "lsq-sandbox", nil, append([]string{"--addr", sbAddr, "--limit", strconv.Itoa(limit),
		"--window", window.String(), "--seed", "3"}, sandboxArgs...)...)
	waitHTTP(t, s.sbURL+"/_sandbox/stats")
	rate := strconv.Itoa(limit) + "/" + window.String()
	accounts := filepath.Join(t.TempDir(), "accounts.yaml")
	yaml := "accounts:\n  b:\n    base_url: " + s.sbURL + "\n    access_key_env: B_ACCESS\n    secret_key_env: B_SECRET\n    rate_limit: " + rate + "\n"
	if err := os.WriteFile(accounts, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"REDIS_URL=" + s.redis.URL, "LSQ_ACCESS_KEY=a-sched-access", "LSQ_SECRET_KEY=a-sched-secret",
		"B_ACCESS=b-sched-access", "B_SECRET=b-sched-secret", "LSQ_ACCOUNTS_FILE=" + accounts,
		"LSQ_API_BASE_URL=" + s.sbURL, "LSQ_RATE_LIMIT=" + rate, "LOG_LEVEL=warn", "NOTIFYD_SHUTDOWN_TIMEOUT=15s"}
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.enq, err = enqueue.New(ctx, s.redis.URL); err != nil {
		t.Fatal(err)
	}
	s.insp = asynq.NewInspector(asynq.RedisClientOpt{Addr: s.redis.Addr})
	t.Cleanup(func() { _ = s.enq.Close(); _ = s.insp.Close() })
	return s
}

func (s *schedStack) startNotifyd(t *testing.T, concurrency int) *notifyd {
	t.Helper()
	httpAddr := addr(t)
	env := append(slices.Clone(s.env), "NOTIFYD_HTTP_ADDR="+httpAddr, "NOTIFYD_CONCURRENCY="+strconv.Itoa(concurrency))
	n := &notifyd{proc: startProc(t, "notifyd", env), http: "http://" + httpAddr}
	waitHTTP(t, n.http+"/healthz")
	s.workers = append(s.workers, n)
	return n
}

// campaign enqueues n bulk lines of the account with refs prefix-0 …; it
// returns when they are enqueued.
func (s *schedStack) campaign(t *testing.T, account, name, prefix string, n int) time.Time {
	t.Helper()
	lines, _ := campaignLines(prefix, n)
	if account != "" {
		lines = bytes.ReplaceAll(lines, []byte(`{"type"`), []byte(`{"account":"`+account+`","type"`))
	}
	rep, err := s.enq.Campaign(context.Background(), bytes.NewReader(lines), enqueue.CampaignOptions{Name: name, TempDir: t.TempDir()})
	if err != nil || rep.Enqueued != n {
		t.Fatalf("campaign %s: enqueued %d of %d: %v", name, rep.Enqueued, n, err)
	}
	return time.Now()
}

func (s *schedStack) calls(t *testing.T) []relCall { t.Helper(); return readSandboxCalls(t, s.sbURL) }

func (s *schedStack) stats(t *testing.T) relStats { t.Helper(); return readSandboxStats(t, s.sbURL) }

// waitRefs waits until n distinct refs with the prefix were delivered.
func (s *schedStack) waitRefs(t *testing.T, prefix string, n int, timeout time.Duration) {
	t.Helper()
	testutil.Eventually(t, timeout, func() bool {
		got := 0
		for ref := range s.stats(t).PerRef {
			if strings.HasPrefix(ref, prefix) {
				got++
			}
		}
		return got >= n
	}, "%d deliveries of %s*", n, prefix)
}

// accepted returns the accepted calls whose ref has the prefix, in order.
func accepted(calls []relCall, prefix string) []relCall {
	var out []relCall
	for _, c := range calls {
		if c.Accepted && strings.HasPrefix(c.Ref, prefix) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b relCall) int { return a.Time.Compare(b.Time) })
	return out
}

// between counts the calls in [from, to].
func between(calls []relCall, from, to time.Time) int {
	n := 0
	for _, c := range calls {
		if !c.Time.Before(from) && !c.Time.After(to) {
			n++
		}
	}
	return n
}

// maxGap is the longest time between two consecutive calls.
func maxGap(calls []relCall) (time.Duration, time.Time) {
	var gap time.Duration
	var at time.Time
	for i := 1; i < len(calls); i++ {
		if d := calls[i].Time.Sub(calls[i-1].Time); d > gap {
			gap, at = d, calls[i-1].Time
		}
	}
	return gap, at
}

// used is the share of the limit the calls used from the first to the
// last: the calls made after the first, over those the pace allows.
func used(calls []relCall, pace time.Duration) float64 {
	if len(calls) < 2 {
		return 0
	}
	span := calls[len(calls)-1].Time.Sub(calls[0].Time)
	return float64(len(calls)-1) * pace.Seconds() / span.Seconds()
}

// pace25 is notifyd's pace at 25 per 5 s with its default 100 ms margin.
const pace25 = 5100 * time.Millisecond / 25

// TestScheduling_LaterWorkIsNotBehindEarlierWork: an account's backlog
// holds no other account back, and a campaign holds no later campaign of
// the same account back (issue 12's first two rows).
func TestScheduling_LaterWorkIsNotBehindEarlierWork(t *testing.T) {
	t.Parallel()
	runTogether(t,
		scenario{"AnotherAccount", func(t *testing.T) {
			s := startSchedStack(t, 25, 5*time.Second)
			s.startNotifyd(t, 10)
			s.campaign(t, "", "a-backlog", "A", 150)
			time.Sleep(3 * time.Second)
			bAt := s.campaign(t, "b", "b-news", "B", 20)
			s.waitRefs(t, "B-", 20, 30*time.Second)
			calls := s.calls(t)
			b, a := accepted(calls, "B-"), accepted(calls, "A-")
			first, last := b[0].Time.Sub(bAt), b[len(b)-1].Time.Sub(bAt)
			share := float64(between(a, bAt, b[len(b)-1].Time)) * pace25.Seconds() / last.Seconds()
			t.Logf("B's first call %.2fs after its enqueue, all 20 after %.2fs; A meanwhile at %.2f of its limit", first.Seconds(), last.Seconds(), share)
			if first > 3*time.Second || last > 8*time.Second || share < 0.85 {
				t.Errorf("B first %.2fs (want ≤ 3), all %.2fs (want ≤ 8), A %.2f of its limit (want ≥ 0.85)", first.Seconds(), last.Seconds(), share)
			}
			if st := s.stats(t); st.RateLimited != 0 || st.MaxInWindow > 25 {
				t.Errorf("429s %d, max %d in a window (limit 25 per key)", st.RateLimited, st.MaxInWindow)
			}
		}},
		scenario{"AnotherCampaign", func(t *testing.T) {
			s := startSchedStack(t, 25, 5*time.Second)
			s.startNotifyd(t, 10)
			s.campaign(t, "", "x", "X", 150)
			time.Sleep(3 * time.Second)
			yAt := s.campaign(t, "", "y", "Y", 20)
			s.waitRefs(t, "Y-", 20, 30*time.Second)
			calls := s.calls(t)
			y, x := accepted(calls, "Y-"), accepted(calls, "X-")
			first, last := y[0].Time.Sub(yAt), y[len(y)-1].Time.Sub(yAt)
			nx := between(x, y[0].Time, y[len(y)-1].Time)
			share := float64(nx) / float64(nx+len(y))
			t.Logf("Y's first call %.2fs after its enqueue, done after %.2fs; X had %.0f%% of the calls meanwhile", first.Seconds(), last.Seconds(), 100*share)
			if first > 3*time.Second || last > 12*time.Second || share < 0.35 {
				t.Errorf("Y first %.2fs (want ≤ 3), done %.2fs (want ≤ 12), X %.0f%% of the calls (want ≥ 35%%)", first.Seconds(), last.Seconds(), 100*share)
			}
			if st := s.stats(t); st.RateLimited != 0 || st.MaxInWindow > 25 {
				t.Errorf("429s %d, max %d in a window", st.RateLimited, st.MaxInWindow)
			}
		}},
	)
}

// TestScheduling_StopsWasteNoBudget: a SIGTERM and a restart of one of three
// processes in the middle of a drain leave no hole in the limit, at the
// Lite plan (2 calls per window) and at Enterprise's 25 (rolling, every
// process in turn); a clean stop sends nothing twice.
func TestScheduling_StopsWasteNoBudget(t *testing.T) {
	t.Parallel()
	runTogether(t,
		scenario{"LiteStopAndRestart", func(t *testing.T) {
			// Lite scaled to a 2 s window: 2 per 2.1 s, a 1.05 s pace.
			const window, pace = 2 * time.Second, 1050 * time.Millisecond
			s := startSchedStack(t, 2, window)
			for range 3 {
				s.startNotifyd(t, 8)
			}
			s.campaign(t, "", "lite", "L", 24)
			time.Sleep(8 * time.Second)
			if code := s.workers[0].terminate(t, 15*time.Second); code != 0 {
				t.Errorf("notifyd exit %d after SIGTERM, want 0", code)
			}
			time.Sleep(3 * time.Second)
			s.startNotifyd(t, 8)
			s.waitRefs(t, "L-", 24, 90*time.Second)
			l := accepted(s.calls(t), "L-")
			gap, at := maxGap(l)
			u := used(l, pace)
			t.Logf("24 at 2 per %s: %.3f of the limit used, longest gap %s (at %s; pace %s)", window, u, gap.Round(time.Millisecond), at.Format("15:04:05.000"), pace)
			// 2 paces, and 100 ms for the timers of 3 processes and the sandbox.
			if u < 0.90 || gap > 2*pace+100*time.Millisecond {
				t.Errorf("used %.3f (want ≥ 0.90), longest gap %s (want ≤ 2 paces, %s)", u, gap, 2*pace)
			}
			checkOnce(t, s.stats(t), 24, 2)
		}},
		scenario{"RollingStops", func(t *testing.T) {
			s := startSchedStack(t, 25, 5*time.Second)
			for range 3 {
				s.startNotifyd(t, 8)
			}
			const n = 150
			s.campaign(t, "", "rolling", "R", n)
			for i := range 3 {
				time.Sleep(5 * time.Second)
				if code := s.workers[i].terminate(t, 15*time.Second); code != 0 {
					t.Errorf("notifyd %d exit %d after SIGTERM, want 0", i, code)
				}
				s.startNotifyd(t, 8)
			}
			s.waitRefs(t, "R-", n, 2*time.Minute)
			r := accepted(s.calls(t), "R-")
			gap, _ := maxGap(r)
			u := used(r, pace25)
			t.Logf("%d at 25 per 5 s through a rolling restart of 3 processes: %.3f of the limit used, longest gap %s", n, u, gap.Round(time.Millisecond))
			if u < 0.97 {
				t.Errorf("used %.3f of the limit, want ≥ 0.97", u)
			}
			checkOnce(t, s.stats(t), n, 25)
		}},
	)
}

// checkOnce fails when a ref was delivered twice, the sandbox answered the
// rate limit, or a window held more than limit calls.
func checkOnce(t *testing.T, st relStats, n, limit int) {
	t.Helper()
	if len(st.DuplicateRefs) > 0 || st.RateLimited > 0 || st.MaxInWindow > limit {
		t.Errorf("of %d: duplicates %v, 429s %d, max %d in a window (limit %d)", n, st.DuplicateRefs, st.RateLimited, st.MaxInWindow, limit)
	}
}

// TestScheduling_LongCoolDownFreesTheWorkers: LeadSquared answers an
// account's call with a 429 and a Retry-After of an hour while 1,000 of its
// notifications are queued: none is archived or spends a retry, and the
// workers serve another account at its full rate meanwhile.
func TestScheduling_LongCoolDownFreesTheWorkers(t *testing.T) {
	t.Parallel()
	s := startSchedStack(t, 25, 5*time.Second)
	s.startNotifyd(t, 10)
	// After notifyd's key checks (one per account), so that the 429 meets a
	// notification.
	testutil.Eventually(t, 10*time.Second, func() bool { return s.stats(t).Total >= 2 }, "notifyd's key checks")
	(&stack{sbURL: s.sbURL}).setFaults(t, `{"Burst429":1,"RetryAfter":"1h"}`)
	s.campaign(t, "", "cool", "C", 1000)
	testutil.Eventually(t, 20*time.Second, func() bool { return s.stats(t).RateLimited == 1 }, "the 429")
	bAt := s.campaign(t, "b", "other", "B", 30)
	s.waitRefs(t, "B-", 30, 30*time.Second)
	b := accepted(s.calls(t), "B-")
	took := b[len(b)-1].Time.Sub(bAt)
	t.Logf("during account default's 1 h cool-down, account b's 30 took %.2fs (%.2f of its limit)", took.Seconds(), float64(len(b)-1)*pace25.Seconds()/took.Seconds())
	if took > 30*pace25+3*time.Second {
		t.Errorf("b's 30 took %s, want about %s: the cooling account holds the workers", took, 30*pace25)
	}
	if n := len(accepted(s.calls(t), "C-")); n != 0 {
		for _, c := range s.calls(t)[:12] {
			t.Logf("%s %s %d %v", c.Time.Format("15:04:05.000"), c.Ref, c.Status, c.Accepted)
		}
		t.Errorf("%d calls for the cooling account", n)
	}
	q := string(tasks.LaneBulk)
	archived, _ := s.insp.ListArchivedTasks(q, asynq.PageSize(1000))
	retry, _ := s.insp.ListRetryTasks(q, asynq.PageSize(1000))
	spent := 0
	for _, r := range retry {
		if r.Retried > 0 {
			spent++
		}
	}
	info, err := s.insp.GetQueueInfo(q)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bulk queue: %d waiting in their group, %d pending, %d handed back (retry set), %d archived, %d with a retry spent",
		info.Aggregating, info.Pending, info.Retry, len(archived), spent)
	if len(archived) != 0 || spent != 0 {
		t.Errorf("%d archived and %d retries spent during a cool-down, want 0 and 0", len(archived), spent)
	}
	if info.Aggregating < 990 {
		t.Errorf("%d of the cooling account's 1,000 still in their group; the scheduler should hold them there", info.Aggregating)
	}
}

// TestScheduling_ExpiredIsNeverSent: a 40-line campaign that expires in 3 s
// at 25 per 5 s: what is not called by then is recorded expired and never
// called (issue 13's expiry).
func TestScheduling_ExpiredIsNeverSent(t *testing.T) {
	t.Parallel()
	s := startSchedStack(t, 25, 5*time.Second)
	s.startNotifyd(t, 10)
	lines, refs := campaignLines("E", 40)
	file := filepath.Join(t.TempDir(), "expiring.jsonl")
	if err := os.WriteFile(file, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, out := runCtl(t, s.redis.URL, "campaign", file, "--name", "reminders", "--expires-in", "3s"); code != 0 {
		t.Fatalf("notifyctl campaign: exit %d\n%s", code, out)
	}
	var delivered, expired int
	testutil.Eventually(t, 30*time.Second, func() bool {
		delivered, expired = 0, 0
		for _, r := range refs {
			st, err := s.enq.Status(context.Background(), tasks.DefaultAccount, r)
			switch {
			case err != nil:
			case st.State == enqueue.StateExpired:
				expired++
			case st.State == "completed":
				delivered++
			}
		}
		return delivered+expired == len(refs)
	}, "every line delivered or expired")
	calls := s.calls(t)
	late := 0
	for _, c := range accepted(calls, "E-") {
		if c.Time.After(start.Add(3*time.Second + 200*time.Millisecond)) {
			late++
		}
	}
	sent := len(s.stats(t).PerRef)
	t.Logf("40 lines expiring in 3 s: %d delivered, %d expired; %d refs called, %d calls after the expiry", delivered, expired, sent, late)
	if delivered != sent || expired == 0 || late > 0 {
		t.Errorf("delivered %d, expired %d, refs called %d, calls after the expiry %d: want the expired never called", delivered, expired, sent, late)
	}
	code, out := runCtl(t, s.redis.URL, "status", refs[39])
	if code != 0 || !strings.Contains(out, "expired") {
		t.Errorf("notifyctl status of an expired line: exit %d\n%s", code, out)
	}
	var info enqueue.CampaignInfo
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, out := runCtl(t, s.redis.URL, "campaign", "status", "reminders", "--json")
		info = enqueue.CampaignInfo{}
		_ = json.Unmarshal([]byte(out), &info)
		return info.State == enqueue.CampaignDone
	}, "the campaign done")
	if info.Counts.Delivered != delivered || info.Counts.Expired != expired || info.Counts.Total != 40 {
		t.Errorf("campaign status %+v, want %d delivered and %d expired of 40", info.Counts, delivered, expired)
	}
	s.checkDeliveredEvents(t, "reminders", s.stats(t).PerRef)
}
