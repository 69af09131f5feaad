package redisconn_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/sandbox"
	"github.com/lsqdispatch/lsqdispatch/internal/testutil"
)

// A campaign drains through redis-sentinel:// while the master fails over:
// nothing is lost and the limit holds. Graceful: SENTINEL FAILOVER, as in
// maintenance. Crash: the master is killed (SIGKILL) and the Sentinels
// elect a new one (down-after 1 s); LSQD_LONG=1 runs it too.
func TestSentinel_FailoverMidDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("a Sentinel deployment and a failover: about 15 s")
	}
	t.Parallel()
	for _, tc := range []struct {
		name string
		long bool
		fail func(t *testing.T, s *testutil.Sentinel) time.Duration
	}{
		{"Graceful", false, func(t *testing.T, s *testutil.Sentinel) time.Duration { return s.Failover(t) }},
		{"Crash", true, func(t *testing.T, s *testutil.Sentinel) time.Duration {
			before, _ := s.MasterAddr()
			start := time.Now()
			s.Master.Kill()
			s.WaitNewMaster(t, before, 30*time.Second)
			return time.Since(start)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.long && os.Getenv("LSQD_LONG") == "" {
				t.Skip("set LSQD_LONG=1")
			}
			t.Parallel()
			s := testutil.StartSentinel(t, testutil.SentinelOptions{})
			b := setupDrain(t, s.URL)
			b.startWorker(t, 4)
			b.startWorker(t, 4)
			const n = 80 // 8 s at 10 per s
			b.campaign(t, "sentinel", n)
			b.waitDelivered(t, 25, 20*time.Second)
			before, _ := s.MasterAddr()
			at := time.Now()
			took := tc.fail(t, s)
			after, _ := s.MasterAddr()
			t.Logf("failover %s -> %s took %s", before, after, took.Round(time.Millisecond))
			st := b.waitDelivered(t, n, 60*time.Second)
			report(t, b.sandbox, n, at)
			checkLimit(t, st)
		})
	}
}

// report logs the drain's figures: deliveries, duplicates (with when they
// were delivered, from the failover) and the longest pause between two
// accepted calls (the failover's cost).
func report(t *testing.T, sb *sandbox.Server, n int, failover time.Time) {
	t.Helper()
	st := sb.Stats()
	var times []time.Time
	at := map[string][]string{}
	for _, c := range sb.Calls() {
		if c.Accepted {
			times = append(times, c.Time)
			at[c.Ref] = append(at[c.Ref], fmt.Sprintf("%+.1fs", c.Time.Sub(failover).Seconds()))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		gap = max(gap, times[i].Sub(times[i-1]))
	}
	var dups []string
	for _, ref := range st.DuplicateRefs {
		dups = append(dups, ref+" "+strings.Join(at[ref], ","))
	}
	t.Logf("%d of %d refs delivered in %d calls; duplicates (delivery times from the failover): %v; rate-limited %d; max %d in a window (limit %d); longest pause %s; drain %s",
		len(st.PerRef), n, st.Total, dups, st.RateLimited, st.MaxInWindow, drainLimit,
		gap.Round(time.Millisecond), times[len(times)-1].Sub(times[0]).Round(time.Millisecond))
}
